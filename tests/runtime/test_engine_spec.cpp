// Speculative decoding through the engine over the FakeModel (whose logits hash every KV value
// read back through the block tables, so stale KV of a rejected proposal changes the output):
// greedy outputs identical to no speculation alone and in mixed batches with chunked prefill,
// preemption, prefix sharing, eos / stop ids / stop strings / max_tokens in the middle of a step;
// seeded sampled outputs identical too with a deterministic proposer; logprobs; opt-out; blocks
// all free; and the policy turning itself off / on with a fake clock.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine_test_util.h"
#include "piece_tokenizer.h"
#include "spec/ngram.h"
#include "spec_test_util.h"

using namespace ignis;
using namespace ignis::testing;

namespace {

constexpr int kEos = 0;

struct Spec {
  std::vector<int32_t> prompt;
  int max_tokens;
};

std::vector<Spec> make_specs(int n, uint64_t seed, int max_out = 40) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::vector<std::vector<int32_t>> shared;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> p;
    for (int k = uni(8, 30); k > 0; --k) p.push_back(uni(1, 62));
    shared.push_back(p);
  }
  std::vector<Spec> out;
  for (int i = 0; i < n; ++i) {
    Spec s;
    if (uni(0, 1)) s.prompt = shared[size_t(uni(0, 2))];
    for (int k = uni(1, 40); k > 0; --k) s.prompt.push_back(uni(1, 62));
    s.max_tokens = uni(1, max_out);
    out.push_back(std::move(s));
  }
  return out;
}

std::unique_ptr<FakeModel> fake(int eos = kEos) {
  auto m = std::make_unique<FakeModel>();
  if (eos >= 0) m->mutable_config().eos_token_ids = {eos};
  return m;
}

GenerateRequest request(const Spec& s, float temperature = 0, uint64_t seed = 0) {
  GenerateRequest r = greedy_request(s.prompt, s.max_tokens);
  r.sampling.temperature = temperature;
  if (temperature > 0) r.sampling.seed = seed;
  return r;
}

// Each request alone, no speculation: the reference.
std::vector<Collected> run_alone(const std::vector<Spec>& specs, float temperature = 0, int eos = kEos) {
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 64;
  cfg.enable_prefix_caching = false;
  Engine e(fake(eos), cfg);
  std::vector<Collected> out;
  for (size_t i = 0; i < specs.size(); ++i) out.push_back(collect(*e.submit(request(specs[i], temperature, 100 + i))));
  return out;
}

std::map<std::vector<int32_t>, std::vector<int32_t>> ref_map(const std::vector<Spec>& specs,
                                                             const std::vector<Collected>& ref) {
  std::map<std::vector<int32_t>, std::vector<int32_t>> m;
  for (size_t i = 0; i < specs.size(); ++i) m[specs[i].prompt] = ref[i].tokens;
  return m;
}

EngineConfig spec_cfg(int k, bool adaptive = false) {
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.spec.num_speculative_tokens = k;
  cfg.spec.policy.adaptive = adaptive;
  return cfg;
}

struct SpecRun {
  std::vector<Collected> out;
  EngineStats stats;
  int64_t budget_violations = 0, max_seen_tokens = 0;
};

SpecRun run_all(const std::vector<Spec>& specs, EngineConfig cfg, std::unique_ptr<Proposer> p, float temperature = 0,
            bool concurrent = true) {
  auto model = fake();
  model->limits = {cfg.max_batch_size, cfg.max_num_tokens};
  FakeModel* fm = model.get();
  Engine e(std::move(model), cfg, nullptr, std::move(p));
  SpecRun r;
  if (concurrent) {
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (size_t i = 0; i < specs.size(); ++i) hs.push_back(e.submit(request(specs[i], temperature, 100 + i)));
    for (auto& h : hs) r.out.push_back(collect(*h));
  } else {
    for (size_t i = 0; i < specs.size(); ++i) r.out.push_back(collect(*e.submit(request(specs[i], temperature, 100 + i))));
  }
  r.stats = wait_idle(e);
  r.budget_violations = fm->budget_violations.load();
  r.max_seen_tokens = fm->max_seen_tokens;
  return r;
}

void expect_same(const std::vector<Collected>& got, const std::vector<Collected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NE(got[i].finish, FinishReason::Error) << "request " << i << ": " << got[i].error;
    EXPECT_EQ(got[i].finish, want[i].finish) << "request " << i;
    EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i;
  }
}

}  // namespace

