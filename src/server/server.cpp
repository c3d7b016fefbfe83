// ignis server: routing, authentication, access log, operations endpoints, shutdown.
#include "server/server.h"

#include <fmt/format.h>

#include <cstdio>
#include <thread>

#include "server/constraints.h"
#include "server/handlers.h"
#include "tokenizer/tokenizer.h"

namespace ignis::server {

namespace {

constexpr int kMaxJsonDepth = 128;

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, std::string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

json parse_body(const HttpRequest& req) {
  if (req.body.empty()) throw_api(400, "request body is empty; expected a JSON object");
  if (json_nesting_depth(req.body, kMaxJsonDepth) > kMaxJsonDepth)
    throw_api(400, fmt::format("request JSON is nested deeper than {} levels", kMaxJsonDepth));
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    throw_api(400, std::string("invalid JSON in request body: ") + e.what());
  }
  if (!body.is_object()) throw_api(400, "request body must be a JSON object");
  return body;
}

}  // namespace

bool api_key_matches(const std::string& presented, const std::vector<std::string>& keys) {
  // Every key is compared over max(len) bytes, and no early exit: timing does not
  // reveal which key or how many leading bytes matched.
  unsigned ok = 0;
  for (const auto& k : keys) {
    size_t n = std::max(k.size(), presented.size());
    unsigned diff = static_cast<unsigned>(k.size() ^ presented.size());
    for (size_t i = 0; i < n; i++) {
      unsigned char a = i < k.size() ? static_cast<unsigned char>(k[i]) : 0;
      unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= static_cast<unsigned>(a ^ b);
    }
    ok |= static_cast<unsigned>(diff == 0);
  }
  return ok != 0;
}

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') depth--;
  }
  return max_depth;
}

Server::Server(Backend& backend, std::shared_ptr<const Tokenizer> tok, ServedModel model, ServerOptions opts,
               std::function<std::string(const json&)> render_chat)
    : backend_(backend), tok_(std::move(tok)), model_(std::move(model)), opts_(std::move(opts)), render_chat_(std::move(render_chat)) {
  if (tok_) constraints_ = std::make_unique<ConstraintCompiler>(tok_, model_.eos_ids);
  if (opts_.embeddings.embedder)
    embedder_ = std::make_unique<EmbeddingBatcher>(
        opts_.embeddings.embedder, opts_.embedding_batching,
        [this](size_t inputs, double seconds) { metrics_.record_embedding_call(inputs, seconds); });
  http_ = std::make_unique<HttpServer>(
      opts_.http, [this](const HttpRequest& req, HttpResponder& res) { handle(req, res); },
      [](int status, const std::string& msg) {
        ApiError e;
        e.status = status;
        e.message = msg;
        e.type = error_type_for(status);
        return openai_error_body(e);
      });
}

Server::~Server() = default;

void Server::listen() { http_->listen(); }
int Server::port() const { return http_->port(); }
void Server::serve() { http_->serve(); }
void Server::request_stop() { http_->request_stop(); }

bool Server::drain(std::chrono::milliseconds grace) {
  http_->stop_accepting();
  if (http_->wait_idle(grace)) return true;
  force_stop_ = true;  // waiting streams see it within ~100 ms (drive()) and cancel their requests
  http_->wait_idle(std::chrono::milliseconds(10000));
  return false;
}

bool Server::authorized(const HttpRequest& req) const {
  if (opts_.api_keys.empty()) return true;
  std::string auth = req.header("authorization");
  if (auth.size() < 7 || (auth.compare(0, 7, "Bearer ") != 0 && auth.compare(0, 7, "bearer ") != 0)) return false;
  std::string key = auth.substr(7);
  while (!key.empty() && key.front() == ' ') key.erase(key.begin());
  return api_key_matches(key, opts_.api_keys);
}

