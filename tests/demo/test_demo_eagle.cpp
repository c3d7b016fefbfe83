// EAGLE on models/demo (CPU backend) with an untrained head written by the test (one decoder layer,
// the demo's hidden size 192 and vocabulary; fc ~ [noise | I] and small attention / MLP outputs, so
// its guesses are the target's own previous distribution, or fully random weights). Greedy output
// identical to no speculation at batch 1 (two tree shapes), in mixed batches (requests that opt out
// next to ones that speculate) with prefill chunks and preemption, with stop strings and max_tokens
// inside a step, after a prefix-cache hit (positions without hidden states); seeded sampled output
// identical; every KV block free afterwards. A trained head (tools/train) is what makes EAGLE fast;
// these only make it exercise the proposer, the tree verification and the hidden rows.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../spec/eagle_test_util.h"
#include "core/error.h"
#include "model/cpu_model.h"
#include "runtime/draft_loader.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "spec/eagle.h"
#include "tokenizer/tokenizer.h"
#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kTarget = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";

using Out = test::Collected;
using test::collect;

struct Tree {
  int total, depth, topk;
};

class DemoEagle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kTarget / "tokenizer.json")) return;
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kTarget));
    head_dir_ = fs::temp_directory_path() / ("ignis_demo_eagle_" + std::to_string(::getpid()));
    random_dir_ = head_dir_.string() + "_random";
    const ModelConfig t = load_model_config(kTarget);
    ignis::testing::EagleHeadSpec s;
    s.hidden = t.hidden_size, s.vocab = t.vocab_size, s.heads = 3, s.kv_heads = 1, s.head_dim = 64;
    s.intermediate = 256;
    s.pass_through = true;
    s.scale = 0.02f;
    ignis::testing::write_eagle_head(head_dir_, s);
    s.pass_through = false;
    s.seed = 99;
    ignis::testing::write_eagle_head(random_dir_, s);
    prompts_ = test::demo_prompts(kTarget, *tok_);
    auto e = engine(false, 256, 2048);
    for (auto& p : prompts_) ref_.push_back(collect(*e->submit(request(p, kMaxTokens))));
  }
  static void TearDownTestSuite() {
    prompts_.clear();
    ref_.clear();
    tok_.reset();
    fs::remove_all(head_dir_);
    fs::remove_all(random_dir_);
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << "models/demo has no tokenizer.json: run scripts/fetch-assets.sh";
  }

  static constexpr int kMaxTokens = 24;

  static GenerateRequest request(const std::vector<int32_t>& p, int max_tokens, float temperature = 0,
                                 uint64_t seed = 0) {
    return test::demo_request(p, max_tokens, temperature, seed);
  }

  // The demo target on the CPU (fixed policy), with EAGLE over the test's head (built as the CLI
  // builds it: load_eagle_draft) or without.
  static std::unique_ptr<Engine> engine(bool eagle, int blocks, int max_num_tokens, int max_batch = 16,
                                        Tree tree = {8, 3, 3}, bool random_head = false) {
    ModelLoadOptions lo;
    lo.device = "cpu";
    LoadedModel lm = load_model(kTarget, lo, 16);
    EngineConfig ec;
    ec.kv_block_size = 16;
    ec.kv_num_blocks = blocks;
    ec.max_num_tokens = max_num_tokens;
    ec.max_batch_size = max_batch;
    ec.spec.policy.adaptive = false;
    std::unique_ptr<Proposer> p;
    if (eagle) {
      ec.spec.method = SpecMethod::Eagle;
      ec.spec.eagle_total_tokens = tree.total;
      ec.spec.eagle_depth = tree.depth;
      ec.spec.eagle_topk = tree.topk;
      LoadedDraft d = load_eagle_draft(random_head ? random_dir_ : head_dir_, kTarget, *lm.model, blocks, lo, 16);
      p = make_eagle_proposer(std::move(d.model), ec.spec);
    }
    return std::make_unique<Engine>(std::move(lm.model), ec, tok_, std::move(p));
  }

  static void expect_reference(const std::vector<Out>& got) { test::expect_same_outputs(got, ref_); }
  static EngineStats idle(Engine& e) { return test::wait_idle(e); }

  static inline std::shared_ptr<const Tokenizer> tok_;
  static inline fs::path head_dir_, random_dir_;
  static inline std::vector<std::vector<int32_t>> prompts_;
  static inline std::vector<Out> ref_;
};

}  // namespace

