// Engine behaviour on the FakeModel: lifecycle, finish reasons, rejection, errors.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine_test_util.h"

using namespace ignis;
using namespace ignis::testing;

namespace {

EngineConfig small_config(int blocks = 64, int block_size = 8) {
  EngineConfig c;
  c.max_batch_size = 8;
  c.max_num_tokens = 64;
  c.kv_block_size = block_size;
  c.kv_num_blocks = blocks;
  c.seed = 1;
  return c;
}

std::vector<int32_t> prompt_of(int n, int salt = 0) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(1 + (i * 7 + salt * 13) % 60);
  return p;
}

}  // namespace

TEST(Engine, GreedyRunsToLengthWithUsageAndTimings) {
  auto model = std::make_unique<FakeModel>();
  Engine e(std::move(model), small_config());
  auto h = e.submit(greedy_request(prompt_of(20), 12));
  Collected c = collect(*h);
  EXPECT_EQ(c.finish, FinishReason::Length);
  EXPECT_EQ(c.tokens.size(), 12u);
  EXPECT_TRUE(h->finished());
  EXPECT_EQ(h->finish_reason(), FinishReason::Length);
  RequestUsage u = h->usage();
  EXPECT_EQ(u.prompt_tokens, 20);
  EXPECT_EQ(u.completion_tokens, 12);
  RequestTimings t = h->timings();
  EXPECT_EQ(t.token_times.size(), 12u);
  EXPECT_LE(t.arrival, t.scheduled);
  EXPECT_LE(t.scheduled, t.first_token);
  EXPECT_LE(t.first_token, t.finished);
  // Same request again: same tokens (deterministic model, greedy).
  Collected c2 = collect(*e.submit(greedy_request(prompt_of(20), 12)));
  EXPECT_EQ(c2.tokens, c.tokens);
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.requests_finished, 2);
  EXPECT_EQ(s.generated_tokens, 24);
}

TEST(Engine, StopTokenAndEosEndWithStop) {
  auto model = std::make_unique<FakeModel>();
  Engine ref(std::make_unique<FakeModel>(), small_config());
  Collected base = collect(*ref.submit(greedy_request(prompt_of(9), 20)));
  ASSERT_EQ(base.tokens.size(), 20u);
  // Stop at the first occurrence of base.tokens[5] (the stop token is part of the output ids).
  int32_t stop = base.tokens[5];
  size_t first = std::find(base.tokens.begin(), base.tokens.end(), stop) - base.tokens.begin();
  Engine e(std::move(model), small_config());
  auto r = greedy_request(prompt_of(9), 20);
  r.sampling.stop_token_ids = {stop};
  Collected c = collect(*e.submit(r));
  EXPECT_EQ(c.finish, FinishReason::Stop);
  EXPECT_EQ(c.tokens, std::vector<int32_t>(base.tokens.begin(), base.tokens.begin() + first + 1));

  // The model's eos ends generation too, unless ignore_eos.
  auto eos_model = std::make_unique<FakeModel>();
  eos_model->mutable_config().eos_token_ids = {stop};
  Engine e2(std::move(eos_model), small_config());
  Collected c2 = collect(*e2.submit(greedy_request(prompt_of(9), 20)));
  EXPECT_EQ(c2.finish, FinishReason::Stop);
  EXPECT_EQ(c2.tokens.size(), first + 1);
  auto r3 = greedy_request(prompt_of(9), 20);
  r3.sampling.ignore_eos = true;
  Collected c3 = collect(*e2.submit(r3));
  EXPECT_EQ(c3.finish, FinishReason::Length);
  EXPECT_EQ(c3.tokens, base.tokens);
}

TEST(Engine, RejectsRequestsThatCanNeverFit) {
  auto model = std::make_unique<FakeModel>(64, 2, /*max_pos=*/100);
  Engine e(std::move(model), small_config(/*blocks=*/8, /*block_size=*/8));  // 64 tokens of KV
  EXPECT_THROW(e.submit(greedy_request({}, 4)), Error);                   // empty prompt
  EXPECT_THROW(e.submit(greedy_request(prompt_of(10), 0)), Error);        // max_tokens 0
  EXPECT_THROW(e.submit(greedy_request(prompt_of(90), 20)), Error);       // > max_model_len
  EXPECT_THROW(e.submit(greedy_request(prompt_of(60), 10)), Error);       // > pool
  EXPECT_THROW(e.submit(greedy_request({1, 2, 64}, 4)), Error);           // token outside vocab
  auto bad = greedy_request(prompt_of(4), 4);
  bad.sampling.top_p = 0;
  EXPECT_THROW(e.submit(bad), Error);
  auto strings = greedy_request(prompt_of(4), 4);
  strings.sampling.stop_strings = {"x"};
  EXPECT_THROW(e.submit(strings), Error);  // no tokenizer to match stop strings on
  // Exactly fitting the pool alone is accepted and completes: 60 + 5 - 1 = 64 KV slots.
  Collected c = collect(*e.submit(greedy_request(prompt_of(60), 5)));
  EXPECT_EQ(c.finish, FinishReason::Length);
  EXPECT_EQ(c.tokens.size(), 5u);
}