void Server::handle(const HttpRequest& req, HttpResponder& res) {
  auto t0 = std::chrono::steady_clock::now();
  bool triton = starts_with(req.path, "/v2/");
  try {
    route(req, res, &triton);
  } catch (const ApiError& e) {
    metrics_.count_request(e.status == 429 ? "queue_full" : e.status == 401 ? "unauthorized" : e.status >= 500 ? "error" : "rejected");
    std::vector<std::pair<std::string, std::string>> headers;
    if (e.status == 429 || e.status == 503) headers.emplace_back("Retry-After", "1");
    if (e.status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
    if (!res.sent()) res.send(e.status, "application/json", triton ? triton_error_body(e.message) : openai_error_body(e), headers);
  } catch (const Error& e) {  // e.g. tokenizer failures on odd input
    metrics_.count_request("rejected");
    ApiError a{400, e.what(), "invalid_request_error", "", ""};
    if (!res.sent()) res.send(400, "application/json", triton ? triton_error_body(a.message) : openai_error_body(a));
  } catch (const std::exception& e) {
    metrics_.count_request("error");
    ApiError a{500, std::string("internal error: ") + e.what(), "server_error", "", ""};
    if (!res.sent()) res.send(500, "application/json", triton ? triton_error_body(a.message) : openai_error_body(a));
  }
  metrics_.count_http(res.status());
  if (opts_.access_log) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::string line = fmt::format("{} \"{} {}\" {} {}B {:.1f}ms\n", req.remote, req.method, req.path, res.status(), res.bytes_sent(), ms);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

void Server::route(const HttpRequest& req, HttpResponder& res, bool* triton) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  auto need = [&](const char* method) {
    if (m != method) throw_api(405, "method " + m + " not allowed on " + p + "; use " + method);
  };
  auto json_ok = [&](const json& j) { res.send(200, "application/json", dump(j)); };

  // Unauthenticated: the page itself (it asks for the key) and health checks.
  if (p == "/" || p == "/index.html") {
    need("GET");
    res.send(200, "text/html; charset=utf-8", web_index_html());
    return;
  }
  if (p == "/health" || p == "/v2/health/live" || p == "/v2/health/ready") {
    if (m != "GET" && m != "HEAD") need("GET");
    bool ready = !http_->stopping() || p == "/v2/health/live";
    if (p == "/health") json_ok(json{{"status", ready ? "ok" : "shutting_down"}});
    else res.send(ready ? 200 : 503, "", "");
    return;
  }
  if (!authorized(req)) throw_api(401, "invalid or missing API key (send 'Authorization: Bearer <key>')", "", "invalid_api_key");

  ServerContext ctx{backend_, *tok_, model_, metrics_, force_stop_, render_chat_, opts_.speculative_default,
                    constraints_.get(), &opts_.spec};
  if (p == "/metrics") {
    need("GET");
    HttpServer::Counters hc = http_->counters();
    std::string text = metrics_.render(backend_.stats());
    text += fmt::format(
        "# HELP ignis_http_connections Open HTTP connections.\n# TYPE ignis_http_connections gauge\n"
        "ignis_http_connections {}\n"
        "# HELP ignis_http_connections_closed_total Connections the server closed or refused, by reason.\n"
        "# TYPE ignis_http_connections_closed_total counter\n"
        "ignis_http_connections_closed_total{{reason=\"evicted_idle\"}} {}\n"
        "ignis_http_connections_closed_total{{reason=\"refused\"}} {}\n"
        "ignis_http_connections_closed_total{{reason=\"timeout\"}} {}\n",
        http_->active_connections(), hc.evicted, hc.refused, hc.timed_out);
    if (embedder_) {
      EmbeddingBatcher::Stats es = embedder_->stats();
      text += fmt::format(
          "# HELP ignis_embedding_calls_total Encoder calls made for /v1/embeddings (each may carry several requests).\n"
          "# TYPE ignis_embedding_calls_total counter\nignis_embedding_calls_total {}\n"
          "# HELP ignis_embedding_inputs_total Inputs embedded for /v1/embeddings.\n"
          "# TYPE ignis_embedding_inputs_total counter\nignis_embedding_inputs_total {}\n"
          "# HELP ignis_embedding_tokens_total Tokens embedded for /v1/embeddings.\n"
          "# TYPE ignis_embedding_tokens_total counter\nignis_embedding_tokens_total {}\n"
          "# HELP ignis_embedding_queued_inputs /v1/embeddings inputs waiting for an encoder call.\n"
          "# TYPE ignis_embedding_queued_inputs gauge\nignis_embedding_queued_inputs {}\n"
          "# HELP ignis_embedding_requests_refused_total /v1/embeddings requests refused with 503 (queue full).\n"
          "# TYPE ignis_embedding_requests_refused_total counter\nignis_embedding_requests_refused_total {}\n",
          es.calls, es.inputs, es.tokens, es.queued_inputs, es.refused);
    }
    res.send(200, "text/plain; version=0.0.4; charset=utf-8", text);
    return;
  }
  const EmbeddingModel& em = opts_.embeddings;
  auto embed_entry = [&] { return json{{"id", em.name}, {"object", "model"}, {"created", em.created}, {"owned_by", "ignis"}}; };
  if (p == "/v1/models") {
    need("GET");
    if (!em.embedder) {
      handle_models(ctx, res);
      return;
    }
    json data = json::array();
    data.push_back({{"id", model_.name}, {"object", "model"}, {"created", model_.created}, {"owned_by", "ignis"},
                    {"max_model_len", model_.max_model_len}});
    data.push_back(embed_entry());
    json_ok(json{{"object", "list"}, {"data", data}});
    return;
  }
  if (p == "/v1/embeddings") {
    need("POST");
    if (!embedder_) throw_api(404, "no embedding model is served (start with --embedding-model DIR)");
    handle_embeddings(em, *embedder_, metrics_, parse_body(req), res);
    return;
  }
  if (p == "/v1/documents") {
    if (m == "POST") {
      handle_documents_upload(opts_.documents.get(), metrics_, parse_body(req), res);
      return;
    }
    need("GET");
    handle_documents_list(opts_.documents.get(), res);
    return;
  }
  if (p == "/v1/documents/reindex") {
    need("POST");
    handle_documents_reindex(opts_.documents.get(), metrics_, res);
    return;
  }
  if (starts_with(p, "/v1/documents/")) {
    need("DELETE");
    handle_documents_delete(opts_.documents.get(), metrics_, p.substr(14), res);
    return;
  }
  if (p == "/v1/rag/chat") {
    need("POST");
    handle_rag_chat(ctx, opts_.documents.get(), parse_body(req), res);
    return;
  }
  if (starts_with(p, "/v1/models/")) {
    need("GET");
    std::string id = p.substr(11);
    if (em.embedder && id == em.name) {
      json_ok(embed_entry());
      return;
    }
    if (!model_.matches(id)) throw_api(404, "The model '" + id + "' does not exist", "model", "model_not_found");
    json_ok(json{{"id", model_.name}, {"object", "model"}, {"created", model_.created}, {"owned_by", "ignis"}});
    return;
  }
  if (p == "/v1/completions") {
    need("POST");
    handle_completions(ctx, parse_body(req), res);
    return;
  }
  if (p == "/v1/chat/completions") {
    need("POST");
    handle_chat(ctx, parse_body(req), res);
    return;
  }
  if (p == "/v2" || p == "/v2/") {
    need("GET");
    json_ok(json{{"name", "ignis"}, {"version", "0.1"}, {"extensions", json::array({"generate"})}});
    return;
  }
  if (starts_with(p, "/v2/models/")) {
    *triton = true;
    std::string rest = p.substr(11);
    // Strip an optional "/versions/<v>" after the model name.
    std::string name = rest.substr(0, rest.find('/'));
    std::string tail = rest.size() > name.size() ? rest.substr(name.size()) : "";
    if (starts_with(tail, "/versions/")) {
      size_t slash = tail.find('/', 10);
      tail = slash == std::string::npos ? "" : tail.substr(slash);
    }
    if (name.empty()) throw_api(404, "no model name in " + p);
    if (tail.empty() || tail == "/") {
      need("GET");
      handle_triton_model(ctx, res, name);
      return;
    }
    if (tail == "/ready") {
      need("GET");
      if (!model_.matches(name)) throw_api(404, "Request for unknown model: '" + name + "' is not found");
      res.send(200, "", "");
      return;
    }
    if (tail == "/generate" || tail == "/generate_stream") {
      need("POST");
      handle_triton_generate(ctx, parse_body(req), res, name, ends_with(tail, "_stream"));
      return;
    }
  }
  throw_api(404, "no such endpoint: " + m + " " + p);
}

}  // namespace ignis::server
