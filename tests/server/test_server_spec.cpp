// The "speculative" request field (OpenAI and Triton bodies) and serve's default for it, through
// Server::handle with a recording backend; the speculative-decoding Prometheus counters.
#include <gtest/gtest.h>

#include <mutex>

#include "server/server.h"
#include "unit_harness.h"

using namespace ignis;
using namespace ignis::server;
using ignis::test::ByteTokenizer;

namespace {

// Records every request and answers it at once with one token.
class RecordingBackend : public Backend {
 public:
  std::shared_ptr<RequestHandle> submit(GenerateRequest req) override {
    std::lock_guard lk(mu);
    seen.push_back(req);
    auto h = std::make_shared<RequestHandle>(seen.size());
    StreamChunk c;
    c.tokens = {'x'};
    c.text = "x";
    c.finish = FinishReason::Length;
    h->push(c);
    return h;
  }
  EngineStats stats() const override { return {}; }
  std::mutex mu;
  std::vector<GenerateRequest> seen;
};

struct Harness {
  RecordingBackend backend;
  std::unique_ptr<Server> server;
  explicit Harness(bool spec_default, SpecConfig spec = {}) {
    ServedModel m;
    m.name = "m";
    m.max_model_len = 512;
    m.vocab_size = 256;
    ServerOptions o;
    o.access_log = false;
    o.speculative_default = spec_default;
    o.spec = spec;
    server = std::make_unique<Server>(backend, std::make_shared<ByteTokenizer>(), m, o, nullptr);
  }
  // Status of POSTing `body` to `path`.
  int post(const std::string& path, const std::string& body) { return test::post(*server, path, body).status; }
  bool last_speculative() {
    std::lock_guard lk(backend.mu);
    return backend.seen.back().speculative;
  }
  size_t count() {
    std::lock_guard lk(backend.mu);
    return backend.seen.size();
  }
};

}  // namespace

TEST(ServerSpec, OpenAiFieldAndServerDefault) {
  Harness on(true);
  EXPECT_EQ(on.post("/v1/completions", R"({"prompt": [65, 66], "max_tokens": 2})"), 200);
  EXPECT_TRUE(on.last_speculative());
  EXPECT_EQ(on.post("/v1/completions", R"({"prompt": [65, 66], "max_tokens": 2, "speculative": false})"), 200);
  EXPECT_FALSE(on.last_speculative());
  EXPECT_EQ(on.post("/v1/completions", R"({"prompt": [65], "max_tokens": 2, "n": 2, "speculative": false})"), 200);
  {
    std::lock_guard lk(on.backend.mu);
    ASSERT_GE(on.backend.seen.size(), 2u);
    EXPECT_FALSE(on.backend.seen[on.backend.seen.size() - 2].speculative);  // every choice
  }
  const size_t before = on.count();
  EXPECT_EQ(on.post("/v1/completions", R"({"prompt": [65], "speculative": "no"})"), 400);
  EXPECT_EQ(on.count(), before);

  Harness off(false);
  EXPECT_EQ(off.post("/v1/completions", R"({"prompt": [65, 66], "max_tokens": 2})"), 200);
  EXPECT_FALSE(off.last_speculative());
  EXPECT_EQ(off.post("/v1/completions", R"({"prompt": [65, 66], "max_tokens": 2, "speculative": true})"), 200);
  EXPECT_TRUE(off.last_speculative());
}

TEST(ServerSpec, TritonField) {
  Harness on(true);
  EXPECT_EQ(on.post("/v2/models/m/generate", R"({"text_input": "ab", "parameters": {"max_tokens": 2}})"), 200);
  EXPECT_TRUE(on.last_speculative());
  EXPECT_EQ(on.post("/v2/models/m/generate", R"({"text_input": "ab", "max_tokens": 2, "speculative": false})"), 200);
  EXPECT_FALSE(on.last_speculative());
  Harness off(false);
  EXPECT_EQ(off.post("/v2/models/m/generate", R"({"text_input": "ab", "max_tokens": 2})"), 200);
  EXPECT_FALSE(off.last_speculative());
}

TEST(ServerSpec, TritonLookaheadFieldsCheckedAgainstTheEngine) {
  SpecConfig la;
  la.method = SpecMethod::Lookahead;
  la.lookahead_window = 4, la.lookahead_ngram = 3, la.lookahead_verify = 4;
  Harness h(true, la);
  const std::string path = "/v2/models/m/generate";
  EXPECT_EQ(h.post(path, R"({"text_input": "ab", "max_tokens": 2})"), 200);
  {
    std::lock_guard lk(h.backend.mu);
    EXPECT_FALSE(h.backend.seen.back().lookahead.set());
  }
  EXPECT_EQ(h.post(path, R"({"text_input": "ab", "max_tokens": 2, "lookahead_window_size": 2,
                             "parameters": {"lookahead_ngram_size": 3, "lookahead_verification_set_size": 1}})"),
            200);
  {
    std::lock_guard lk(h.backend.mu);
    EXPECT_EQ(h.backend.seen.back().lookahead, (LookaheadParams{2, 3, 1}));
  }
  const size_t before = h.count();
  auto status = [&](const std::string& fields) {
    return h.post(path, R"({"text_input": "ab", "max_tokens": 2, )" + fields + "}");
  };
  // Larger than the engine's, one missing, out of range, all 0: 400s, nothing submitted.
  EXPECT_EQ(status(R"("lookahead_window_size": 8, "lookahead_ngram_size": 3, "lookahead_verification_set_size": 4)"), 400);
  EXPECT_EQ(status(R"("lookahead_window_size": 2, "lookahead_ngram_size": 3)"), 400);
  EXPECT_EQ(status(R"("lookahead_window_size": 2, "lookahead_ngram_size": 1, "lookahead_verification_set_size": 1)"), 400);
  EXPECT_EQ(status(R"("lookahead_window_size": 0, "lookahead_ngram_size": 0, "lookahead_verification_set_size": 0)"), 400);
  EXPECT_EQ(h.count(), before);
  // An engine without lookahead takes none.
  Harness plain(true);
  EXPECT_EQ(plain.post(path, R"({"text_input": "ab", "max_tokens": 2, "lookahead_window_size": 2,
                                 "lookahead_ngram_size": 3, "lookahead_verification_set_size": 1})"),
            400);
  EXPECT_EQ(plain.count(), 0u);
}

TEST(ServerSpec, PrometheusCounters) {
  Metrics m;
  EngineStats s;
  s.spec_steps = 7;
  s.spec_sequences = 9;
  s.spec_proposed_tokens = 40;
  s.spec_accepted_tokens = 30;
  const std::string text = m.render(s);
  for (const char* line : {"ignis_spec_steps_total 7", "ignis_spec_verified_sequences_total 9",
                           "ignis_spec_proposed_tokens_total 40", "ignis_spec_accepted_tokens_total 30",
                           "ignis_spec_acceptance_rate 0.75"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
}
