// Constrained decoding on the demo model (CPU backend): the engine masks every sampling row with
// the request's structured::Matcher, so greedy and sampled output match the constraint and end
// with "stop" when it is complete; speculative decoding (draft model and n-gram, with chunked
// prefill and preemption) gives the same greedy tokens as without it; a JSON-object constraint
// gives text that parses as a JSON object. The masks are filled during the forward pass
// (Model::forward_sample's before_sample): a backend that calls it gives the same tokens, one that
// does not fails those requests with a clear error and the engine keeps serving.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "runtime/draft_loader.h"
#include "runtime/engine.h"
#include "model/model.h"
#include "runtime/model_loader.h"
#include "spec/proposer.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"
#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kModels = fs::path(IGNIS_SOURCE_DIR) / "models";
const fs::path kTarget = kModels / "demo", kDraft = kModels / "demo-draft";

using Out = test::Collected;
using test::collect;

// Delegates to the CPU model; in forward_sample records whether the first constrained row's mask
// changed when before_sample ran (the engine deferred the fill into the pass), or never calls it.
class DeferringModel : public Model {
 public:
  DeferringModel(std::unique_ptr<Model> m, bool call_hook) : m_(std::move(m)), call_hook_(call_hook) {}
  const ModelConfig& config() const override { return m_->config(); }
  const char* backend_name() const override { return "cpu+deferring"; }
  void init_kv_cache(int n, int b) override { m_->init_kv_cache(n, b); }
  int kv_block_size() const override { return m_->kv_block_size(); }
  int kv_num_blocks() const override { return m_->kv_num_blocks(); }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override { m_->forward(b, logits); }
  void forward_sample(const ForwardBatch& b, const std::vector<RowSampling>& rows, std::vector<RowSample>& out,
                      const BeforeSample& before_sample) override {
    const RowSampling* masked = nullptr;
    for (const RowSampling& r : rows)
      if (r.allowed_mask && !masked) masked = &r;
    const size_t words = (size_t(config().vocab_size) + 31) / 32;
    std::vector<uint32_t> at_entry;
    if (masked) at_entry.assign(masked->allowed_mask, masked->allowed_mask + words);
    Model::forward_sample(b, rows, out, call_hook_ ? before_sample : BeforeSample{});
    if (masked && !std::equal(at_entry.begin(), at_entry.end(), masked->allowed_mask)) ++filled_during_pass;
  }
  int filled_during_pass = 0;

 private:
  std::unique_ptr<Model> m_;
  bool call_hook_;
};

// Identifier-ish characters, bounded length.
const char* kPattern = "[a-z_ (),+*=:]{6,60}";

class DemoConstraint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kTarget / "tokenizer.json") || !fs::exists(kDraft / "tokenizer.json")) return;
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kTarget));
    cache_ = std::make_unique<structured::ConstraintCache>(structured::make_token_vocab(*tok_, {*tok_->eos_id()}));
    for (const char* p : {"def add(a, b):\n    return", "import os\n\ndef main():\n    ", "class Point:\n    def __init__(self"})
      prompts_.push_back(tok_->encode(p, true));
  }
  static void TearDownTestSuite() {
    cache_.reset();
    tok_.reset();
    prompts_.clear();
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << "models/demo(-draft) have no tokenizer.json: run scripts/fetch-assets.sh";
  }

  static std::unique_ptr<Engine> engine(SpecMethod method = SpecMethod::None, int blocks = 256, int max_num_tokens = 2048,
                                        int max_batch = 16, int constraint_threads = -1,
                                        const std::function<std::unique_ptr<Model>(std::unique_ptr<Model>)>& wrap = {}) {
    ModelLoadOptions lo;
    lo.device = "cpu";
    LoadedModel lm = load_model(kTarget, lo, 16);
    if (wrap) lm.model = wrap(std::move(lm.model));
    EngineConfig ec;
    ec.kv_block_size = 16;
    ec.kv_num_blocks = blocks;
    ec.max_num_tokens = max_num_tokens;
    ec.max_batch_size = max_batch;
    ec.constraint_threads = constraint_threads;
    ec.spec.method = method;
    ec.spec.num_speculative_tokens = 3;
    ec.spec.ngram_min = 1;
    ec.spec.ngram_max = 3;
    ec.spec.policy.adaptive = false;
    std::unique_ptr<Model> draft;
    if (method == SpecMethod::Draft) draft = load_draft_model(kDraft, kTarget, *lm.model, blocks, lo, 16).model;
    return std::make_unique<Engine>(std::move(lm.model), ec, tok_, make_proposer(ec.spec, std::move(draft)));
  }

  static GenerateRequest request(const std::vector<int32_t>& prompt, const structured::ConstraintSpec& spec,
                                 float temperature = 0, uint64_t seed = 0, int max_tokens = 64) {
    GenerateRequest r;
    r.prompt_ids = prompt;
    r.sampling.temperature = temperature;
    r.sampling.seed = seed;
    r.sampling.max_tokens = max_tokens;
    r.constraint = cache_->get(spec);
    return r;
  }
  static structured::ConstraintSpec regex() {
    structured::ConstraintSpec s;
    s.kind = structured::ConstraintSpec::Kind::Regex;
    s.text = kPattern;
    return s;
  }

  static inline std::shared_ptr<const Tokenizer> tok_;
  static inline std::unique_ptr<structured::ConstraintCache> cache_;
  static inline std::vector<std::vector<int32_t>> prompts_;
};

}  // namespace

