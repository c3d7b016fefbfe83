// /v1/documents and /v1/rag/chat through Server::handle with a fake server::Documents and a
// recording backend: the prompt the index built is what is generated from, the budget it is given
// is the context less max_tokens, "top_k" is the chunk count (not the sampler's), the sources come
// back, uploads are checked before the index sees them; and the pure helpers (names, base64, %XX).
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "server/documents.h"
#include "server/server.h"
#include "unit_harness.h"

using namespace ignis;
using namespace ignis::server;
using ignis::test::ByteTokenizer;

namespace {

class OneTokenBackend : public Backend {
 public:
  std::shared_ptr<RequestHandle> submit(GenerateRequest req) override {
    std::lock_guard lk(mu);
    seen.push_back(req);
    auto h = std::make_shared<RequestHandle>(seen.size());
    StreamChunk c;
    c.tokens = {'y'};
    c.text = "yes [1]";
    c.finish = FinishReason::Length;
    h->push(c);
    return h;
  }
  EngineStats stats() const override { return {}; }
  std::mutex mu;
  std::vector<GenerateRequest> seen;
};

class FakeDocuments : public Documents {
 public:
  json describe() override { return {{"docs", "/d"}, {"files", 1}, {"chunks", 2}, {"retrieval", "lexical"}}; }
  std::vector<DocumentFile> list() override { return {{"a.txt", "txt", "", 10, 2}}; }
  DocumentFile add(const std::string& name, const std::string& content, bool* replaced) override {
    added_name = name;
    added_content = content;
    *replaced = name == "a.txt";
    return {name, "txt", "", content.size(), 1};
  }
  bool remove(const std::string& name) override {
    removed = name;
    return name == "a.txt";
  }
  void reindex() override { reindexed++; }
  DocumentPrompt prepare(const std::vector<DocumentTurn>& history, const std::string& question, int top_k,
                         const std::string& retrieval, int budget) override {
    got_history = history;
    got_question = question;
    got_top_k = top_k;
    got_retrieval = retrieval;
    got_budget = budget;
    DocumentPrompt p;
    p.ids = {'P', 'R', 'O', 'M', 'P', 'T'};
    p.sources.push_back({1, "a.txt", "", 0, 3, "", "", "a.txt, line 3", "the chunk text", 0.5});
    p.retrieved = 2;
    return p;
  }
  std::uint64_t max_document_bytes() const override { return 16; }
  std::string added_name, added_content, removed, got_question, got_retrieval;
  std::vector<DocumentTurn> got_history;
  int got_top_k = 0, got_budget = 0, reindexed = 0;
};

struct Harness {
  OneTokenBackend backend;
  std::shared_ptr<FakeDocuments> docs = std::make_shared<FakeDocuments>();
  std::unique_ptr<Server> server;
  explicit Harness(bool with_docs = true) {
    ServedModel m;
    m.name = "m";
    m.max_model_len = 512;
    m.vocab_size = 256;
    ServerOptions o;
    o.access_log = false;
    if (with_docs) o.documents = docs;
    server = std::make_unique<Server>(backend, std::make_shared<ByteTokenizer>(), m, o, nullptr);
  }
  test::Reply post(const std::string& path, const std::string& body) { return test::post(*server, path, body); }
};

json body_of(const test::Reply& r) {
  size_t at = r.bytes.find("\r\n\r\n");
  return json::parse(r.bytes.substr(at + 4));
}

}  // namespace

