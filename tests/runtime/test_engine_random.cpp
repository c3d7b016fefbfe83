// Randomized in-flight batching test: hundreds of requests with random lengths, arrival
// times and cancellations over a KV pool small enough to force preemption. Batching,
// chunking, prefix reuse and preemption must not change any greedy output.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine_test_util.h"

using namespace ignis;
using namespace ignis::testing;

namespace {

struct Spec {
  std::vector<int32_t> prompt;
  int max_tokens;
  int priority;
};

std::vector<Spec> make_specs(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::vector<std::vector<int32_t>> shared;  // common prefixes (system prompts)
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> p;
    for (int k = uni(8, 40); k > 0; --k) p.push_back(uni(1, 62));
    shared.push_back(p);
  }
  std::vector<Spec> out;
  for (int i = 0; i < n; ++i) {
    Spec s;
    if (uni(0, 1)) s.prompt = shared[size_t(uni(0, 3))];
    for (int k = uni(1, 90); k > 0; --k) s.prompt.push_back(uni(1, 62));
    s.max_tokens = uni(1, 48);
    s.priority = uni(0, 9) == 0 ? 1 : 0;
    out.push_back(std::move(s));
  }
  return out;
}

GenerateRequest to_request(const Spec& s) {
  auto r = greedy_request(s.prompt, s.max_tokens);
  r.priority = s.priority;
  return r;
}

// Each request alone on a fresh-enough engine with a large pool and no prefix cache.
std::vector<Collected> run_alone(const std::vector<Spec>& specs, int eos) {
  auto model = std::make_unique<FakeModel>();
  model->mutable_config().eos_token_ids = {eos};
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 64;
  cfg.enable_prefix_caching = false;
  Engine e(std::move(model), cfg);
  std::vector<Collected> out;
  for (const auto& s : specs) out.push_back(collect(*e.submit(to_request(s))));
  return out;
}

}  // namespace

TEST(EngineRandom, BatchingChunkingPreemptionDoNotChangeGreedyOutputs) {
  const int kEos = 0;
  auto specs = make_specs(300, 2024);
  auto ref = run_alone(specs, kEos);

  auto model = std::make_unique<FakeModel>();
  model->mutable_config().eos_token_ids = {kEos};
  EngineConfig cfg;
  cfg.max_batch_size = 12;
  cfg.max_num_tokens = 48;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 24;  // 192 token slots: a few long requests exhaust it
  cfg.seed = 3;
  model->limits = {cfg.max_batch_size, cfg.max_num_tokens};
  FakeModel* fm = model.get();
  Engine e(std::move(model), cfg);

  std::vector<std::shared_ptr<RequestHandle>> hs(specs.size());
  std::vector<bool> cancelled(specs.size(), false);
  std::thread submitter([&] {
    std::mt19937_64 rng(99);
    for (size_t i = 0; i < specs.size(); ++i) {
      hs[i] = e.submit(to_request(specs[i]));
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
      if (rng() % 10 == 0) {  // cancel a random earlier request, whatever its state
        size_t j = rng() % (i + 1);
        cancelled[j] = true;
        hs[j]->cancel();
      }
    }
  });
  submitter.join();

  int compared = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    Collected c = collect(*hs[i]);
    ASSERT_NE(c.finish, FinishReason::None) << "request " << i << " never ended: " << c.error;
    ASSERT_NE(c.finish, FinishReason::Error) << "request " << i << ": " << c.error;
    if (cancelled[i] && c.finish == FinishReason::Cancelled) {
      ASSERT_LE(c.tokens.size(), ref[i].tokens.size());
      EXPECT_TRUE(std::equal(c.tokens.begin(), c.tokens.end(), ref[i].tokens.begin())) << "request " << i;
      continue;
    }
    EXPECT_EQ(c.finish, ref[i].finish) << "request " << i;
    EXPECT_EQ(c.tokens, ref[i].tokens) << "request " << i;
    ++compared;
  }
  EXPECT_GT(compared, 200);
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.kv_blocks_used, 0) << "leaked blocks";
  EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);
  EXPECT_GT(s.preemptions, 0) << "the pool was meant to force preemption";
  EXPECT_GT(s.prefix_cache_hits, 0);
  EXPECT_EQ(fm->budget_violations.load(), 0);
  EXPECT_LE(fm->max_seen_tokens, cfg.max_num_tokens);
  EXPECT_LE(fm->max_seen_seqs, cfg.max_batch_size);
  EXPECT_EQ(s.requests_finished + s.requests_cancelled, int64_t(specs.size()));
}