TEST(Engine, QueueFullIsRejectedWithQueueFullError) {
  auto model = std::make_unique<FakeModel>();
  std::promise<void> entered, release;
  auto release_f = release.get_future().share();
  std::atomic<bool> first{true};
  model->on_forward = [&](const ForwardBatch&) {
    if (first.exchange(false)) {
      entered.set_value();
      release_f.wait();
    }
  };
  EngineConfig cfg = small_config();
  cfg.max_batch_size = 1;
  cfg.max_queue = 2;
  Engine e(std::move(model), cfg);
  auto h1 = e.submit(greedy_request(prompt_of(5), 3));
  entered.get_future().wait();  // h1 admitted; the engine is blocked in forward
  auto h2 = e.submit(greedy_request(prompt_of(5, 1), 3));
  auto h3 = e.submit(greedy_request(prompt_of(5, 2), 3));
  EXPECT_EQ(e.stats().queued, 2);
  EXPECT_THROW(e.submit(greedy_request(prompt_of(5, 3), 3)), QueueFullError);
  release.set_value();
  for (auto* h : {h1.get(), h2.get(), h3.get()}) EXPECT_EQ(collect(*h).finish, FinishReason::Length);
  // Room again.
  EXPECT_EQ(collect(*e.submit(greedy_request(prompt_of(5, 3), 3))).finish, FinishReason::Length);
}

TEST(Engine, CancelReleasesBlocks) {
  auto model = std::make_unique<FakeModel>();
  std::atomic<int> steps{0};
  model->on_forward = [&](const ForwardBatch&) {
    ++steps;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  };
  Engine e(std::move(model), small_config());
  auto h = e.submit(greedy_request(prompt_of(30), 400));
  StreamChunk ch;
  ASSERT_TRUE(h->next(&ch, std::chrono::seconds(10)));  // it is running
  e.cancel(h);
  Collected c = collect(*h);
  EXPECT_EQ(c.finish, FinishReason::Cancelled);
  EXPECT_LT(c.tokens.size() + 1, 400u);
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.requests_cancelled, 1);
}

TEST(Engine, ModelExceptionFailsOnlyAffectedRequests) {
  auto model = std::make_unique<FakeModel>();
  model->fail_on_token = 63;
  EngineConfig cfg = small_config();
  cfg.max_batch_size = 1;  // one sequence per batch: the failure stays with its request
  Engine e(std::move(model), cfg);
  auto bad = e.submit(greedy_request({5, 63, 7}, 4));
  auto good = e.submit(greedy_request({5, 6, 7}, 4));
  Collected cb = collect(*bad), cg = collect(*good);
  EXPECT_EQ(cb.finish, FinishReason::Error);
  EXPECT_NE(cb.error.find("injected failure"), std::string::npos) << cb.error;
  EXPECT_EQ(cg.finish, FinishReason::Length);
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.requests_error, 1);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST(Engine, ShutdownEndsEveryAcceptedRequest) {
  auto model = std::make_unique<FakeModel>();
  model->on_forward = [](const ForwardBatch&) { std::this_thread::sleep_for(std::chrono::microseconds(100)); };
  auto e = std::make_unique<Engine>(std::move(model), small_config(32));
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 40; ++i) hs.push_back(e->submit(greedy_request(prompt_of(10 + i, i), 50)));
  e->shutdown();
  for (auto& h : hs) {
    EXPECT_TRUE(h->finished());
    Collected c = collect(*h, std::chrono::milliseconds(100));
    EXPECT_NE(c.finish, FinishReason::None);
  }
  EXPECT_THROW(e->submit(greedy_request(prompt_of(4), 4)), Error);
  e.reset();  // destructor after shutdown is fine
}

TEST(Engine, UnseededSamplingIsReproducibleWithEngineSeedAndSeededIsStable) {
  auto sampled = [](std::optional<uint64_t> req_seed, uint64_t engine_seed) {
    EngineConfig cfg = small_config();
    cfg.seed = engine_seed;
    Engine e(std::make_unique<FakeModel>(), cfg);
    GenerateRequest r;
    r.prompt_ids = prompt_of(8);
    r.sampling.temperature = 1.0f;
    r.sampling.max_tokens = 24;
    r.sampling.seed = req_seed;
    return collect(*e.submit(r)).tokens;
  };
  EXPECT_EQ(sampled(std::nullopt, 7), sampled(std::nullopt, 7));
  EXPECT_NE(sampled(std::nullopt, 7), sampled(std::nullopt, 8));  // 24 draws over 64 ids
  EXPECT_EQ(sampled(uint64_t(42), 7), sampled(uint64_t(42), 8));
}

TEST(Engine, LogprobsArePerToken) {
  Engine e(std::make_unique<FakeModel>(), small_config());
  auto r = greedy_request(prompt_of(8), 5);
  r.sampling.logprobs = 3;
  auto h = e.submit(r);
  StreamChunk ch;
  int n = 0;
  while (h->next(&ch, std::chrono::seconds(10))) {
    ASSERT_EQ(ch.logprobs.size(), ch.tokens.size());
    for (auto& lp : ch.logprobs) {
      EXPECT_LE(lp.logprob, 0.0f);
      ASSERT_EQ(lp.top.size(), 3u);
      EXPECT_EQ(lp.top[0].first, lp.token);  // greedy: the sampled token is the most likely
    }
    n += int(ch.tokens.size());
    if (ch.finish != FinishReason::None) break;
  }
  EXPECT_EQ(n, 5);
}
