// ignis server: /v1/documents and /v1/rag/chat (documents.h).
#include "server/documents.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <future>
#include <limits>

#include "server/fields.h"

namespace ignis::server {

namespace {

constexpr int kMaxTopK = 50;
constexpr int kDefaultMaxTokens = 256;
constexpr size_t kMaxQuestionBytes = 64 * 1024;

// Runs f on a thread of its own while the handler's fiber waits: an index update or a query's
// retrieval may wait for the encoder, and the HTTP worker thread stays free for other requests
// meanwhile. Exceptions (ApiError, Error) come back through the future.
template <class F>
auto off_worker(HttpResponder& res, F f) -> decltype(f()) {
  std::function<void()> wake = res.waker();
  auto fut = std::async(std::launch::async, [f = std::move(f), wake]() mutable {
    struct OnExit {
      std::function<void()>& fn;
      ~OnExit() { fn(); }
    } on_exit{wake};
    return f();
  });
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) res.wait(std::chrono::milliseconds(100));
  return fut.get();
}

Documents& need_docs(Documents* docs) {
  if (!docs) throw_api(404, "no document index is served (start the server with --docs DIR)", "", "documents_not_enabled");
  return *docs;
}

json file_json(const DocumentFile& f) {
  return {{"name", f.name}, {"format", f.format}, {"title", f.title}, {"bytes", f.bytes}, {"chunks", f.chunks}};
}

json source_json(const DocumentSource& s) {
  std::string snippet = s.text;
  for (char& c : snippet)
    if (c == '\n') c = ' ';
  if (snippet.size() > 240) {
    size_t cut = 237;
    while (cut > 0 && (static_cast<unsigned char>(snippet[cut]) & 0xC0) == 0x80) cut--;  // not inside a UTF-8 char
    snippet = snippet.substr(0, cut) + "...";
  }
  return {{"index", s.index}, {"file", s.file},         {"title", s.title},   {"page", s.page},
          {"line", s.line},   {"heading", s.heading},   {"anchor", s.anchor}, {"citation", s.citation},
          {"score", s.score}, {"snippet", snippet},     {"text", s.text}};
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0) return false;
    for (int k = 1; k <= n; k++)
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += size_t(n) + 1;
  }
  return true;
}

// A message's text: a string, or a list of {"type": "text", "text"} parts.
std::string message_text(const json& m, const std::string& where) {
  auto c = m.find("content");
  if (c == m.end() || c->is_null()) throw_api(400, "'" + where + ".content' is required", where + ".content");
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) throw_api(400, "'" + where + ".content' must be a string or a list of text parts", where + ".content");
  std::string out;
  for (const json& part : *c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      throw_api(400, "'" + where + ".content' parts must be {\"type\": \"text\", \"text\": ...}", where + ".content");
    out += part["text"].get<std::string>();
  }
  return out;
}

// The question and the earlier turns: "question", or the last "messages" entry (role user).
void read_conversation(const json& body, std::string* question, std::vector<DocumentTurn>* history) {
  auto q = get_string(body, "question");
  auto it = body.find("messages");
  const bool has_messages = it != body.end() && !it->is_null();
  if (q && has_messages) throw_api(400, "give 'question' or 'messages', not both", "question");
  if (q) {
    *question = *q;
  } else if (has_messages) {
    if (!it->is_array() || it->empty()) throw_api(400, "'messages' must be a non-empty list", "messages");
    for (size_t i = 0; i < it->size(); i++) {
      const json& m = (*it)[i];
      const std::string where = fmt::format("messages[{}]", i);
      if (!m.is_object()) throw_api(400, "'" + where + "' must be an object", where);
      std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
      if (role != "user" && role != "assistant")
        throw_api(400, "'" + where + ".role' must be user or assistant (the system turn is the documents' own)",
                  where + ".role");
      history->push_back({role, message_text(m, where)});
    }
    if (history->back().role != "user") throw_api(400, "the last message must be the user's question", "messages");
    if (history->front().role != "user") throw_api(400, "the first message must be the user's", "messages");
    *question = history->back().content;
    history->pop_back();
  } else {
    throw_api(400, "'question' (a string) or 'messages' (a list ending with the user's question) is required",
              "question");
  }
  if (question->find_first_not_of(" \t\r\n") == std::string::npos) throw_api(400, "the question is empty", "question");
  if (question->size() > kMaxQuestionBytes)
    throw_api(400, fmt::format("the question is longer than {} bytes", kMaxQuestionBytes), "question");
}

void write_sse(HttpResponder& res, const json& j, bool* ok) {
  if (*ok) *ok = res.write_chunk("data: " + dump(j) + "\n\n");
}

}  // namespace