TEST(EngineSpec, GreedyBatchOneIdenticalWithOracleProposals) {
  auto specs = make_specs(30, 1);
  auto ref = run_alone(specs);
  auto oracle = std::make_unique<OracleProposer>(ref_map(specs, ref), 0.25, 64);
  auto op = oracle->counts;
  SpecRun r = run_all(specs, spec_cfg(4), std::move(oracle), 0, /*concurrent=*/false);
  expect_same(r.out, ref);
  EXPECT_GT(r.stats.spec_accepted_tokens, 50);
  EXPECT_LT(r.stats.spec_accepted_tokens, r.stats.spec_proposed_tokens);
  EXPECT_GT(r.stats.spec_sequences, 0);
  EXPECT_LT(r.stats.steps, int64_t(r.stats.generated_tokens)) << "several tokens per step";
  EXPECT_EQ(r.stats.kv_blocks_used, 0);
  EXPECT_EQ(op->finished, int(specs.size()));
  EXPECT_LE(op->max_k, 4);
}

TEST(EngineSpec, MixedBatchesWithChunkedPrefillAndPreemptionIdentical) {
  auto specs = make_specs(150, 2);
  auto ref = run_alone(specs);
  EngineConfig cfg = spec_cfg(5);
  cfg.max_batch_size = 10;
  cfg.max_num_tokens = 24;  // prefill chunks share steps with verification
  cfg.kv_num_blocks = 22;   // 176 slots: forces preemption
  auto oracle = std::make_unique<OracleProposer>(ref_map(specs, ref), 0.3, 64);
  auto op = oracle->counts;
  SpecRun r = run_all(specs, cfg, std::move(oracle));
  expect_same(r.out, ref);
  EXPECT_GT(r.stats.preemptions, 0);
  EXPECT_GT(op->preempted, 0);
  EXPECT_GT(r.stats.prefix_cache_hits, 0);
  EXPECT_GT(r.stats.spec_accepted_tokens, 100);
  EXPECT_EQ(r.budget_violations, 0);
  EXPECT_LE(r.max_seen_tokens, cfg.max_num_tokens);
  EXPECT_EQ(r.stats.kv_blocks_used, 0);
  int eos_stops = 0;
  for (auto& c : ref) eos_stops += c.finish == FinishReason::Stop;
  EXPECT_GT(eos_stops, 0) << "some outputs end on eos (in the middle of a step with speculation)";
}

TEST(EngineSpec, GarbageProposalsNeverChangeOutputs) {
  auto specs = make_specs(60, 3);
  auto ref = run_alone(specs);
  EngineConfig cfg = spec_cfg(6);
  cfg.max_batch_size = 8;
  cfg.max_num_tokens = 32;
  cfg.kv_num_blocks = 30;
  SpecRun r = run_all(specs, cfg, std::make_unique<OracleProposer>(std::map<std::vector<int32_t>, std::vector<int32_t>>{}, 1.0, 64));
  expect_same(r.out, ref);
  EXPECT_GT(r.stats.spec_proposed_tokens, 100);
  EXPECT_LT(r.stats.spec_accepted_tokens, r.stats.spec_proposed_tokens / 10);
  EXPECT_EQ(r.stats.kv_blocks_used, 0);
}

TEST(EngineSpec, NgramProposerIdentical) {
  // Prompts that repeat themselves, so prompt lookup finds matches.
  auto specs = make_specs(40, 4);
  for (auto& s : specs) {
    auto p = s.prompt;
    s.prompt.insert(s.prompt.end(), p.begin(), p.end());
  }
  auto ref = run_alone(specs);
  EngineConfig cfg = spec_cfg(4);
  cfg.spec.method = SpecMethod::Ngram;
  cfg.spec.ngram_min = 1;
  cfg.spec.ngram_max = 3;
  cfg.max_batch_size = 8;
  cfg.max_num_tokens = 40;
  cfg.kv_num_blocks = 40;
  SpecRun r = run_all(specs, cfg, nullptr);  // the engine builds the NgramProposer
  expect_same(r.out, ref);
  EXPECT_GT(r.stats.spec_proposed_tokens, 0);
  EXPECT_EQ(r.stats.kv_blocks_used, 0);
}

TEST(EngineSpec, MaxTokensAndMaxModelLenCapTheProposals) {
  std::vector<Spec> specs;
  for (int m : {1, 2, 3, 5, 9}) specs.push_back({{7, 8, 9, 10, 11}, m});
  for (auto& s : specs) s.prompt.push_back(s.max_tokens + 20);  // distinct prompts
  auto ref = run_alone(specs);
  auto oracle = std::make_unique<OracleProposer>(ref_map(specs, ref), 0.0, 64);
  SpecRun r = run_all(specs, spec_cfg(8), std::move(oracle));
  expect_same(r.out, ref);
  for (size_t i = 0; i < specs.size(); ++i)
    if (r.out[i].finish == FinishReason::Length) { EXPECT_EQ(int(r.out[i].tokens.size()), specs[i].max_tokens); }

  // max_model_len in the middle of a step.
  EngineConfig cfg = spec_cfg(8);
  cfg.max_model_len = 14;
  std::vector<Spec> one = {{{3, 4, 5, 6, 7, 8}, 8}};
  auto ref1 = run_alone(one);
  SpecRun r1 = run_all(one, cfg, std::make_unique<OracleProposer>(ref_map(one, ref1), 0.0, 64));
  expect_same(r1.out, ref1);
}