TEST(EngineRandom, PrefixReuseSkipsCachedTokensWithIdenticalOutputs) {
  std::vector<int32_t> system;
  for (int i = 0; i < 70; ++i) system.push_back(1 + (i * 11) % 61);
  std::vector<std::vector<int32_t>> prompts;
  for (int k = 0; k < 4; ++k) {
    auto p = system;
    for (int i = 0; i < 5 + k; ++i) p.push_back(2 + (k * 5 + i) % 50);
    prompts.push_back(p);
  }
  auto run = [&](bool caching, int64_t* computed, EngineStats* stats, std::vector<int>* cached) {
    auto model = std::make_unique<FakeModel>();
    FakeModel* fm = model.get();
    EngineConfig cfg;
    cfg.kv_block_size = 16;
    cfg.kv_num_blocks = 64;
    cfg.enable_prefix_caching = caching;
    Engine e(std::move(model), cfg);
    std::vector<std::vector<int32_t>> outs;
    for (auto& p : prompts) {  // one after the other: later ones find the earlier blocks
      auto h = e.submit(greedy_request(p, 6));
      outs.push_back(collect(*h).tokens);
      cached->push_back(h->usage().cached_prompt_tokens);
    }
    *stats = wait_idle(e);
    *computed = fm->computed_tokens.load();
    return outs;
  };
  int64_t computed_on = 0, computed_off = 0;
  EngineStats s_on, s_off;
  std::vector<int> cached_on, cached_off;
  auto on = run(true, &computed_on, &s_on, &cached_on);
  auto off = run(false, &computed_off, &s_off, &cached_off);
  EXPECT_EQ(on, off);
  // The 70-token system prompt spans 4 full blocks of 16 = 64 reusable tokens.
  EXPECT_EQ(cached_on, (std::vector<int>{0, 64, 64, 64}));
  EXPECT_EQ(cached_off, (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(computed_off - computed_on, 3 * 64);
  EXPECT_EQ(s_off.computed_prefill_tokens - s_on.computed_prefill_tokens, 3 * 64);
  EXPECT_EQ(s_on.prefix_cache_hits, 3 * 64);
}

TEST(EngineRandom, SlidingWindowModelMatchesRunAlone) {
  // Window of 20 over blocks of 8: old blocks are released while generating.
  auto specs = make_specs(40, 7);
  auto run = [&](int blocks, int batch) {
    auto model = std::make_unique<FakeModel>(64, 2, 4096, /*sliding_window=*/20);
    EngineConfig cfg;
    cfg.kv_block_size = 8;
    cfg.kv_num_blocks = blocks;
    cfg.max_batch_size = batch;
    cfg.max_num_tokens = 32;
    Engine e(std::move(model), cfg);
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (auto& s : specs) hs.push_back(e.submit(to_request(s)));
    std::vector<std::vector<int32_t>> out;
    for (auto& h : hs) out.push_back(collect(*h).tokens);
    EngineStats st = wait_idle(e);
    EXPECT_EQ(st.kv_blocks_used, 0);
    return out;
  };
  auto alone = run(64, 1);
  auto batched = run(12, 8);  // 12 blocks: only the window is kept per sequence
  EXPECT_EQ(alone, batched);
}