TEST(Documents, NamesBase64AndEscapes) {
  for (const char* ok : {"notes.md", "Rapport été.pdf", "a b.txt", "x..y.txt"}) EXPECT_NO_THROW(check_document_name(ok)) << ok;
  for (const char* bad : {"", ".hidden.md", "..", "../x.md", "a/b.md", "a\\b.md", "a\nb.md", "\x7f.md"})
    EXPECT_THROW(check_document_name(bad), ApiError) << bad;
  EXPECT_THROW(check_document_name(std::string(256, 'a')), ApiError);
  EXPECT_THROW(check_document_name("bad\xff.md"), ApiError);  // not UTF-8

  EXPECT_EQ(decode_base64("aGVsbG8=", "f"), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8", "f"), "hello");  // padding optional
  EXPECT_EQ(decode_base64("aGVs\nbG8h", "f"), "hello!");
  EXPECT_EQ(decode_base64("", "f"), "");
  EXPECT_EQ(decode_base64("/w==", "f"), std::string(1, '\xff'));
  for (const char* bad : {"a", "aGVsbG8===", "aGV*bG8=", "aG=VsbG8"}) EXPECT_THROW(decode_base64(bad, "f"), ApiError) << bad;

  EXPECT_EQ(decode_path_segment("a%20b.md"), "a b.md");
  EXPECT_EQ(decode_path_segment("..%2Fx"), "../x");
  EXPECT_THROW(decode_path_segment("a%2"), ApiError);
  EXPECT_THROW(decode_path_segment("a%zz"), ApiError);
}

TEST(Documents, RagChatGeneratesFromTheIndexPrompt) {
  Harness h;
  test::Reply r = h.post("/v1/rag/chat", R"({"question": "why?", "top_k": 7, "retrieval": "lexical", "max_tokens": 12})");
  ASSERT_EQ(r.status, 200) << r.bytes;
  EXPECT_EQ(h.docs->got_question, "why?");
  EXPECT_EQ(h.docs->got_top_k, 7);
  EXPECT_EQ(h.docs->got_retrieval, "lexical");
  EXPECT_EQ(h.docs->got_budget, 512 - 12);
  ASSERT_EQ(h.backend.seen.size(), 1u);
  EXPECT_EQ(h.backend.seen[0].prompt_ids, (std::vector<int32_t>{'P', 'R', 'O', 'M', 'P', 'T'}));
  EXPECT_EQ(h.backend.seen[0].sampling.max_tokens, 12);
  EXPECT_EQ(h.backend.seen[0].sampling.top_k, SamplingParams{}.top_k);  // top_k is the chunk count
  json j = body_of(r);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "yes [1]");
  ASSERT_EQ(j["sources"].size(), 1u);
  EXPECT_EQ(j["sources"][0]["file"], "a.txt");
  EXPECT_EQ(j["sources"][0]["line"], 3);
  EXPECT_EQ(j["sources"][0]["citation"], "a.txt, line 3");
  EXPECT_EQ(j["sources"][0]["text"], "the chunk text");
  EXPECT_EQ(j["retrieved"], 2);

  // Streaming: the sources ride on the first event.
  r = h.post("/v1/rag/chat", R"({"question": "why?", "stream": true})");
  ASSERT_EQ(r.status, 200);
  size_t first = r.bytes.find("data: ");
  ASSERT_NE(first, std::string::npos);
  json ev = json::parse(r.bytes.substr(first + 6, r.bytes.find("\n\n", first) - first - 6));
  EXPECT_EQ(ev["sources"][0]["file"], "a.txt");
  EXPECT_EQ(ev["choices"][0]["delta"]["role"], "assistant");
  EXPECT_NE(r.bytes.find("yes [1]"), std::string::npos);
  EXPECT_NE(r.bytes.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(h.docs->got_budget, 512 - 256);  // default max_tokens 256

  // Messages: the last user turn is the question, the rest is history.
  r = h.post("/v1/rag/chat",
             R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": [{"type": "text", "text": "c"}]}]})");
  ASSERT_EQ(r.status, 200) << r.bytes;
  EXPECT_EQ(h.docs->got_question, "c");
  ASSERT_EQ(h.docs->got_history.size(), 2u);
  EXPECT_EQ(h.docs->got_history[1].role, "assistant");
  EXPECT_EQ(h.docs->got_history[1].content, "b");

  const size_t before = h.backend.seen.size();
  for (const char* bad : {R"({})", R"({"question": ""})", R"({"question": "a", "top_k": 0})",
                          R"({"question": "a", "top_k": 51})", R"({"question": "a", "retrieval": "x"})",
                          R"({"question": "a", "max_tokens": 512})", R"({"question": "a", "n": 2})",
                          R"({"messages": [{"role": "assistant", "content": "a"}]})", R"(nope)"})
    EXPECT_EQ(h.post("/v1/rag/chat", bad).status, 400) << bad;
  EXPECT_EQ(h.backend.seen.size(), before);  // nothing generated for a refused request
}

TEST(Documents, UploadListDelete) {
  Harness h;
  test::Reply r = h.post("/v1/documents", R"({"name": "b.txt", "content_base64": "aGVsbG8="})");
  EXPECT_EQ(r.status, 201) << r.bytes;
  EXPECT_EQ(h.docs->added_name, "b.txt");
  EXPECT_EQ(h.docs->added_content, "hello");
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "a.txt", "content": "hi"})").status, 200);  // replaced
  h.docs->added_name.clear();
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "c.txt", "content": "0123456789abcdefg"})").status, 413);  // 17 > 16
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "../c.txt", "content": "x"})").status, 400);
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "c.txt", "content": "x", "content_base64": "eA=="})").status, 400);
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "c.txt"})").status, 400);
  EXPECT_EQ(h.docs->added_name, "");  // the index never saw a refused upload

  HttpRequest req;
  req.method = "GET";
  req.path = req.target = "/v1/documents";
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    HttpResponder res(fds[0], false, 1000);
    h.server->handle(req, res);
    EXPECT_EQ(res.status(), 200);
  }
  close(fds[0]);
  char buf[4096];
  ssize_t n = read(fds[1], buf, sizeof buf);
  close(fds[1]);
  std::string got(buf, size_t(n > 0 ? n : 0));
  EXPECT_NE(got.find("\"chunks\":2"), std::string::npos) << got;
  EXPECT_NE(got.find("\"name\":\"a.txt\""), std::string::npos) << got;

  auto del = [&](const std::string& path) {
    HttpRequest d;
    d.method = "DELETE";
    d.path = d.target = path;
    int p[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    int status;
    {
      HttpResponder res(p[0], false, 1000);
      h.server->handle(d, res);
      status = res.status();
    }
    close(p[0]);
    close(p[1]);
    return status;
  };
  EXPECT_EQ(del("/v1/documents/a.txt"), 200);
  EXPECT_EQ(del("/v1/documents/zz.txt"), 404);
  EXPECT_EQ(del("/v1/documents/..%2Fetc%2Fpasswd"), 404);
  EXPECT_EQ(h.docs->removed, "../etc/passwd");  // decoded, then refused by the index (not in it)
  EXPECT_EQ(h.post("/v1/documents/reindex", "").status, 200);
  EXPECT_EQ(h.docs->reindexed, 1);
}

TEST(Documents, WithoutDocsEveryEndpointIs404) {
  Harness h(/*with_docs=*/false);
  test::Reply r = h.post("/v1/rag/chat", R"({"question": "a"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.bytes.find("--docs"), std::string::npos);
  EXPECT_EQ(h.post("/v1/documents", R"({"name": "a.txt", "content": "x"})").status, 404);
  EXPECT_EQ(h.post("/v1/documents/reindex", "").status, 404);
}
