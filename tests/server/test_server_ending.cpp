// How requests end, through Server::handle over a socketpair with a scripted backend: a request
// with more sequences than the backend ever queues is a 400 (not 429); a stream whose request is
// cancelled ends with a terminal error event (OpenAI: "abort" finish, an error event with the
// usage so far, then [DONE]; Triton: a last event with "error"); a complete stream has none; a
// half-closed peer is not "gone", a reset one is.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "server/server.h"
#include "unit_harness.h"

using namespace ignis;
using namespace ignis::server;
using ignis::test::ByteTokenizer;
using ignis::test::Reply;

namespace {

// Answers each request with two tokens "ab", then ends it with `finish`; holds at most `cap`.
class ScriptedBackend : public Backend {
 public:
  FinishReason finish = FinishReason::Length;
  int cap = 8;
  std::shared_ptr<RequestHandle> submit(GenerateRequest) override {
    std::lock_guard lk(mu);
    auto h = std::make_shared<RequestHandle>(++n);
    StreamChunk a;
    a.tokens = {'a'};
    a.text = "a";
    h->push(a);
    StreamChunk b;
    b.tokens = {'b'};
    b.text = "b";
    b.finish = finish;
    h->push(b);
    return h;
  }
  EngineStats stats() const override { return {}; }
  int max_queued_requests() const override { return cap; }
  std::mutex mu;
  uint64_t n = 0;
};

struct Harness {
  ScriptedBackend backend;
  std::unique_ptr<Server> server;
  Harness() {
    ServedModel m;
    m.name = "m";
    m.max_model_len = 512;
    m.vocab_size = 256;
    ServerOptions o;
    o.access_log = false;
    server = std::make_unique<Server>(backend, std::make_shared<ByteTokenizer>(), m, o, nullptr);
  }
  Reply post(const std::string& path, const std::string& body) { return test::post(*server, path, body); }
};

// The data payloads of the SSE events in a chunked HTTP response.
std::vector<json> sse_events(const std::string& http, bool* done) {
  std::string body;
  size_t pos = http.find("\r\n\r\n") + 4;
  for (;;) {
    size_t nl = http.find("\r\n", pos);
    if (nl == std::string::npos) break;
    size_t n = std::stoul(http.substr(pos, nl - pos), nullptr, 16);
    if (n == 0) break;
    body += http.substr(nl + 2, n);
    pos = nl + 2 + n + 2;
  }
  std::vector<json> out;
  *done = false;
  for (size_t p = 0; (p = body.find("data: ", p)) != std::string::npos;) {
    size_t e = body.find("\n\n", p);
    std::string d = body.substr(p + 6, e - p - 6);
    p = e;
    if (d == "[DONE]") *done = true;
    else out.push_back(json::parse(d));
  }
  return out;
}

}  // namespace

TEST(ServerEnding, MoreSequencesThanTheQueueHoldsIs400) {
  Harness h;
  Reply r = h.post("/v1/completions", R"({"prompt": ["p", "q", "r"], "n": 3, "max_tokens": 2})");  // 9 > 8
  EXPECT_EQ(r.status, 400) << r.bytes;
  EXPECT_NE(r.bytes.find("9 sequences"), std::string::npos) << r.bytes;
  EXPECT_NE(r.bytes.find("too_many_sequences"), std::string::npos) << r.bytes;
  EXPECT_EQ(h.backend.n, 0u);  // nothing was submitted
  EXPECT_EQ(h.post("/v1/completions", R"({"prompt": ["p", "q"], "n": 4, "max_tokens": 2})").status, 200);
}

TEST(ServerEnding, CompleteStreamCarriesFinishReasonAndNoError) {
  Harness h;
  bool done = false;
  auto ev = sse_events(h.post("/v1/completions", R"({"prompt": "x", "max_tokens": 2, "stream": true})").bytes, &done);
  EXPECT_TRUE(done);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back()["choices"][0]["finish_reason"], "length");
  for (auto& e : ev) EXPECT_FALSE(e.contains("error")) << e.dump();
}

TEST(ServerEnding, CancelledStreamEndsWithAnErrorEventAndUsage) {
  Harness h;
  h.backend.finish = FinishReason::Cancelled;
  bool done = false;
  auto ev = sse_events(h.post("/v1/completions", R"({"prompt": "xy", "max_tokens": 9, "stream": true, "n": 2,
                                                    "stream_options": {"include_usage": true}})").bytes, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(ev.size(), 2u);
  const json* err = nullptr;
  int aborts = 0;
  for (auto& e : ev) {
    if (e.contains("error")) err = &e;
    if (e.contains("choices") && !e["choices"].empty() && e["choices"][0]["finish_reason"] == "abort") aborts++;
  }
  EXPECT_EQ(aborts, 2);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ((*err)["error"]["code"], "cancelled");
  EXPECT_NE((*err)["error"]["message"].get<std::string>().find("2 of 2 choices"), std::string::npos) << err->dump();
  EXPECT_EQ((*err)["usage"]["completion_tokens"], 4);
  EXPECT_EQ((*err)["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(ev.back()["usage"]["completion_tokens"], 4);  // the include_usage chunk still comes last

  auto tev = sse_events(h.post("/v2/models/m/generate_stream", R"({"text_input": "xy", "max_tokens": 9, "stream": true})").bytes,
                        &done);
  ASSERT_FALSE(tev.empty());
  ASSERT_TRUE(tev.back().contains("error")) << tev.back().dump();
  EXPECT_NE(tev.back()["error"].get<std::string>().find("request cancelled"), std::string::npos);
  for (size_t i = 0; i + 1 < tev.size(); i++) EXPECT_FALSE(tev[i].contains("error"));
}

TEST(ServerEnding, HalfClosedPeerIsNotGoneResetPeerIs) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  HttpResponder res(fds[0], true, 1000);
  ASSERT_EQ(shutdown(fds[1], SHUT_WR), 0);  // the client sent everything and half-closed
  EXPECT_FALSE(res.client_gone());
  res.begin_stream(200, "text/plain");
  EXPECT_TRUE(res.write_chunk("still reading"));
  char buf[256];
  EXPECT_GT(read(fds[1], buf, sizeof buf), 0);
  close(fds[1]);  // now it is really gone
  EXPECT_TRUE(res.client_gone() || !res.write_chunk("x"));
  EXPECT_TRUE(res.client_gone());
  close(fds[0]);
}
