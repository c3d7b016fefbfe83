// Token-tree speculation on models/demo (CPU backend): lookahead decoding (spec/lookahead.h) and
// an oracle proposing random trees around the true continuation. Greedy output identical to no
// speculation at batch 1, in mixed batches (requests that opt out next to ones that speculate)
// with prefill chunks and preemption, with stop strings, stop ids and max_tokens in the middle
// of a step; seeded sampled output identical too (tree rows are sampled with the token's own
// uniform); every KV block free afterwards; on repetitive text lookahead accepts well over one
// token per step; the CUDA-less backend check (a backend without trees refuses lookahead).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "spec/lookahead.h"
#include "tokenizer/tokenizer.h"
#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kTarget = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";

using Out = test::Collected;
using test::collect;

// Proposes, for each sequence, a random tree of up to k nodes that contains the true greedy
// continuation (from the reference outputs) as one path, at random child positions, among
// wrong branches; with probability `corrupt` the true path is cut short by a wrong token.
class TreeOracle : public Proposer {
 public:
  TreeOracle(std::map<std::vector<int32_t>, std::vector<int32_t>> ref, int vocab, double corrupt)
      : ref_(std::move(ref)), vocab_(vocab), corrupt_(corrupt) {}
  const char* name() const override { return "tree-oracle"; }
  bool proposes_trees() const override { return true; }
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager&, std::vector<Proposal>& out) override {
    out.resize(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const SpecSeq& s = seqs[i];
      Proposal& p = out[i];
      p.clear();
      std::vector<int32_t> prompt(s.tokens.begin(), s.tokens.begin() + s.num_prompt);
      auto it = ref_.find(prompt);
      const size_t gen = s.tokens.size() - size_t(s.num_prompt);
      auto rnd = [&](int n) { return int(rng_() % uint64_t(n)); };
      auto wrong = [&] { return int32_t(3 + rnd(vocab_ - 3)); };
      std::vector<int> depth;     // per node, the root at 0
      int32_t truth = -1;         // the node holding the last true token (-1: the root)
      bool open = it != ref_.end();  // the true path may still grow
      auto push = [&](int32_t t, int32_t parent) {
        p.tokens.push_back(t);
        p.parents.push_back(parent);
        depth.push_back(parent < 0 ? 1 : depth[size_t(parent)] + 1);
      };
      for (int j = 0; j < s.k; ++j) {
        const size_t idx = gen + size_t(truth < 0 ? 0 : depth[size_t(truth)]);
        if (open && idx < it->second.size() && rnd(2) == 0) {
          const bool bad = std::bernoulli_distribution(corrupt_)(rng_);
          push(bad ? wrong() : it->second[idx], truth);
          if (bad) open = false;
          else truth = int32_t(p.tokens.size()) - 1;
        } else {
          push(wrong(), int32_t(rnd(int(p.tokens.size()) + 1)) - 1);  // under a random earlier node
        }
      }
    }
  }

 private:
  std::map<std::vector<int32_t>, std::vector<int32_t>> ref_;
  int vocab_;
  double corrupt_;
  std::mt19937_64 rng_{7};
};

class DemoTree : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kTarget / "tokenizer.json")) return;
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kTarget));
    prompts_ = test::demo_prompts(kTarget, *tok_);
    auto e = engine(SpecMethod::None, nullptr, 256, 2048);
    for (auto& p : prompts_) ref_.push_back(collect(*e->submit(request(p, kMaxTokens))));
  }
  static void TearDownTestSuite() {
    prompts_.clear();
    ref_.clear();
    tok_.reset();
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << "models/demo has no tokenizer.json: run scripts/fetch-assets.sh";
  }

  static constexpr int kMaxTokens = 24;

  static GenerateRequest request(const std::vector<int32_t>& p, int max_tokens, float temperature = 0,
                                 uint64_t seed = 0) {
    return test::demo_request(p, max_tokens, temperature, seed);
  }

  // An engine over the demo target on the CPU (fixed policy): lookahead (W, N, G), or `proposer`.
  static std::unique_ptr<Engine> engine(SpecMethod method, std::unique_ptr<Proposer> proposer, int blocks,
                                        int max_num_tokens, int max_batch = 16, int W = 4, int N = 3, int G = 4,
                                        int k = 12, bool adaptive = false) {
    ModelLoadOptions lo;
    lo.device = "cpu";
    LoadedModel lm = load_model(kTarget, lo, 16);
    EngineConfig ec;
    ec.kv_block_size = 16;
    ec.kv_num_blocks = blocks;
    ec.max_num_tokens = max_num_tokens;
    ec.max_batch_size = max_batch;
    ec.spec.method = method;
    ec.spec.num_speculative_tokens = k;
    ec.spec.lookahead_window = W;
    ec.spec.lookahead_ngram = N;
    ec.spec.lookahead_verify = G;
    ec.spec.policy.adaptive = adaptive;
    if (!proposer && method != SpecMethod::None) proposer = make_proposer(ec.spec);
    return std::make_unique<Engine>(std::move(lm.model), ec, tok_, std::move(proposer));
  }
  static std::unique_ptr<Engine> lookahead(int blocks, int max_num_tokens, int max_batch = 16, int W = 4, int N = 3,
                                           int G = 4) {
    return engine(SpecMethod::Lookahead, nullptr, blocks, max_num_tokens, max_batch, W, N, G);
  }

  static void expect_reference(const std::vector<Out>& got) { test::expect_same_outputs(got, ref_); }
  static EngineStats idle(Engine& e) { return test::wait_idle(e); }
  static std::map<std::vector<int32_t>, std::vector<int32_t>> ref_map() {
    std::map<std::vector<int32_t>, std::vector<int32_t>> m;
    for (size_t i = 0; i < prompts_.size(); ++i) m[prompts_[i]] = ref_[i].tokens;
    return m;
  }

  static inline std::shared_ptr<const Tokenizer> tok_;
  static inline std::vector<std::vector<int32_t>> prompts_;
  static inline std::vector<Out> ref_;
};

}  // namespace

