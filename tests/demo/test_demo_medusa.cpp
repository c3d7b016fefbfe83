// Medusa on models/demo (CPU backend) with heads written by the test: each head's final linear is
// the demo's lm_head (its tied embeddings, Medusa's initialization) plus noise, its ResBlock
// random. Greedy output identical to no speculation at batch 1 and in mixed batches (requests that
// opt out next to ones that speculate) with prefill chunks and preemption, with stop strings and
// max_tokens inside a step; seeded sampled output identical (tree rows are sampled with the
// token's own uniform); every KV block free afterwards. The trained heads
// (tools/train/train_medusa.py) are what make Medusa fast; these only make it exercise acceptance.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../spec/medusa_test_util.h"
#include "core/error.h"
#include "model/cpu_model.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "spec/medusa.h"
#include "tokenizer/tokenizer.h"
#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kTarget = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";

using Out = test::Collected;
using test::collect;

class DemoMedusa : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kTarget / "tokenizer.json")) return;
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kTarget));
    heads_dir_ = fs::temp_directory_path() / ("ignis_demo_medusa_" + std::to_string(::getpid()));
    shared_dir_ = heads_dir_.string() + "_shared";
    {
      auto m = CpuModel::load(kTarget);
      ignis::testing::MedusaHeadsSpec s;
      s.hidden = m->config().hidden_size, s.vocab = m->config().vocab_size, s.heads = 3, s.layers = 1;
      s.lm_head = m->lm_head_linear().weight();
      s.lm_noise = 0.002f;
      s.block_scale = 0.02f;
      s.prefix = "medusa_head.";
      ignis::testing::write_medusa_heads(heads_dir_, s);
      // The ignis extension: ResBlocks only, the target's lm_head (what train_medusa.py writes).
      s.shared_lm_head = true;
      s.prefix.clear();
      ignis::testing::write_medusa_heads(shared_dir_, s);
    }
    prompts_ = test::demo_prompts(kTarget, *tok_);
    auto e = engine(false, 256, 2048);
    for (auto& p : prompts_) ref_.push_back(collect(*e->submit(request(p, kMaxTokens))));
  }
  static void TearDownTestSuite() {
    prompts_.clear();
    ref_.clear();
    tok_.reset();
    fs::remove_all(heads_dir_);
    fs::remove_all(shared_dir_);
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << "models/demo has no tokenizer.json: run scripts/fetch-assets.sh";
  }

  static constexpr int kMaxTokens = 24;

  static GenerateRequest request(const std::vector<int32_t>& p, int max_tokens, float temperature = 0,
                                 uint64_t seed = 0) {
    return test::demo_request(p, max_tokens, temperature, seed);
  }

  // The demo target on the CPU (fixed policy), with Medusa over the test's heads or without.
  static std::unique_ptr<Engine> engine(bool medusa, int blocks, int max_num_tokens, int max_batch = 16,
                                        std::vector<std::vector<int>> choices = {}, bool shared = false,
                                        const fs::path& heads = {}) {
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
    if (medusa) {
      ec.spec.method = SpecMethod::Medusa;
      ec.spec.medusa_choices = choices;
      p = make_medusa_proposer(!heads.empty() ? heads : shared ? shared_dir_ : heads_dir_, ec.spec, lm.model->config(),
                               kTarget);
    }
    return std::make_unique<Engine>(std::move(lm.model), ec, tok_, std::move(p));
  }

  static void expect_reference(const std::vector<Out>& got) { test::expect_same_outputs(got, ref_); }
  static EngineStats idle(Engine& e) { return test::wait_idle(e); }

  static inline std::shared_ptr<const Tokenizer> tok_;
  static inline fs::path heads_dir_, shared_dir_;
  static inline std::vector<std::vector<int32_t>> prompts_;
  static inline std::vector<Out> ref_;
};

}  // namespace

