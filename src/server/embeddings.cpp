// ignis server: POST /v1/embeddings. Input forms (OpenAI's): a string, a list of strings, a list of
// token ids, or a list of lists of token ids. Texts are tokenized as sentence-transformers does
// (specials added, truncated to max_seq_length); token-id input is taken as the full sequence
// (no specials added) and truncated to the same length. All inputs of a request go to the encoder in
// one call, which may also carry other requests' inputs (EmbeddingBatcher).
#include "server/embeddings.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>

#include "server/embedding_batcher.h"
#include "server/fields.h"

namespace ignis::server {

namespace {

std::string base64(const uint8_t* p, size_t n) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out += k[v >> 18 & 63];
    out += k[v >> 12 & 63];
    out += i + 1 < n ? k[v >> 6 & 63] : '=';
    out += i + 2 < n ? k[v & 63] : '=';
  }
  return out;
}

// Little-endian float32 bytes, base64 (what OpenAI returns for encoding_format "base64").
std::string floats_base64(const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  for (size_t i = 0; i < v.size(); i++) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; b++) bytes[i * 4 + b] = uint8_t(u >> (8 * b));
  }
  return base64(bytes.data(), bytes.size());
}

std::vector<int32_t> token_list(const json& a, const std::string& where) {
  if (a.empty()) throw_api(400, "'" + where + "' is an empty token list", "input");
  std::vector<int32_t> ids;
  for (const auto& t : a) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
      throw_api(400, "'" + where + "' must hold non-negative integer token ids", "input");
    ids.push_back(int32_t(t.get<int64_t>()));
  }
  return ids;
}

// Every input as a token sequence (truncated to max_tokens).
std::vector<std::vector<int32_t>> read_inputs(const Embedder& e, const json& input) {
  std::vector<std::vector<int32_t>> seqs;
  auto text = [&](const json& s, const std::string& where) {
    if (s.get_ref<const std::string&>().empty()) throw_api(400, "'" + where + "' is an empty string", "input");
    seqs.push_back(e.tokenize(s.get<std::string>()));
  };
  if (input.is_string()) {
    text(input, "input");
  } else if (input.is_array()) {
    if (input.empty()) throw_api(400, "'input' is an empty list", "input");
    if (input.size() > kMaxEmbeddingInputs)
      throw_api(400, fmt::format("'input' has {} items; at most {} per request", input.size(), kMaxEmbeddingInputs),
                "input");
    if (input[0].is_number()) {
      seqs.push_back(token_list(input, "input"));
    } else {
      for (size_t i = 0; i < input.size(); i++) {
        std::string where = fmt::format("input[{}]", i);
        if (input[i].is_string()) text(input[i], where);
        else if (input[i].is_array()) seqs.push_back(token_list(input[i], where));
        else throw_api(400, "'" + where + "' must be a string or a list of token ids", "input");
      }
    }
  } else {
    throw_api(400, "'input' must be a string, a list of strings, a list of token ids or a list of such lists", "input");
  }
  for (auto& s : seqs)
    if (e.max_tokens() > 0 && int(s.size()) > e.max_tokens()) s.resize(size_t(e.max_tokens()));
  return seqs;
}

}  // namespace

void handle_embeddings(const EmbeddingModel& em, EmbeddingBatcher& batcher, Metrics& metrics, const json& body,
                       HttpResponder& res) {
  if (!em.embedder) throw_api(404, "no embedding model is served (start with --embedding-model DIR)");
  reject_unknown_fields(body, Endpoint::Embeddings);
  auto model = get_string(body, "model");
  if (!model) throw_api(400, "'model' is required (the embedding model's id from /v1/models: '" + em.name + "')", "model");
  if (*model != em.name)
    throw_api(404, "The model '" + *model + "' is not the served embedding model '" + em.name + "'", "model",
              "model_not_found");
  std::string format = get_string(body, "encoding_format").value_or("float");
  if (format != "float" && format != "base64")
    throw_api(400, "'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
  const Embedder& e = *em.embedder;
  if (auto d = get_int(body, "dimensions", 1, INT32_MAX); d && *d != e.dim())
    throw_api(400, fmt::format("'dimensions' must be the model's dimension {} (no truncation)", e.dim()),
              "dimensions");
  (void)get_string(body, "user");  // accepted, ignored (type-checked)
  if (!body.contains("input") || body["input"].is_null()) throw_api(400, "'input' is required", "input");

  std::vector<std::vector<int32_t>> seqs = read_inputs(e, body["input"]);
  size_t tokens = 0;
  for (auto& s : seqs) tokens += s.size();
  std::shared_ptr<EmbeddingBatcher::Job> job = batcher.submit(std::move(seqs), res.waker());
  while (!job->done()) {
    res.wait(std::chrono::milliseconds(100));
    if (!job->done() && res.client_gone() && batcher.cancel(job)) {
      metrics.count_request("cancelled");
      return;
    }
  }
  std::vector<std::vector<float>> vecs = job->take();
  json data = json::array();
  for (size_t i = 0; i < vecs.size(); i++) {
    json item{{"object", "embedding"}, {"index", i}};
    if (format == "base64") item["embedding"] = floats_base64(vecs[i]);
    else item["embedding"] = vecs[i];
    data.push_back(std::move(item));
  }
  metrics.count_request("embeddings");
  res.send(200, "application/json",
           dump(json{{"object", "list"},
                     {"data", std::move(data)},
                     {"model", em.name},
                     {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}));
}

}  // namespace ignis::server