TEST_F(DemoEagle, BatchOneIdentical) {
  // Every prompt with the small tree and the pass-through head; the first three with a random
  // head and with a bigger tree (the CPU's time goes into the lm_head rows of every tree pass).
  for (const auto& [tree, random_head] : {std::pair{Tree{8, 3, 3}, false}, std::pair{Tree{8, 3, 3}, true},
                                          std::pair{Tree{16, 4, 4}, false}}) {
    {
      auto e = engine(true, 256, 2048, 16, tree, random_head);
      const size_t n = tree.total == 8 && !random_head ? prompts_.size() : 3;
      for (size_t i = 0; i < n; ++i) {
        const Out got = collect(*e->submit(request(prompts_[i], kMaxTokens)));
        ASSERT_NE(got.finish, FinishReason::Error) << got.error;
        EXPECT_EQ(got.tokens, ref_[i].tokens) << "prompt " << i;
        EXPECT_EQ(got.text, ref_[i].text) << "prompt " << i;
      }
      EngineStats s = idle(*e);
      EXPECT_EQ(s.kv_blocks_used, 0);
      EXPECT_GT(s.spec_sequences, 0);
      std::fprintf(stderr,
                   "eagle (total %d, depth %d, top-k %d, %s head) on demo: %lld verifications, %lld accepted, %lld "
                   "steps for %lld tokens\n",
                   tree.total, tree.depth, tree.topk, random_head ? "random" : "pass-through",
                   (long long)s.spec_sequences, (long long)s.spec_accepted_tokens, (long long)s.steps,
                   (long long)s.generated_tokens);
    }
  }
}

TEST_F(DemoEagle, MixedBatchesWithOptOutChunksAndPreemptionIdentical) {
  // 80-token steps next to prefill chunks; 14 blocks of 16 cannot hold every sequence at once. The
  // submitting thread can be descheduled long enough for requests to finish alone, so a few
  // attempts (each checked) until one preempts.
  int64_t preemptions = 0;
  for (int attempt = 0; attempt < 4 && preemptions == 0; ++attempt) {
    auto e = engine(true, 14, 80, 6);
    preemptions = test::expect_mixed_opt_out_identical(*e, prompts_, ref_, kMaxTokens).preemptions;
  }
  EXPECT_GT(preemptions, 0);
}

TEST_F(DemoEagle, StopsAndLengthInTheMiddleOfAStep) {
  auto plain = engine(false, 64, 2048);
  auto spec = engine(true, 64, 2048);
  EXPECT_GE(test::compare_mid_step_stops(*plain, *spec, prompts_, ref_, 3, kMaxTokens), 6);
  EXPECT_EQ(idle(*spec).kv_blocks_used, 0);
}

TEST_F(DemoEagle, SeededSamplingIdentical) {
  auto plain = engine(false, 64, 2048);
  auto spec = engine(true, 64, 2048);
  test::expect_seeded_sampling_identical(*plain, *spec, prompts_, 2, kMaxTokens);
}

TEST_F(DemoEagle, PrefixCacheHitIdentical) {
  // The same long prompt twice, one after the other: the second takes its first blocks from the
  // prefix cache (no hidden states there; the draft's KV for them is known valid from the first).
  auto e = engine(true, 256, 2048);
  const std::vector<int32_t>& p = prompts_.back();
  ASSERT_GE(p.size(), 32u);
  Out a = collect(*e->submit(request(p, kMaxTokens)));
  const int64_t before = idle(*e).spec_sequences;
  Out b = collect(*e->submit(request(p, kMaxTokens)));
  EXPECT_EQ(a.tokens, ref_.back().tokens);
  EXPECT_EQ(b.tokens, ref_.back().tokens);
  EngineStats s = idle(*e);
  EXPECT_GT(s.spec_sequences, before) << "the second request speculated too";
  EXPECT_GT(s.prefix_cache_hits, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}