TEST_F(DemoMedusa, BatchOneIdentical) {
  // The default tree (mc_sim_7b_63) and a small custom one.
  for (const auto& choices : std::vector<std::vector<std::vector<int>>>{{}, {{0}, {1}, {0, 0}, {0, 0, 0}}}) {
    auto e = engine(true, 256, 2048, 16, choices);
    std::vector<Out> got;
    for (auto& p : prompts_) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
    expect_reference(got);
    EngineStats s = idle(*e);
    EXPECT_EQ(s.kv_blocks_used, 0);
    EXPECT_GT(s.spec_sequences, 0);
    EXPECT_GT(s.spec_accepted_tokens, 0) << "heads initialized from lm_head accept some tokens";
    std::fprintf(stderr, "medusa (%zu choices) on demo: %lld verifications, %lld accepted, %lld steps for %lld tokens\n",
                 choices.size(), (long long)s.spec_sequences, (long long)s.spec_accepted_tokens, (long long)s.steps,
                 (long long)s.generated_tokens);
  }
}

// The heads shipped in models/medusa-demo (tools/train/train_medusa.py on the H200; docs/PERF.md): they
// load from a fresh clone, keep greedy output identical and get proposals accepted.
TEST_F(DemoMedusa, ShippedHeadsIdentical) {
  auto e = engine(true, 256, 2048, 16, {}, false, fs::path(IGNIS_SOURCE_DIR) / "models" / "medusa-demo");
  std::vector<Out> got;
  for (auto& p : prompts_) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.spec_accepted_tokens, s.spec_sequences / 4) << "trained heads: accepted proposals in many steps";
}

TEST_F(DemoMedusa, MixedBatchesWithOptOutChunksAndPreemptionIdentical) {
  // 80-token steps next to prefill chunks; 14 blocks of 16 cannot hold every sequence at once. The
  // submitting thread can be descheduled long enough for requests to finish alone, so a few
  // attempts (each checked) until one preempts.
  int64_t preemptions = 0;
  for (int attempt = 0; attempt < 4 && preemptions == 0; ++attempt) {
    auto e = engine(true, 14, 80, 6, {{0}, {1}, {2}, {0, 0}, {0, 1}, {1, 0}, {0, 0, 0}});
    preemptions = test::expect_mixed_opt_out_identical(*e, prompts_, ref_, kMaxTokens).preemptions;
  }
  EXPECT_GT(preemptions, 0);
}

TEST_F(DemoMedusa, StopsAndLengthInTheMiddleOfAStep) {
  auto plain = engine(false, 64, 2048);
  auto spec = engine(true, 64, 2048);
  EXPECT_GE(test::compare_mid_step_stops(*plain, *spec, prompts_, ref_, 2, kMaxTokens), 6);
  EXPECT_EQ(idle(*spec).kv_blocks_used, 0);
}

TEST_F(DemoMedusa, SeededSamplingIdentical) {
  auto plain = engine(false, 64, 2048);
  auto spec = engine(true, 64, 2048);
  test::expect_seeded_sampling_identical(*plain, *spec, prompts_, 1, kMaxTokens);
}

TEST_F(DemoMedusa, SharedLmHeadHeadsIdentical) {
  // Heads without final linears use the demo's own lm_head: the same as heads that carry a copy
  // of it (bar the copies' noise), and the output is the reference.
  auto e = engine(true, 256, 2048, 16, {}, /*shared=*/true);
  std::vector<Out> got;
  for (auto& p : prompts_) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  ModelLoadOptions lo;
  lo.device = "cpu";
  LoadedModel lm = load_model(kTarget, lo, 16);
  auto heads = MedusaHeads::load(shared_dir_, lm.model->config(), kTarget);
  EXPECT_TRUE(heads->shared_lm_head());
  EXPECT_EQ(heads->num_heads(), 3);
  EXPECT_THROW(MedusaHeads::load(shared_dir_, lm.model->config()), Error) << "no target folder";
}