TEST(EngineSpec, StopIdsAndStopStringsInTheMiddleOfAStep) {
  auto tok = std::make_shared<PieceTokenizer>();
  const std::vector<int32_t> prompt = {5, 9, 14, 20, 33};
  EngineConfig base;
  base.kv_block_size = 8;
  base.kv_num_blocks = 32;
  Collected plain;
  {
    Engine e(fake(-1), base, tok);
    plain = collect(*e.submit(greedy_request(prompt, 40)));
  }
  ASSERT_EQ(plain.tokens.size(), 40u);
  // A stop id at token 13 and a stop string ending inside token 22's text.
  const int32_t stop_id = plain.tokens[13];
  const size_t first = size_t(std::find(plain.tokens.begin(), plain.tokens.end(), stop_id) - plain.tokens.begin());
  std::string text = tok->decode(plain.tokens, true);
  std::string prefix_text = tok->decode(std::vector<int32_t>(plain.tokens.begin(), plain.tokens.begin() + 22), true);
  const std::string stop_str = prefix_text.substr(prefix_text.size() - 3, 2);
  std::map<std::vector<int32_t>, std::vector<int32_t>> ref = {{prompt, plain.tokens}};
  for (int mode = 0; mode < 2; ++mode) {
    GenerateRequest r = greedy_request(prompt, 40);
    if (mode == 0) r.sampling.stop_token_ids = {stop_id};
    else r.sampling.stop_strings = {stop_str};
    Collected want, got;
    {
      Engine e(fake(-1), base, tok);
      want = collect(*e.submit(r));
    }
    EngineConfig cfg = spec_cfg(8);
    cfg.kv_num_blocks = 32;
    Engine e(fake(-1), cfg, tok, std::make_unique<OracleProposer>(ref, 0.0, 64));
    got = collect(*e.submit(r));
    EXPECT_EQ(got.finish, FinishReason::Stop) << mode;
    EXPECT_EQ(got.tokens, want.tokens) << mode;
    EXPECT_EQ(got.text, want.text) << mode;
    if (mode == 0) { EXPECT_EQ(got.tokens.size(), first + 1); }
    if (mode == 1) { EXPECT_EQ(got.text.find(stop_str), std::string::npos); }
    EXPECT_LT(got.chunks, int(got.tokens.size())) << "multi-token chunks";
    EngineStats s = wait_idle(e);
    EXPECT_GT(s.spec_accepted_tokens, 0);
    EXPECT_EQ(s.kv_blocks_used, 0);
  }
}

TEST(EngineSpec, LogprobsEqualWithoutSpeculation) {
  const std::vector<int32_t> prompt = {4, 8, 15, 16, 23, 42};
  GenerateRequest r = greedy_request(prompt, 24);
  r.sampling.logprobs = 3;
  auto read = [](RequestHandle& h) {
    std::vector<TokenLogprob> lp;
    StreamChunk c;
    while (h.next(&c)) {
      lp.insert(lp.end(), c.logprobs.begin(), c.logprobs.end());
      if (c.finish != FinishReason::None) break;
    }
    return lp;
  };
  EngineConfig base;
  base.kv_block_size = 8;
  base.kv_num_blocks = 32;
  std::vector<TokenLogprob> want, got;
  std::vector<int32_t> toks;
  {
    Engine e(fake(-1), base);
    want = read(*e.submit(r));
  }
  for (auto& l : want) toks.push_back(l.token);
  EngineConfig cfg = spec_cfg(5);
  Engine e(fake(-1), cfg, nullptr, std::make_unique<OracleProposer>(
                                       std::map<std::vector<int32_t>, std::vector<int32_t>>{{prompt, toks}}, 0.3, 64));
  got = read(*e.submit(r));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].token, want[i].token) << i;
    EXPECT_NEAR(got[i].logprob, want[i].logprob, 1e-6) << i;
    EXPECT_EQ(got[i].top, want[i].top) << i;
  }
  EXPECT_GT(wait_idle(e).spec_accepted_tokens, 0);
}