TEST_F(DemoConstraint, RegexGreedyAndSampledMatchAndStop) {
  auto e = engine();
  const std::regex re(kPattern);
  int checked = 0;
  for (auto& p : prompts_) {
    Out free = collect(*e->submit(request(p, regex())));  // the constraint matters: compare with none
    GenerateRequest unconstrained = request(p, regex());
    unconstrained.constraint = nullptr;
    Out plain = collect(*e->submit(unconstrained));
    EXPECT_NE(free.text, plain.text) << "prompt " << checked;
    for (int s = 0; s <= 2; ++s) {
      Out o = collect(*e->submit(request(p, regex(), s == 0 ? 0.0f : 1.0f, uint64_t(s))));
      ASSERT_NE(o.finish, FinishReason::Error) << o.error;
      EXPECT_EQ(o.finish, FinishReason::Stop) << "seed " << s << ": " << o.text;
      EXPECT_TRUE(std::regex_match(o.text, re)) << "seed " << s << ": '" << o.text << "'";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9);
}

TEST_F(DemoConstraint, PreemptionAndSpeculationGiveTheSameGreedyTokens) {
  auto plain = engine();
  std::vector<Out> ref;
  for (auto& p : prompts_) ref.push_back(collect(*plain->submit(request(p, regex()))));
  for (SpecMethod m : {SpecMethod::None, SpecMethod::Draft, SpecMethod::Ngram, SpecMethod::Lookahead}) {
    // (Lookahead's token trees run as their first path: a constrained request's masks follow one.)
    // 24-token steps and 10 blocks of 16 for 6 sequences: chunked prefill next to verification
    // rows, and preemption (the matcher stays at the generated tokens while they are recomputed).
    auto spec = engine(m, 10, 24, 6);
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int rep = 0; rep < 2; ++rep)
      for (auto& p : prompts_) hs.push_back(spec->submit(request(p, regex())));
    for (size_t i = 0; i < hs.size(); ++i) {
      Out o = collect(*hs[i]);
      ASSERT_NE(o.finish, FinishReason::Error) << o.error;
      EXPECT_EQ(o.tokens, ref[i % ref.size()].tokens) << spec_method_name(m) << " request " << i;
      EXPECT_EQ(o.text, ref[i % ref.size()].text);
    }
    EngineStats s = spec->stats();
    if (m != SpecMethod::None) {
      EXPECT_GT(s.spec_proposed_tokens, 0) << spec_method_name(m);
    }
    if (m != SpecMethod::Ngram && m != SpecMethod::Lookahead) {
      EXPECT_GT(s.preemptions, 0) << spec_method_name(m);
    }
  }
}

TEST_F(DemoConstraint, JsonObjectParses) {
  structured::ConstraintSpec s;
  s.kind = structured::ConstraintSpec::Kind::JsonObject;
  auto e = engine();
  for (int seed = 0; seed < 3; ++seed) {
    GenerateRequest r = request(prompts_[size_t(seed)], s, seed ? 0.8f : 0.0f, uint64_t(seed), 200);
    Out o = collect(*e->submit(r));
    ASSERT_EQ(o.finish, FinishReason::Stop) << o.text;
    nlohmann::json j = nlohmann::json::parse(o.text);  // throws (fails the test) when it is not JSON
    EXPECT_TRUE(j.is_object()) << o.text;
  }
}

