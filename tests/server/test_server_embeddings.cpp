// POST /v1/embeddings over the tiny sentence-transformers folders of tests/data/encoder/models:
// the endpoint's vectors equal the CPU encoder's (called directly) and sentence-transformers'
// goldens, base64 decodes to the same floats, token-id input, usage, 400s, 401, /v1/models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "embedder.h"
#include "encoder/sentence_encoder.h"
#include "unit_harness.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;
using server::json;

class NoBackend : public server::Backend {
 public:
  std::shared_ptr<RequestHandle> submit(GenerateRequest) override { throw Error("no generation in this test"); }
  EngineStats stats() const override { return {}; }
};

fs::path model_dir() { return fs::path(IGNIS_TEST_DATA_DIR) / "encoder" / "models" / "bert_mean"; }

json golden() {
  std::ifstream f(model_dir() / "golden.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

struct Harness {
  NoBackend backend;
  std::unique_ptr<server::Server> server;
  explicit Harness(std::vector<std::string> keys = {}) {
    server::ServedModel m;
    m.name = "chat";
    server::ServerOptions o;
    o.access_log = false;
    o.api_keys = std::move(keys);
    o.embeddings.embedder = cli::load_embedder(model_dir().string());
    o.embeddings.name = "bert_mean";
    server = std::make_unique<server::Server>(backend, std::make_shared<ByteTokenizer>(), m, o, nullptr);
  }
};

// The JSON body of a reply (after the HTTP head).
json body_of(const Reply& r) { return json::parse(r.bytes.substr(r.bytes.find("\r\n\r\n") + 4)); }

std::vector<float> decode_base64_floats(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<uint8_t> bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = val(c);
    if (v < 0) break;
    acc = acc << 6 | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(uint8_t(acc >> bits));
    }
  }
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); i++) {
    uint32_t u = uint32_t(bytes[4 * i]) | uint32_t(bytes[4 * i + 1]) << 8 | uint32_t(bytes[4 * i + 2]) << 16 |
                 uint32_t(bytes[4 * i + 3]) << 24;
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

TEST(ServerEmbeddings, MatchEncoderAndGoldens) {
  if (!fs::exists(model_dir() / "golden.json")) GTEST_SKIP() << model_dir() << " missing";
  Harness h;
  json g = golden();
  json sentences = json::array();
  for (size_t i = 0; i < 4; i++) sentences.push_back(g["sentences"][i]);
  auto enc = enc::SentenceEncoder::load(model_dir());
  auto direct = enc->embed(sentences.get<std::vector<std::string>>());

  Reply r = post(*h.server, "/v1/embeddings", json{{"model", "bert_mean"}, {"input", sentences}}.dump());
  ASSERT_EQ(r.status, 200) << r.bytes;
  json b = body_of(r);
  EXPECT_EQ(b["object"], "list");
  EXPECT_EQ(b["model"], "bert_mean");
  ASSERT_EQ(b["data"].size(), 4u);
  size_t tokens = 0;
  for (size_t i = 0; i < 4; i++) {
    tokens += g["ids"][i].size();
    EXPECT_EQ(b["data"][i]["object"], "embedding");
    EXPECT_EQ(b["data"][i]["index"], i);
    auto v = b["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(int(v.size()), enc->dim());
    for (size_t k = 0; k < v.size(); k++) {
      EXPECT_NEAR(v[k], direct[i][k], 1e-5);
      EXPECT_NEAR(v[k], g["embeddings"][i][k].get<float>(), 1e-4);
    }
  }
  EXPECT_EQ(b["usage"]["prompt_tokens"], tokens);
  EXPECT_EQ(b["usage"]["total_tokens"], tokens);

  // base64: little-endian float32 bytes of the same vectors.
  r = post(*h.server, "/v1/embeddings",
           json{{"model", "bert_mean"}, {"input", sentences[1]}, {"encoding_format", "base64"}, {"user", "u"}}.dump());
  ASSERT_EQ(r.status, 200) << r.bytes;
  auto v64 = decode_base64_floats(body_of(r)["data"][0]["embedding"].get<std::string>());
  ASSERT_EQ(int(v64.size()), enc->dim());
  for (size_t k = 0; k < v64.size(); k++) EXPECT_NEAR(v64[k], direct[1][k], 1e-5) << k;

  // Token ids (one list, and a list of lists) give the same vectors as the text they came from.
  json ids0 = g["ids"][0], ids2 = g["ids"][2];
  r = post(*h.server, "/v1/embeddings", json{{"model", "bert_mean"}, {"input", ids0}}.dump());
  ASSERT_EQ(r.status, 200) << r.bytes;
  b = body_of(r);
  EXPECT_EQ(b["usage"]["prompt_tokens"], ids0.size());
  for (size_t k = 0; k < direct[0].size(); k++) EXPECT_NEAR(b["data"][0]["embedding"][k].get<float>(), direct[0][k], 1e-5);
  r = post(*h.server, "/v1/embeddings", json{{"model", "bert_mean"}, {"input", json::array({ids0, ids2})}}.dump());
  ASSERT_EQ(r.status, 200) << r.bytes;
  b = body_of(r);
  ASSERT_EQ(b["data"].size(), 2u);
  for (size_t k = 0; k < direct[2].size(); k++) EXPECT_NEAR(b["data"][1]["embedding"][k].get<float>(), direct[2][k], 1e-5);
  // Four requests above, each counted once.
  EXPECT_NE(h.server->metrics().render({}).find("ignis_requests_total{outcome=\"embeddings\"} 4\n"), std::string::npos);
}

TEST(ServerEmbeddings, TruncatesToMaxSeqLength) {
  if (!fs::exists(model_dir() / "golden.json")) GTEST_SKIP() << model_dir() << " missing";
  Harness h;
  auto enc = enc::SentenceEncoder::load(model_dir());
  std::string long_text;
  for (int i = 0; i < 2000; i++) long_text += "word ";
  Reply r = post(*h.server, "/v1/embeddings", json{{"model", "bert_mean"}, {"input", long_text}}.dump());
  ASSERT_EQ(r.status, 200) << r.bytes;
  EXPECT_EQ(body_of(r)["usage"]["prompt_tokens"], enc->config().max_seq_length);
}

TEST(ServerEmbeddings, BadBodiesAndAuth) {
  if (!fs::exists(model_dir() / "golden.json")) GTEST_SKIP() << model_dir() << " missing";
  Harness h;
  auto status = [&](const std::string& body) { return post(*h.server, "/v1/embeddings", body).status; };
  EXPECT_EQ(status(R"({"model":"bert_mean","input":[]})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":""})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":["a",""]})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":[[]]})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":5})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":[{"a":1}]})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":[1,-2]})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":[99999999]})"), 400);  // out of the vocabulary
  EXPECT_EQ(status(R"({"model":"bert_mean"})"), 400);
  EXPECT_EQ(status(R"({"input":"a"})"), 400);
  EXPECT_EQ(status(R"({"model":"chat","input":"a"})"), 404);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":"a","encoding_format":"int8"})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":"a","dimensions":3})"), 400);
  EXPECT_EQ(status(R"({"model":"bert_mean","input":"a","temperature":1})"), 400);
  json many = json::array();
  for (size_t i = 0; i <= server::kMaxEmbeddingInputs; i++) many.push_back("a");
  EXPECT_EQ(status(json{{"model", "bert_mean"}, {"input", many}}.dump()), 400);
  Reply r = post(*h.server, "/v1/embeddings", R"({"model":"bert_mean","input":[]})");
  EXPECT_NE(r.bytes.find("empty list"), std::string::npos) << r.bytes;

  Harness authed({"secret"});
  EXPECT_EQ(post(*authed.server, "/v1/embeddings", R"({"model":"bert_mean","input":"a"})").status, 401);
}

TEST(ServerEmbeddings, ListedByModels) {
  if (!fs::exists(model_dir() / "golden.json")) GTEST_SKIP() << model_dir() << " missing";
  Harness h;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  server::HttpRequest req;
  req.method = "GET";
  req.path = req.target = "/v1/models";
  req.version = "HTTP/1.1";
  Reply r;
  {
    server::HttpResponder res(fds[0], false, 1000);
    h.server->handle(req, res);
    r.status = res.status();
  }
  close(fds[0]);
  char buf[4096];
  for (ssize_t n; (n = read(fds[1], buf, sizeof buf)) > 0;) r.bytes.append(buf, size_t(n));
  close(fds[1]);
  ASSERT_EQ(r.status, 200);
  json b = body_of(r);
  ASSERT_EQ(b["data"].size(), 2u);
  EXPECT_EQ(b["data"][0]["id"], "chat");
  EXPECT_EQ(b["data"][1]["id"], "bert_mean");
}

}  // namespace
}  // namespace ignis::test