TEST(EngineSpec, SeededSamplingIdenticalWithADeterministicProposer) {
  // The deterministic proposer's rows take the same draw as without speculation.
  auto specs = make_specs(30, 5);
  auto ref = run_alone(specs, 0.7f);
  EngineConfig cfg = spec_cfg(4);
  cfg.max_batch_size = 6;
  cfg.kv_num_blocks = 40;
  SpecRun r = run_all(specs, cfg, std::make_unique<OracleProposer>(ref_map(specs, ref), 0.2, 64), 0.7f);
  expect_same(r.out, ref);
  EXPECT_GT(r.stats.spec_accepted_tokens, 50);
}

TEST(EngineSpec, SampledWithAFullProposalDistributionIsReproducible) {
  auto specs = make_specs(20, 6);
  auto ref = run_alone(specs, 1.0f);
  auto go = [&] {
    EngineConfig cfg = spec_cfg(3);
    cfg.kv_num_blocks = 40;
    return run_all(specs, cfg, std::make_unique<OracleProposer>(ref_map(specs, ref), 0.0, 64, /*with_q=*/true), 1.0f,
                   /*concurrent=*/false);
  };
  SpecRun a = go(), b = go();
  expect_same(a.out, b.out);
  EXPECT_GT(a.stats.spec_accepted_tokens, 0);  // q uniform, p close to uniform: many accepted
  EXPECT_EQ(a.stats.kv_blocks_used, 0);
  for (size_t i = 0; i < specs.size(); ++i) EXPECT_LE(int(a.out[i].tokens.size()), specs[i].max_tokens);
}

TEST(EngineSpec, OptOutAndCancellation) {
  auto specs = make_specs(12, 7, 60);
  auto ref = run_alone(specs);
  EngineConfig cfg = spec_cfg(4);
  cfg.kv_num_blocks = 60;
  auto model = fake();
  Engine e(std::move(model), cfg, nullptr, std::make_unique<OracleProposer>(ref_map(specs, ref), 0.2, 64));
  // Opted-out requests alone: nothing is proposed.
  for (size_t i = 0; i < 3; ++i) {
    GenerateRequest r = request(specs[i]);
    r.speculative = false;
    Collected c = collect(*e.submit(r));
    EXPECT_EQ(c.tokens, ref[i].tokens);
  }
  EXPECT_EQ(e.stats().spec_proposed_tokens, 0);
  // The rest, some cancelled right away.
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (size_t i = 3; i < specs.size(); ++i) hs.push_back(e.submit(request(specs[i])));
  for (size_t i = 0; i < hs.size(); i += 3) hs[i]->cancel();
  for (size_t i = 0; i < hs.size(); ++i) {
    Collected c = collect(*hs[i]);
    const auto& want = ref[i + 3].tokens;
    ASSERT_LE(c.tokens.size(), want.size());
    EXPECT_TRUE(std::equal(c.tokens.begin(), c.tokens.end(), want.begin())) << i;
  }
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

namespace {
// The policy through the engine with a fake clock: each forward advances it by a + b * tokens.
EngineStats run_with_clock(double a, double b, double corrupt, int batch) {
  auto specs = make_specs(batch, 8, 40);
  for (auto& s : specs) s.max_tokens = 40;
  auto ref = run_alone(specs, 0, /*eos=*/-1);
  auto model = fake(-1);
  auto now = std::make_shared<std::atomic<int64_t>>(0);  // nanoseconds
  model->on_forward = [now, a, b](const ForwardBatch& fb) {
    now->fetch_add(int64_t((a + b * double(fb.tokens.size())) * 1e9));
  };
  EngineConfig cfg = spec_cfg(4, /*adaptive=*/true);
  cfg.kv_num_blocks = 200;
  cfg.max_batch_size = batch;
  cfg.spec.clock = [now] { return double(now->load()) * 1e-9; };
  Engine e(std::move(model), cfg, nullptr, std::make_unique<OracleProposer>(ref_map(specs, ref), corrupt, 64));
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& s : specs) {
    GenerateRequest r = request(s);
    r.sampling.ignore_eos = true;
    hs.push_back(e.submit(r));
  }
  for (auto& h : hs) collect(*h);
  return wait_idle(e);
}
}  // namespace

TEST(EngineSpec, PolicyOnWhenStepsAreFlatAndProposalsGood) {
  EngineStats s = run_with_clock(10e-3, 0.01e-3, 0.05, 2);
  EXPECT_GT(s.spec_proposed_tokens, s.generated_tokens / 2);
  EXPECT_GT(double(s.spec_accepted_tokens) / double(s.spec_proposed_tokens), 0.6);
}

TEST(EngineSpec, PolicyOffWhenEveryTokenCostsAndProposalsAreBad) {
  EngineStats s = run_with_clock(1e-3, 1e-3, 0.9, 8);
  EXPECT_LT(s.spec_proposed_tokens, s.generated_tokens / 4);
}