void check_document_name(const std::string& name) {
  if (name.empty()) throw_api(400, "'name' is empty", "name");
  if (name.size() > 255) throw_api(400, "'name' is longer than 255 bytes", "name");
  if (name[0] == '.') throw_api(400, "'name' must not start with '.' (no hidden files, no '..')", "name");
  for (char c : name) {
    if (c == '/' || c == '\\') throw_api(400, "'name' must be a file name, not a path (no '/' or '\\')", "name");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw_api(400, "'name' holds a control character", "name");
  }
  if (!valid_utf8(name)) throw_api(400, "'name' is not valid UTF-8", "name");
}

std::string decode_base64(const std::string& text, const std::string& field) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0, symbols = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = val(c);
    if (v < 0 || pad > 0) throw_api(400, "'" + field + "' is not valid base64", field);
    symbols++;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (pad > 2 || symbols % 4 == 1 || (pad > 0 && (symbols + pad) % 4 != 0))
    throw_api(400, "'" + field + "' is not valid base64", field);
  return out;
}

std::string decode_path_segment(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hex = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw_api(400, "malformed %-escape in the document name");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

void handle_documents_list(Documents* docs, HttpResponder& res) {
  Documents& d = need_docs(docs);
  auto [list, out] = off_worker(res, [&d] { return std::make_pair(d.list(), d.describe()); });
  json files = json::array();
  for (const DocumentFile& f : list) files.push_back(file_json(f));
  out["object"] = "list";
  out["data"] = std::move(files);
  res.send(200, "application/json", dump(out));
}

void handle_documents_upload(Documents* docs, Metrics& metrics, const json& body, HttpResponder& res) {
  Documents& d = need_docs(docs);
  reject_unknown_fields(body, Endpoint::DocumentUpload);
  auto name = get_string(body, "name");
  if (!name) throw_api(400, "'name' is required (the file name, e.g. \"notes.md\")", "name");
  check_document_name(*name);
  auto text = get_string(body, "content");
  auto b64 = get_string(body, "content_base64");
  if (text && b64) throw_api(400, "give 'content' or 'content_base64', not both", "content");
  if (!text && !b64) throw_api(400, "'content' (text) or 'content_base64' (any file) is required", "content");
  const uint64_t limit = d.max_document_bytes();
  if (b64 && b64->size() / 4 * 3 > limit + 3)
    throw_api(413, fmt::format("the document is larger than the {}-byte limit", limit), "content_base64");
  std::string content = text ? std::move(*text) : decode_base64(*b64, "content_base64");
  if (content.size() > limit)
    throw_api(413, fmt::format("the document is {} bytes, more than the {}-byte limit", content.size(), limit),
              text ? "content" : "content_base64");
  bool replaced = false;
  DocumentFile f = off_worker(res, [&] { return d.add(*name, content, &replaced); });
  metrics.count_request("documents");
  json out = file_json(f);
  out["object"] = "document";
  out["replaced"] = replaced;
  res.send(replaced ? 200 : 201, "application/json", dump(out));
}

void handle_documents_reindex(Documents* docs, Metrics& metrics, HttpResponder& res) {
  Documents& d = need_docs(docs);
  off_worker(res, [&d] { d.reindex(); });
  metrics.count_request("documents");
  handle_documents_list(docs, res);
}

void handle_documents_delete(Documents* docs, Metrics& metrics, const std::string& raw_name, HttpResponder& res) {
  Documents& d = need_docs(docs);
  const std::string name = decode_path_segment(raw_name);
  if (name.empty()) throw_api(400, "no document name in the path (DELETE /v1/documents/{name})", "name");
  if (!off_worker(res, [&] { return d.remove(name); })) throw_api(404, "no indexed document named '" + name + "'", "name", "document_not_found");
  metrics.count_request("documents");
  res.send(200, "application/json", dump(json{{"object", "document.deleted"}, {"name", name}, {"deleted", true}}));
}

void handle_rag_chat(ServerContext& ctx, Documents* docs, const json& body, HttpResponder& res) {
  Documents& d = need_docs(docs);
  reject_unknown_fields(body, Endpoint::RagChat);
  if (auto m = get_string(body, "model"); m && !ctx.model.matches(*m))
    throw_api(404, "The model '" + *m + "' does not exist", "model", "model_not_found");
  std::string question;
  std::vector<DocumentTurn> history;
  read_conversation(body, &question, &history);
  const int top_k = static_cast<int>(get_int(body, "top_k", 1, kMaxTopK).value_or(4));
  const std::string retrieval = get_string(body, "retrieval").value_or("hybrid");
  if (retrieval != "hybrid" && retrieval != "dense" && retrieval != "lexical")
    throw_api(400, "'retrieval' must be \"hybrid\", \"dense\" or \"lexical\"", "retrieval");
  // "top_k" is the number of chunks here (as in `ignis rag ask --top-k`), not the sampler's.
  json sampling = body;
  sampling.erase("top_k");
  SamplingParams sp;
  read_sampling_fields(sampling, &sp);
  sp.stop_strings = get_string_list(body, "stop", true, 16);
  const bool stream = get_bool(body, "stream").value_or(false);
  bool include_usage = false;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw_api(400, "'stream_options' must be an object", "stream_options");
    if (!stream) throw_api(400, "'stream_options' is only allowed when 'stream' is true", "stream_options");
    include_usage = get_bool(*it, "include_usage").value_or(false);
  }
  get_string(body, "user");
  auto max_tokens = get_int(body, "max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
  if (!max_tokens) max_tokens = get_int(body, "max_tokens", 1, std::numeric_limits<int32_t>::max());
  const int64_t answer_tokens = max_tokens.value_or(std::min(kDefaultMaxTokens, ctx.model.max_model_len / 2));
  const int64_t budget = int64_t(ctx.model.max_model_len) - answer_tokens;
  if (budget < 1)
    throw_api(400, fmt::format("'max_tokens' {} leaves no room for the question and documents in the model's {}-token "
                               "context", answer_tokens, ctx.model.max_model_len),
              "max_tokens", "context_length_exceeded");

  DocumentPrompt p = off_worker(res, [&] { return d.prepare(history, question, top_k, retrieval, static_cast<int>(budget)); });
  fit_max_tokens(ctx.model, static_cast<int>(p.ids.size()), answer_tokens, 0, &sp);
  GenerateRequest req;
  req.prompt_ids = std::move(p.ids);
  req.sampling = sp;
  req.speculative = ctx.speculative_default;
  std::vector<GenerateRequest> reqs;
  reqs.push_back(std::move(req));
  std::vector<Choice> choices = submit_all(ctx, std::move(reqs));

  json sources = json::array();
  for (const DocumentSource& s : p.sources) sources.push_back(source_json(s));
  const std::string id = make_request_id("ragcmpl");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  auto base = [&](const char* object) {
    return json{{"id", id}, {"object", object}, {"created", created}, {"model", ctx.model.name}};
  };
  auto rag_info = [&](json& j) {
    j["sources"] = sources;
    j["retrieved"] = p.retrieved;
    j["context_cut"] = p.cut;
    if (!p.note.empty()) j["note"] = p.note;
  };
  auto usage = [&](const Choice& c) {
    int64_t pt = c.usage.prompt_tokens ? c.usage.prompt_tokens : c.prompt_tokens;
    int64_t ct = c.usage.completion_tokens ? c.usage.completion_tokens : static_cast<int64_t>(c.tokens.size());
    return json{{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}};
  };

  if (stream) {
    res.begin_stream(200, "text/event-stream; charset=utf-8");
    bool ok = true;
    json first = base("chat.completion.chunk");  // the sources come first, with the role
    first["choices"] = json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}});
    rag_info(first);
    write_sse(res, first, &ok);
    drive(ctx, choices, res, [&](size_t, const StreamChunk& ch) {
      if (ch.finish == FinishReason::Error) {
        write_sse(res, json::parse(openai_error_body({500, "generation failed: " + ch.error, "server_error", "", ""})), &ok);
        return ok;
      }
      const bool last = ch.finish != FinishReason::None;
      if (ch.text.empty() && !last) return ok;
      json j = base("chat.completion.chunk");
      j["choices"] = json::array({{{"index", 0},
                                   {"delta", ch.text.empty() ? json::object() : json{{"content", ch.text}}},
                                   {"finish_reason", last ? json(api_finish_reason(ch.finish)) : json(nullptr)}}});
      write_sse(res, j, &ok);
      return ok;
    });
    if (const std::string cut = stream_cut_off(ctx, choices); !cut.empty())
      write_sse(res, json::parse(openai_error_body({503, cut, "server_error", "", ctx.force_stop ? "server_shutdown" : "cancelled"})), &ok);
    if (include_usage) {
      json j = base("chat.completion.chunk");
      j["choices"] = json::array();
      j["usage"] = usage(choices[0]);
      write_sse(res, j, &ok);
    }
    if (ok) res.write_chunk("data: [DONE]\n\n");
    res.end_stream();
    return;
  }
  if (!drive_to_end(ctx, choices, res, openai_error_body({499, "client closed request", "invalid_request_error", "", ""})))
    return;
  const Choice& c = choices[0];
  if (c.finish == FinishReason::Error) throw_api(500, "generation failed: " + c.error);
  json out = base("chat.completion");
  out["choices"] = json::array({{{"index", 0},
                                 {"message", {{"role", "assistant"}, {"content", c.text}}},
                                 {"finish_reason", api_finish_reason(c.finish)}}});
  out["usage"] = usage(c);
  rag_info(out);
  res.send(200, "application/json", dump(out));
}

}  // namespace ignis::server
