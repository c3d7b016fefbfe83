// Speculative decoding on the demo models (CPU backend): models/demo as the target with
// models/demo-draft as the draft (loaded by load_draft_model, tokenizer checked), and n-gram
// prompt lookup. Greedy output identical to no speculation at batch 1 and in mixed batches with
// prefill chunks and preemption, with stop strings, stop ids and max_tokens in the middle of a
// step; every KV block free afterwards; the draft actually gets proposals accepted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/error.h"
#include "model/config.h"
#include "runtime/draft_loader.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "spec/proposer.h"
#include "tokenizer/tokenizer.h"
#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kModels = fs::path(IGNIS_SOURCE_DIR) / "models";
const fs::path kTarget = kModels / "demo", kDraft = kModels / "demo-draft";

using Out = test::Collected;
using test::collect;

class DemoSpec : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kTarget / "tokenizer.json") || !fs::exists(kDraft / "tokenizer.json")) return;
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kTarget));
    // Prompts: the training script's completion prompts and windows of held-out Python code.
    prompts_ = test::demo_prompts(kTarget, *tok_);
    // The reference: each request alone, no speculation.
    auto e = engine(SpecMethod::None, 256, 2048);
    for (auto& p : prompts_) ref_.push_back(collect(*e->submit(request(p, kMaxTokens))));
  }
  static void TearDownTestSuite() {
    prompts_.clear();
    ref_.clear();
    tok_.reset();
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << "models/demo(-draft) have no tokenizer.json: run scripts/fetch-assets.sh";
  }

  static constexpr int kMaxTokens = 24;

  static GenerateRequest request(const std::vector<int32_t>& p, int max_tokens) {
    return test::demo_request(p, max_tokens);
  }

  // An engine over the demo target on the CPU, speculating with `method` (fixed policy, K = k).
  static std::unique_ptr<Engine> engine(SpecMethod method, int blocks, int max_num_tokens, int k = 4,
                                        int max_batch = 16) {
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
    ec.spec.ngram_min = 2;
    ec.spec.ngram_max = 4;
    ec.spec.policy.adaptive = false;
    std::unique_ptr<Model> draft;
    if (method == SpecMethod::Draft) draft = load_draft_model(kDraft, kTarget, *lm.model, blocks, lo, 16).model;
    return std::make_unique<Engine>(std::move(lm.model), ec, tok_, make_proposer(ec.spec, std::move(draft)));
  }

  static void expect_reference(const std::vector<Out>& got) { test::expect_same_outputs(got, ref_); }
  static EngineStats idle(Engine& e) { return test::wait_idle(e); }

  static inline std::shared_ptr<const Tokenizer> tok_;
  static inline std::vector<std::vector<int32_t>> prompts_;
  static inline std::vector<Out> ref_;
};

}  // namespace

TEST_F(DemoSpec, DraftTargetBatchOneIdentical) {
  auto e = engine(SpecMethod::Draft, 256, 2048);
  std::vector<Out> got;
  for (auto& p : prompts_) got.push_back(collect(*e->submit(request(p, kMaxTokens))));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  // The draft was trained on the same data: a good share of its proposals is accepted.
  EXPECT_GT(s.spec_accepted_tokens, s.spec_proposed_tokens / 4)
      << s.spec_accepted_tokens << " of " << s.spec_proposed_tokens;
  EXPECT_LT(s.steps, s.generated_tokens * 3 / 4);
}

TEST_F(DemoSpec, DraftTargetMixedBatchesWithChunksAndPreemptionIdentical) {
  // 40-token steps: prompts are prefilled in chunks next to verification rows; 14 blocks of 16
  // cannot hold every sequence: preemption and recomputation (the draft's KV restarts too).
  auto e = engine(SpecMethod::Draft, 14, 40, 3, 6);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& p : prompts_) hs.push_back(e->submit(request(p, kMaxTokens)));
  std::vector<Out> got;
  for (auto& h : hs) got.push_back(collect(*h));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_GT(s.preemptions, 0);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST_F(DemoSpec, NgramMixedBatchesIdentical) {
  auto e = engine(SpecMethod::Ngram, 18, 48, 5, 8);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& p : prompts_) hs.push_back(e->submit(request(p, kMaxTokens)));
  std::vector<Out> got;
  for (auto& h : hs) got.push_back(collect(*h));
  expect_reference(got);
  EngineStats s = idle(*e);
  EXPECT_GT(s.spec_proposed_tokens, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST_F(DemoSpec, StopsAndLengthInTheMiddleOfAStep) {
  auto plain = engine(SpecMethod::None, 64, 2048);
  auto spec = engine(SpecMethod::Draft, 64, 2048, 6);
  EXPECT_GE(test::compare_mid_step_stops(*plain, *spec, prompts_, ref_, 3, kMaxTokens), 6);
  EngineStats s = idle(*spec);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST_F(DemoSpec, DraftMustShareTheTokenizer) {
  const ModelConfig t = load_model_config(kTarget);
  const fs::path other = fs::path(IGNIS_TEST_DATA_DIR) / "models" / "qwen2";
  try {
    check_draft_tokenizer(kTarget, t, other, load_model_config(other));
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer"), std::string::npos) << e.what();
  }
  ModelConfig changed = load_model_config(kDraft);
  changed.eos_token_ids = {7};
  EXPECT_THROW(check_draft_tokenizer(kTarget, t, kDraft, changed), Error);
  EXPECT_NO_THROW(check_draft_tokenizer(kTarget, t, kDraft, load_model_config(kDraft)));
}