TEST_F(DemoTree, TreeOracleBatchOneAndMixedIdentical) {
  for (int concurrent = 0; concurrent < 2; ++concurrent) {
    // The concurrent case needs the requests in flight together (16 blocks cannot hold them all, so
    // some are preempted); on a loaded machine the submitting thread can be descheduled long enough
    // for an early 24-token request to finish alone, so that case gets a few attempts, each checked.
    int64_t preemptions = 0;
    for (int attempt = 0; attempt < (concurrent ? 4 : 1) && (!concurrent || preemptions == 0); ++attempt) {
      auto e = engine(SpecMethod::None, std::make_unique<TreeOracle>(ref_map(), 4000, 0.2), concurrent ? 16 : 256,
                      concurrent ? 48 : 2048, 6);
      std::vector<std::shared_ptr<RequestHandle>> hs;
      std::vector<Out> got;
      for (auto& p : prompts_) {
        if (!concurrent) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
        else hs.push_back(e->submit(request(p, kMaxTokens)));
      }
      for (auto& h : hs) got.push_back(collect(*h));
      expect_reference(got);
      EngineStats s = idle(*e);
      EXPECT_EQ(s.kv_blocks_used, 0);
      EXPECT_GT(s.spec_accepted_tokens, 20) << "concurrent " << concurrent;
      EXPECT_LT(s.spec_accepted_tokens, s.spec_proposed_tokens);
      preemptions = s.preemptions;
    }
    if (concurrent) {
      EXPECT_GT(preemptions, 0);
    }
  }
}

TEST_F(DemoTree, LookaheadBatchOneIdentical) {
  auto e = lookahead(256, 2048);
  std::vector<Out> got;
  for (auto& p : prompts_) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  EXPECT_LT(s.steps, s.generated_tokens) << "several tokens per step";
}

// TensorRT-LLM's (W, N, G) = (8, 8, 8): trees of up to 112 nodes per step, beyond
// --num-speculative-tokens' 64 (the policy takes a lookahead tree's size as its K). The window needs
// W (N - 1) + 1 = 57 KV positions left before max_tokens, so these requests are longer.
TEST_F(DemoTree, LookaheadWithLargeTreesIdentical) {
  constexpr int kLong = 80;
  auto plain = engine(SpecMethod::None, nullptr, 256, 2048);
  auto e = lookahead(256, 2048, 16, 8, 8, 8);
  for (size_t i = 0; i < 1; ++i) {
    Out want = collect(*plain->submit(request(prompts_[i], kLong)));
    Out got = collect(*e->submit(request(prompts_[i], kLong)));
    ASSERT_NE(got.finish, FinishReason::Error) << got.error;
    EXPECT_EQ(got.tokens, want.tokens) << "prompt " << i;
  }
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_GT(s.spec_proposed_tokens, 56 * s.spec_sequences / 2) << "large trees (57 to 113 nodes while the window runs)";
}

TEST_F(DemoTree, LookaheadMixedBatchesWithOptOutChunksAndPreemptionIdentical) {
  // 40-token steps next to prefill chunks; 14 blocks of 16 cannot hold every sequence at once.
  for (auto [W, N, G] : {std::tuple{3, 3, 2}, std::tuple{2, 4, 3}, std::tuple{5, 2, 0}}) {
    auto e = lookahead(14, 40, 6, W, N, G);
    EXPECT_GT(test::expect_mixed_opt_out_identical(*e, prompts_, ref_, kMaxTokens).preemptions, 0)
        << W << " " << N << " " << G;
  }
}

TEST_F(DemoTree, LookaheadStopsAndLengthInTheMiddleOfAStep) {
  auto plain = engine(SpecMethod::None, nullptr, 64, 2048);
  auto spec = lookahead(64, 2048);
  EXPECT_GE(test::compare_mid_step_stops(*plain, *spec, prompts_, ref_, 2, kMaxTokens), 6);
  EXPECT_EQ(idle(*spec).kv_blocks_used, 0);
}

