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
  explicit Harness(bool spec_default) {
    ServedModel m;
    m.name = "m";
    m.max_model_len = 512;
    m.vocab_size = 256;
    ServerOptions o;
    o.access_log = false;
    o.speculative_default = spec_default;
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
