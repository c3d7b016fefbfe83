// ignis serve: the OpenAI- and Triton-compatible HTTP server.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "documents.h"
#include "embedder.h"
#include "core/error.h"
#include "model_options.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "server/server.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

std::atomic<server::Server*> g_server{nullptr};

extern "C" void on_stop_signal(int) {
  if (auto* s = g_server.load()) s->request_stop();  // async-signal-safe: writes to a pipe
}

// Each connection is a descriptor: raise the soft limit toward the hard one so --max-connections
// can be reached (a warning names the shortfall instead of failing accepts silently).
void raise_open_file_limit(int want) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t need = static_cast<rlim_t>(want);
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = std::min(need, rl.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    std::fprintf(stderr, "warning: open-file limit %llu (hard) is below the %d that --max-connections needs\n",
                 static_cast<unsigned long long>(rl.rlim_max), want);
}

std::vector<std::string> split_keys(const char* env) {
  std::vector<std::string> keys;
  if (!env) return keys;
  std::stringstream ss(env);
  std::string k;
  while (std::getline(ss, k, ','))
    if (!k.empty()) keys.push_back(k);
  return keys;
}

int run_serve(int argc, char** argv) {
  CLI::App app{"OpenAI- and Triton-compatible HTTP server", "ignis serve"};
  ModelFlags mf;
  SpecFlags spf;
  bool spec_default = true;
  std::string host = "127.0.0.1", served_name, embedding_dir, embedding_device = "auto", docs_dir, index_dir;
  double max_document_mb = 16;
  int port = 8000, max_queue = 1024;
  server::HttpServerOptions http;  // admission, timeouts and threads keep their defaults unless set
  double header_timeout = http.header_timeout_ms / 1000.0, keep_alive_timeout = http.keep_alive_timeout_ms / 1000.0;
  size_t max_body_bytes = 8u << 20;
  double shutdown_timeout = 30;
  std::vector<std::string> api_keys;
  bool no_access_log = false;
  mf.add(app);
  spf.add(app);
  app.add_option("--speculative-default", spec_default,
                 "whether requests without a \"speculative\" field speculate (true | false)");
  app.add_option("--host", host, "address to listen on");
  app.add_option("--port", port, "port to listen on (0 = any free port, printed at start)")->check(CLI::Range(0, 65535));
  app.add_option("--api-key", api_keys, "required Bearer token (repeatable; also IGNIS_API_KEY=k1,k2)");
  app.add_option("--served-model-name", served_name, "model name in the API (default: the folder name)");
  app.add_option("--max-queue", max_queue, "waiting requests before answering 429")->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-body-bytes", max_body_bytes, "request body limit (413 above)")->check(CLI::Range(1024, 1 << 30));
  app.add_option("--max-connections", http.max_connections,
                 "open connections; at the limit the oldest idle one is closed, else 503 (raises the open-file limit to fit)")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--max-connections-per-client", http.max_connections_per_client,
                 "open connections per client address (0 = no limit); above it that client's oldest idle one is closed")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  app.add_option("--reserve-connections", http.reserve_connections,
                 "connections accepted beyond the limits for /health and /v2/health/* only")
      ->check(CLI::Range(0, 1 << 16))->capture_default_str();
  app.add_option("--header-timeout", header_timeout, "seconds a connection gets to send a complete request head")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_option("--keep-alive-timeout", keep_alive_timeout, "seconds an idle keep-alive connection is kept")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_option("--io-threads", http.io_threads, "threads owning the sockets (epoll loops)")
      ->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--http-workers", http.worker_threads,
                 "threads running request handlers (streams wait on fibers, not threads; 0 = from the core count)")
      ->check(CLI::Range(0, 256))->capture_default_str();
  app.add_option("--shutdown-timeout", shutdown_timeout, "seconds in-flight requests get to finish on SIGTERM")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--embedding-model", embedding_dir,
                 "sentence-transformers folder served by /v1/embeddings (its folder name is the id)");
  app.add_option("--embedding-device", embedding_device, "where the embedding model runs: auto (GPU if any), cpu, cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  server::EmbeddingBatcherOptions embed_batch;
  app.add_option("--embedding-batch-inputs", embed_batch.max_batch_inputs,
                 "/v1/embeddings inputs per encoder call (waiting requests share a call)")
      ->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--embedding-batch-tokens", embed_batch.max_batch_tokens,
                 "/v1/embeddings tokens per encoder call (a larger request runs alone)")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str();
  app.add_option("--embedding-queue-inputs", embed_batch.max_queued_inputs,
                 "/v1/embeddings inputs allowed to wait; beyond it a request gets 503")
      ->check(CLI::Range(1, 1 << 24))->capture_default_str();
  app.add_option("--docs", docs_dir,
                 "a folder of documents served by /v1/documents and /v1/rag/chat (indexed at start, uploads re-index "
                 "it; dense retrieval with --embedding-model or the model the index was built with, else BM25)");
  app.add_option("--index", index_dir, "the index directory of --docs (default: DOCS/.ignis-index)");
  app.add_option("--max-document-mb", max_document_mb, "largest document POST /v1/documents accepts, in MiB")
      ->check(CLI::Range(0.001, 1024.0))->capture_default_str();
  app.add_flag("--no-access-log", no_access_log, "no per-request log line on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& k : split_keys(std::getenv("IGNIS_API_KEY"))) api_keys.push_back(k);

  namespace fs = std::filesystem;
  fs::path dir = mf.model_dir;
  IGNIS_CHECK(fs::exists(dir / "tokenizer.json"), "{}: no tokenizer.json; the server needs the model's tokenizer", mf.model_dir);
  std::shared_ptr<const Tokenizer> tok = Tokenizer::load(dir);

  // The chat template is parsed once; a model without one serves completions only.
  std::function<std::string(const server::json&)> render_chat;
  std::string tmpl_text = tok->chat_template();
  if (!tmpl_text.empty()) {
    try {
      auto tmpl = std::make_shared<tmpl::Template>(tmpl::Template::parse(tmpl_text));
      render_chat = [tmpl](const server::json& ctx) { return tmpl->render(ctx); };
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: %s: chat template not usable (%s); /v1/chat/completions disabled\n",
                   mf.model_dir.c_str(), e.what());
    }
  } else {
    std::fprintf(stderr, "warning: %s: no chat_template; /v1/chat/completions disabled\n", mf.model_dir.c_str());
  }

  EngineParts ep = load_engine_parts(mf, spf);
  std::string backend_name = ep.model->backend_name();
  int max_pos = ep.model->config().max_position_embeddings;
  int vocab = ep.model->config().vocab_size;
  EngineConfig ec = ep.config;
  ec.max_queue = max_queue;
  Engine engine(std::move(ep.model), ec, tok, std::move(ep.proposer));
  server::EngineBackend backend(engine);

  server::ServedModel model;
  std::string folder = fs::weakly_canonical(dir).filename().string();
  model.name = served_name.empty() ? folder : served_name;
  model.aliases = {"ensemble", "tensorrt_llm", "tensorrt_llm_bls"};
  if (model.name != folder) model.aliases.push_back(folder);
  int cfg_len = engine.config().max_model_len;
  model.max_model_len = cfg_len > 0 ? std::min(cfg_len, max_pos > 0 ? max_pos : cfg_len) : max_pos;
  model.vocab_size = vocab;
  model.eos_ids = model_end_ids(engine.model().config(), *tok);
  model.chat_template = tmpl_text;
  model.created = static_cast<int64_t>(std::time(nullptr));

  server::ServerOptions so;
  http.host = host;
  http.port = port;
  http.limits.max_body_bytes = max_body_bytes;
  http.header_timeout_ms = static_cast<int>(header_timeout * 1000);
  http.keep_alive_timeout_ms = static_cast<int>(keep_alive_timeout * 1000);
  raise_open_file_limit(http.max_connections + http.reserve_connections + 64);
  so.http = http;
  so.api_keys = api_keys;
  so.access_log = !no_access_log;
  so.speculative_default = spec_default;
  so.spec = ec.spec;
  if (!embedding_dir.empty()) {
    so.embeddings.embedder = load_embedder(embedding_dir, embedding_device);
    so.embeddings.name = fs::weakly_canonical(embedding_dir).filename().string();
    so.embeddings.created = model.created;
    so.embedding_batching = embed_batch;
    std::fprintf(stderr, "ignis serve: embedding model '%s' (dimension %d, %d tokens) on /v1/embeddings\n",
                 so.embeddings.name.c_str(), so.embeddings.embedder->dim(), so.embeddings.embedder->max_tokens());
  }
  if (!docs_dir.empty()) {
    DocumentsOptions d;
    d.docs = docs_dir;
    d.index = index_dir;
    d.embedding_model = embedding_dir;
    d.embedding_device = embedding_device;
    d.chat_model_dir = mf.model_dir;
    d.tok = tok;
    d.max_document_bytes = static_cast<uint64_t>(max_document_mb * (1 << 20));
    so.documents = open_documents(d);
    server::json info = so.documents->describe();
    std::fprintf(stderr, "ignis serve: documents in %s: %d files, %d chunks (%s retrieval) on /v1/documents and /v1/rag/chat\n",
                 info["docs"].get<std::string>().c_str(), info["files"].get<int>(), info["chunks"].get<int>(),
                 info["retrieval"].get<std::string>().c_str());
  } else {
    IGNIS_CHECK(index_dir.empty(), "--index needs --docs DIR");
  }
  server::Server srv(backend, tok, model, so, render_chat);
  srv.listen();

  g_server = &srv;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::fprintf(stderr, "ignis serve: model '%s' (%s, context %d) listening on http://%s:%d%s\n", model.name.c_str(),
               backend_name.c_str(), model.max_model_len, host.c_str(), srv.port(),
               api_keys.empty() ? "" : " (API key required)");
  if (ec.spec.method != SpecMethod::None)
    std::fprintf(stderr, "ignis serve: speculative decoding: %s, up to %d tokens, %s policy, requests %s by default\n",
                 spec_method_name(ec.spec.method), spec_max_proposals(ec.spec),
                 ec.spec.policy.adaptive ? "adaptive" : "fixed", spec_default ? "speculate" : "do not speculate");
  std::fflush(stderr);
  srv.serve();
  std::fprintf(stderr, "ignis serve: stopping; waiting up to %.0f s for in-flight requests\n", shutdown_timeout);
  bool clean = srv.drain(std::chrono::milliseconds(static_cast<int64_t>(shutdown_timeout * 1000)));
  if (!clean) std::fprintf(stderr, "ignis serve: shutdown timeout; cancelled the requests still running\n");
  engine.shutdown();
  g_server = nullptr;
  std::fprintf(stderr, "ignis serve: stopped\n");
  return 0;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(serve, "OpenAI- and Triton-compatible HTTP server", ignis::cli::run_serve);
