// ignis server: `ignis serve`'s HTTP application: routing, API keys, access log,
// the OpenAI / Triton / operations endpoints, the document endpoints, the embedded chat page, and a
// graceful shutdown (stop accepting, let in-flight requests finish, then cancel).
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/documents.h"
#include "server/embedding_batcher.h"
#include "server/embeddings.h"
#include "server/http.h"
#include "server/metrics.h"

namespace ignis::server {

class ConstraintCompiler;

struct ServerOptions {
  HttpServerOptions http;
  std::vector<std::string> api_keys;  // empty = no authentication
  bool access_log = true;
  bool speculative_default = true;  // requests without "speculative" speculate (when the engine does)
  SpecConfig spec;                  // the engine's speculative decoding (per-request lookahead fields are checked against it)
  EmbeddingModel embeddings;        // --embedding-model: served by /v1/embeddings, listed by /v1/models
  EmbeddingBatcherOptions embedding_batching;  // how /v1/embeddings requests share encoder calls
  std::shared_ptr<Documents> documents;  // --docs: /v1/documents and /v1/rag/chat (null = 404)
};

class Server {
 public:
  // render_chat: renders the chat template over a context (empty if the model has none).
  Server(Backend& backend, std::shared_ptr<const Tokenizer> tok, ServedModel model, ServerOptions opts,
         std::function<std::string(const json&)> render_chat);
  ~Server();
  void listen();           // binds; throws Error
  int port() const;        // the bound port (after listen)
  void serve();            // accept loop; returns after request_stop()
  void request_stop();     // async-signal-safe
  // After serve() returned: waits up to `grace` for in-flight requests, then cancels
  // what is left and waits a little more. Returns true if everything finished in time.
  bool drain(std::chrono::milliseconds grace);
  // Routing entry point (public for tests).
  void handle(const HttpRequest& req, HttpResponder& res);
  Metrics& metrics() { return metrics_; }
  const EmbeddingBatcher* embedding_batcher() const { return embedder_.get(); }  // null without an embedding model

 private:
  bool authorized(const HttpRequest& req) const;
  void route(const HttpRequest& req, HttpResponder& res, bool* triton);
  Backend& backend_;
  std::shared_ptr<const Tokenizer> tok_;
  ServedModel model_;
  ServerOptions opts_;
  std::function<std::string(const json&)> render_chat_;
  Metrics metrics_;
  std::atomic<bool> force_stop_{false};
  // Before http_: destroyed after it, so no handler still waits on the batcher.
  std::unique_ptr<EmbeddingBatcher> embedder_;  // null without an embedding model
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<ConstraintCompiler> constraints_;
};

// Constant-time comparison of a presented key against every configured key.
bool api_key_matches(const std::string& presented, const std::vector<std::string>& keys);
// Max nesting depth of JSON arrays/objects in `text` (strings skipped), stopping once above `limit`.
int json_nesting_depth(std::string_view text, int limit);
// The chat page (web/index.html), embedded at build time.
std::string_view web_index_html();

}  // namespace ignis::server