TEST_F(DemoConstraint, JsonSchemaValidatesGreedySampledAndSpeculative) {
  structured::ConstraintSpec s;
  s.kind = structured::ConstraintSpec::Kind::JsonSchema;
  s.strict = true;
  s.text = R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 12},
      "count": {"type": "integer", "minimum": 0, "maximum": 99},
      "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3}},
    "required": ["name", "count", "tags"]})";
  auto valid = [](const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || j.size() != 3) return false;  // strict: no other property
    if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().size() > 12) return false;
    if (!j.contains("count") || !j["count"].is_number_integer() || j["count"] < 0 || j["count"] > 99) return false;
    if (!j.contains("tags") || !j["tags"].is_array() || j["tags"].size() > 3) return false;
    for (auto& t : j["tags"])
      if (t != "a" && t != "b" && t != "c") return false;
    return true;
  };
  auto plain = engine();
  auto spec = engine(SpecMethod::Draft);
  for (int seed = 0; seed < 4; ++seed) {
    GenerateRequest r = request(prompts_[size_t(seed) % prompts_.size()], s, seed ? 1.0f : 0.0f, uint64_t(seed), 120);
    Out o = collect(*plain->submit(r));
    ASSERT_EQ(o.finish, FinishReason::Stop) << o.text;
    EXPECT_TRUE(valid(o.text)) << o.text;
    if (seed == 0) {  // greedy: speculative decoding gives the same tokens
      Out sp = collect(*spec->submit(r));
      EXPECT_EQ(sp.tokens, o.tokens);
    }
  }
  EXPECT_GT(spec->stats().spec_proposed_tokens, 0);
}

// Masks of a step's constrained rows filled on a worker pool (EngineConfig::constraint_threads)
// give exactly the tokens of the engine thread alone, greedy and seeded-sampled, and the stats
// still count every mask.
TEST_F(DemoConstraint, ParallelMaskFillGivesTheSameTokens) {
  structured::ConstraintSpec js;
  js.kind = structured::ConstraintSpec::Kind::JsonObject;
  auto run = [&](int threads) {
    auto e = engine(SpecMethod::None, 256, 2048, 16, threads);
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int i = 0; i < 12; ++i)
      hs.push_back(e->submit(request(prompts_[size_t(i) % prompts_.size()], i % 2 ? js : regex(),
                                     i % 3 ? 0.9f : 0.0f, uint64_t(i), 40)));
    std::vector<Out> outs;
    for (auto& h : hs) outs.push_back(collect(*h));
    EXPECT_GE(e->stats().constraint_masks, 12 * 2);
    return outs;
  };
  auto serial = run(0), parallel = run(3);
  ASSERT_EQ(serial.size(), parallel.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    ASSERT_NE(parallel[i].finish, FinishReason::Error) << parallel[i].error;
    EXPECT_EQ(parallel[i].tokens, serial[i].tokens) << "request " << i;
  }
}

TEST_F(DemoConstraint, MasksAreFilledDuringThePassAndAMissingFillIsAnError) {
  auto want = [&](Engine& e) {
    std::vector<Out> outs;
    for (size_t i = 0; i < prompts_.size(); ++i) outs.push_back(collect(*e.submit(request(prompts_[i], regex(), i ? 0.9f : 0.0f, i, 24))));
    return outs;
  };
  std::vector<Out> ref = want(*engine());
  DeferringModel* dm = nullptr;
  auto deferring = engine(SpecMethod::None, 256, 2048, 16, -1, [&](std::unique_ptr<Model> m) {
    auto w = std::make_unique<DeferringModel>(std::move(m), true);
    dm = w.get();
    return w;
  });
  std::vector<Out> got = want(*deferring);
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NE(got[i].finish, FinishReason::Error) << got[i].error;
    EXPECT_EQ(got[i].tokens, ref[i].tokens) << "prompt " << i;
  }
  EXPECT_GT(dm->filled_during_pass, 0) << "the masks must be filled inside forward_sample, not before it";

  auto skipping = engine(SpecMethod::None, 256, 2048, 16, -1,
                         [](std::unique_ptr<Model> m) { return std::make_unique<DeferringModel>(std::move(m), false); });
  Out bad = collect(*skipping->submit(request(prompts_[0], regex())));
  EXPECT_EQ(bad.finish, FinishReason::Error);
  EXPECT_NE(bad.error.find("without filling"), std::string::npos) << bad.error;
  GenerateRequest plain = request(prompts_[0], regex(), 0, 0, 8);
  plain.constraint = nullptr;
  Out after = collect(*skipping->submit(plain));
  EXPECT_EQ(after.finish, FinishReason::Length) << after.error;
  EXPECT_EQ(after.tokens.size(), 8u);
}