TEST_F(DemoTree, SeededSamplingIdenticalWithTrees) {
  auto plain = engine(SpecMethod::None, nullptr, 64, 2048);
  auto spec = lookahead(64, 2048);
  test::expect_seeded_sampling_identical(*plain, *spec, prompts_, 1, kMaxTokens);
}

TEST_F(DemoTree, LookaheadAcceptsSeveralTokensPerStepOnRepetitiveText) {
  // A repeated block of code: greedy decoding continues the repetition, and the Jacobi window's
  // n-grams match it.
  std::string block = "for i in range(10):\n    total += values[i] * weight\n";
  std::string text;
  for (int i = 0; i < 6; ++i) text += block;
  std::vector<int32_t> prompt = {1};
  for (int32_t t : tok_->encode(text, false)) prompt.push_back(t);
  const int max_tokens = 64;
  auto plain = engine(SpecMethod::None, nullptr, 64, 2048);
  auto spec = lookahead(64, 2048, 16, 5, 4, 5);
  Out want = collect(*plain->submit(request(prompt, max_tokens)));
  Out got = collect(*spec->submit(request(prompt, max_tokens)));
  EXPECT_EQ(got.tokens, want.tokens);
  EngineStats s = idle(*spec);
  ASSERT_GT(s.spec_sequences, 0);
  const double per_step = double(s.spec_accepted_tokens + s.spec_sequences) / double(s.spec_sequences);
  std::fprintf(stderr, "lookahead on repetitive text: %lld verifications, %lld tokens accepted, %.2f tokens/step\n",
               (long long)s.spec_sequences, (long long)s.spec_accepted_tokens, per_step);
  EXPECT_GT(per_step, 1.8);
}

TEST_F(DemoTree, AdaptivePolicyOffersWholeTreesOrNone) {
  // The adaptive policy (the CLI's default) only switches a tree proposer on or off: either way
  // the output is the reference, and whatever it verified were whole trees (W * (N - 1) = 8
  // lookahead nodes each, except where max_tokens cuts them).
  auto e = engine(SpecMethod::Lookahead, nullptr, 256, 2048, 16, 4, 3, 4, 12, /*adaptive=*/true);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& p : prompts_) hs.push_back(e->submit(request(p, kMaxTokens)));
  std::vector<Out> got;
  for (auto& h : hs) got.push_back(collect(*h));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  if (s.spec_sequences > 0) {
    EXPECT_GT(s.spec_proposed_tokens, s.spec_sequences * 4);
  }
}

TEST_F(DemoTree, PerRequestLookaheadParameters) {
  auto e = lookahead(256, 2048);  // the engine's (4, 3, 4)
  std::vector<Out> got;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    GenerateRequest r = request(prompts_[i], kMaxTokens);
    if (i % 2 == 0) r.lookahead = {2, 2, 1};
    else if (i % 3 == 0) r.lookahead = {4, 3, 0};
    got.push_back(collect(*e->submit(r)));
  }
  expect_reference(got);
  GenerateRequest big = request(prompts_[0], 4);
  big.lookahead = {5, 3, 4};
  EXPECT_THROW(e->submit(big), Error);
  auto plain = engine(SpecMethod::None, nullptr, 64, 2048);
  GenerateRequest some = request(prompts_[0], 4);
  some.lookahead = {2, 2, 1};
  EXPECT_THROW(plain->submit(some), Error) << "lookahead parameters without lookahead";
  EXPECT_EQ(idle(*e).kv_blocks_used, 0);
}

TEST_F(DemoTree, LookaheadWithSharedPrefixBlocksIdentical) {
  // The same prompts again, twice at once: they find the prompt's blocks (and the first run's
  // committed output blocks) in the prefix cache, while trees are written and compacted next to them.
  auto e = lookahead(64, 2048, 16);
  const size_t first = prompts_.size() - 3;  // the longest (held-out) prompts: several blocks each
  for (size_t i = first; i < prompts_.size(); ++i) EXPECT_EQ(collect(*e->submit(request(prompts_[i], kMaxTokens))).tokens, ref_[i].tokens);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int rep = 0; rep < 2; ++rep)
    for (size_t i = first; i < prompts_.size(); ++i) hs.push_back(e->submit(request(prompts_[i], kMaxTokens)));
  for (size_t k = 0; k < hs.size(); ++k) {
    Out o = collect(*hs[k]);
    ASSERT_NE(o.finish, FinishReason::Error) << o.error;
    EXPECT_EQ(o.tokens, ref_[first + k % 3].tokens) << "request " << k;
  }
  EngineStats s = idle(*e);
  EXPECT_GT(s.prefix_cache_hits, 0);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST_F(DemoTree, CpuBackendTakesTreesAndProposerKnowsIt) {
  ModelLoadOptions lo;
  lo.device = "cpu";
  LoadedModel lm = load_model(kTarget, lo, 16);
  EXPECT_TRUE(lm.model->supports_tree());
  EXPECT_TRUE(LookaheadProposer(2, 2, 1).proposes_trees());
}
