// EAGLE (spec/eagle.h) on a tiny CPU Llama target with real weight files: the head folder loader
// (the reference's names with and without "model.", its flags from the tensors present; clear
// errors for a missing config / weights, a .bin-only folder, wrong shapes, another vocabulary or
// hidden size, a missing fc.bias, missing or unexpected tensors), the tree parameters' validation,
// the proposer's draft tree against a step-by-step recomputation of the draft (every node is among
// the top-k of the draft's distribution after its path, each step fed the previous step's predicted
// feature; the budget; parents first; catch-up bookkeeping; no proposal without the root's
// feature), the engine's hidden rows (every position's state handed over exactly once and equal
// to the target's own), and through the engine: greedy output identical to no speculation at batch
// 1 and in mixed batches with preemption, seeded sampled output identical, KV blocks all free.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "../runtime/engine_test_util.h"
#include "core/error.h"
#include "eagle_test_util.h"
#include "kv/kv_cache_manager.h"
#include "model/cpu_model.h"
#include "runtime/engine.h"
#include "spec/eagle.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

fs::path tmp(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ignis_eagle_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const fs::path& target_dir() {
  static const fs::path d = [] {
    fs::path t = tmp("target");
    write_tiny_target(t);
    return t;
  }();
  return d;
}

ModelConfig target_cfg() { return load_model_config(target_dir()); }

EagleHeadSpec tiny_spec() {
  EagleHeadSpec s;
  s.hidden = 32, s.vocab = 96, s.heads = 4, s.kv_heads = 2, s.intermediate = 48;
  return s;
}

std::string load_error(const fs::path& dir, const ModelConfig& cfg) {
  try {
    load_eagle_head(dir, cfg, target_dir());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(msg, text) EXPECT_NE((msg).find(text), std::string::npos) << "error was: " << (msg)

}  // namespace

TEST(Eagle, LoaderReadsTheReferenceLayout) {
  const ModelConfig t = target_cfg();
  for (const char* prefix : {"", "model."}) {
    const fs::path d = tmp(std::string("good") + prefix);
    EagleHeadSpec s = tiny_spec();
    s.prefix = prefix;
    write_eagle_head(d, s);
    EagleHead h = load_eagle_head(d, t, target_dir());
    EXPECT_TRUE(h.config.fusion.enabled);
    EXPECT_TRUE(h.config.fusion.fc_bias);
    EXPECT_FALSE(h.config.fusion.first_input_norm);
    EXPECT_FALSE(h.config.fusion.final_norm);
    EXPECT_EQ(h.config.num_layers, 1);
    EXPECT_EQ(h.config.tie_word_embeddings, t.tie_word_embeddings);
    EXPECT_TRUE(h.weights.has("model.fc.weight"));
    EXPECT_TRUE(h.weights.has("model.layers.0.self_attn.q_proj.weight"));
    EXPECT_FALSE(h.weights.has("model.layers.0.input_layernorm.weight"));
    // The target's embeddings and lm_head, not the head's embed_tokens copy.
    const WeightStore tw = WeightStore::load(target_dir(), t);
    EXPECT_EQ(std::memcmp(h.weights.get("model.embed_tokens.weight").data, tw.get("model.embed_tokens.weight").data,
                          tw.get("model.embed_tokens.weight").nbytes),
              0);
    EXPECT_EQ(std::memcmp(h.weights.get("lm_head.weight").data, tw.get("lm_head.weight").data,
                          tw.get("lm_head.weight").nbytes),
              0);
    CpuModel m(h.config, h.weights);  // every tensor the fusion config needs is there
  }
  // "bias": false without fc.bias; a head with layer 0's input norm and a final norm.
  const fs::path d = tmp("flags");
  EagleHeadSpec s = tiny_spec();
  s.bias = false;
  s.input_norm0 = true;
  s.final_norm = true;
  s.embed = false;
  write_eagle_head(d, s);
  EagleHead h = load_eagle_head(d, t, target_dir());
  EXPECT_FALSE(h.config.fusion.fc_bias);
  EXPECT_TRUE(h.config.fusion.first_input_norm);
  EXPECT_TRUE(h.config.fusion.final_norm);
  CpuModel m(h.config, h.weights);
}

TEST(Eagle, LoaderErrorsAreClear) {
  const ModelConfig t = target_cfg();
  {
    const fs::path d = tmp("empty");
    EXPECT_ERROR_HAS(load_error(d, t), "config.json not found");
  }
  {
    const fs::path d = tmp("noweights");
    EagleHeadSpec s = tiny_spec();
    s.write_weights = false;
    write_eagle_head(d, s);
    EXPECT_ERROR_HAS(load_error(d, t), "model.safetensors not found");
    std::ofstream(d / "pytorch_model.bin") << "not read";
    const std::string e = load_error(d, t);
    EXPECT_ERROR_HAS(e, "pytorch_model.bin");
    EXPECT_ERROR_HAS(e, "safetensors.torch");
  }
  auto with = [&](const std::string& name, auto edit) {
    const fs::path d = tmp(name);
    EagleHeadSpec s = tiny_spec();
    edit(s);
    write_eagle_head(d, s);
    return load_error(d, t);
  };
  EXPECT_ERROR_HAS(with("shape", [](EagleHeadSpec& s) { s.reshape = {{"fc.weight", {32, 32}}}; }),
                   "fc.weight has shape [32, 32], expected [32, 64]");
  EXPECT_ERROR_HAS(with("vocab", [](EagleHeadSpec& s) { s.vocab = 97; }), "vocab_size 97 but the target has 96");
  EXPECT_ERROR_HAS(with("hidden", [](EagleHeadSpec& s) { s.hidden = 64; }), "hidden_size 64 but the target has 32");
  EXPECT_ERROR_HAS(with("nobias", [](EagleHeadSpec& s) {
                     s.skip = {"fc.bias"};
                     s.write_bias_key = false;
                   }),
                   "missing tensor fc.bias");
  EXPECT_ERROR_HAS(with("nolayer", [](EagleHeadSpec& s) { s.skip = {"layers.0.mlp.down_proj.weight"}; }),
                   "missing tensor layers.0.mlp.down_proj.weight");
  EXPECT_ERROR_HAS(with("extra", [](EagleHeadSpec& s) { s.extra = {"layers.1.input_layernorm.weight"}; }),
                   "unexpected tensor layers.1.input_layernorm.weight");
  EXPECT_ERROR_HAS(with("badjson", [](EagleHeadSpec& s) { s.config_json = "{\"hidden_size\": 32"; }), "config.json");
  // No target folder: the embeddings and lm_head cannot be read.
  const fs::path d = tmp("notarget");
  write_eagle_head(d, tiny_spec());
  try {
    load_eagle_head(d, t, {});
    FAIL() << "no error without the target folder";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(std::string(e.what()), "target folder");
  }
}

TEST(Eagle, TreeParametersValidated) {
  EXPECT_EQ(eagle_tree_size(60, 5, 10), 59);
  EXPECT_THROW(eagle_tree_size(1, 5, 10), Error);
  EXPECT_THROW(eagle_tree_size(514, 5, 10), Error);
  EXPECT_THROW(eagle_tree_size(60, 0, 10), Error);
  EXPECT_THROW(eagle_tree_size(60, 5, 65), Error);
  SpecConfig c;
  c.method = SpecMethod::Eagle;
  EXPECT_EQ(spec_max_proposals(c), 59) << "EAGLE-2's defaults: total_token 60, depth 5, top_k 10";
  EXPECT_EQ(parse_spec_method("eagle"), SpecMethod::Eagle);
  EXPECT_STREQ(spec_method_name(SpecMethod::Eagle), "eagle");
}

namespace {

struct Fixture {
  EagleHead head;
  std::unique_ptr<EagleProposer> p;
  KvCacheManager kv;
  explicit Fixture(int total = 12, int depth = 3, int topk = 3, bool pass_through = false)
      : kv([] {
          KvCacheConfig kc;
          kc.num_blocks = 32;
          kc.block_size = 4;
          return kc;
        }()) {
    const fs::path d = tmp("prop");
    EagleHeadSpec s = tiny_spec();
    s.pass_through = pass_through;
    write_eagle_head(d, s);
    head = load_eagle_head(d, target_cfg(), target_dir());
    p = std::make_unique<EagleProposer>(std::make_unique<CpuModel>(head.config, head.weights), total, depth, topk);
    p->init(target_cfg(), 32, 4);
  }
};

std::vector<float> features(int n, int H, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> f(size_t(n) * size_t(H));
  for (float& x : f) x = nd(rng);
  return f;
}

std::vector<int32_t> topk_ids(const float* lg, int V, int k) {
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return lg[a] > lg[b]; });
  ids.resize(size_t(k));
  return ids;
}

}  // namespace

TEST(Eagle, ProposerTreeFollowsTheDraftStepByStep) {
  Fixture f(/*total=*/14, /*depth=*/3, /*topk=*/3);
  const int H = 32, V = 96, topk = 3;
  std::vector<int32_t> toks = {1, 17, 33, 5, 60, 8, 21, 44, 9, 70};
  const int L = int(toks.size());
  const auto feat = features(L - 1, H, 3);  // f_0 .. f_{L-2}
  SpecSeq q;
  q.id = 5;
  q.tokens = toks;
  q.num_prompt = L;
  q.num_computed = L - 1;
  q.k = 64;
  ASSERT_GE(f.kv.allocate(5, toks, 0), 0);
  ASSERT_TRUE(f.kv.append_slots(5, L + 64));
  q.block_table = f.kv.block_table(5);
  std::vector<Proposal> out;
  f.p->propose({&q, 1}, f.kv, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].tokens.empty()) << "no hidden state yet";
  f.p->on_hidden_rows(5, 0, L - 2, std::span<const float>(feat.data(), size_t(L - 2) * H));
  f.p->propose({&q, 1}, f.kv, out);
  EXPECT_TRUE(out[0].tokens.empty()) << "the root's feature f_{L-2} is missing";
  f.p->on_hidden_rows(5, L - 2, 1, std::span<const float>(feat.data() + size_t(L - 2) * H, size_t(H)));
  EXPECT_EQ(f.p->features_held(5), (std::pair<int, int>{0, L - 1}));
  f.p->propose({&q, 1}, f.kv, out);
  const Proposal& p = out[0];
  ASSERT_EQ(p.tokens.size(), 13u) << "total_tokens - 1 nodes";
  ASSERT_EQ(p.parents.size(), p.tokens.size());
  EXPECT_TRUE(p.dists.empty()) << "deterministic";
  EXPECT_EQ(f.p->draft_computed(5), L - 1);
  EXPECT_EQ(f.p->last_catchup_tokens(), L - 2);
  EXPECT_EQ(f.p->pending_catchup(5, L), 0) << "caught up";
  EXPECT_EQ(f.p->pending_catchup(5, L + 3), 3) << "three tokens since";
  EXPECT_EQ(f.p->pending_catchup(99, 10), 9) << "never seen: its whole history";
  EXPECT_EQ(f.p->last_rounds(), 1 + 3);
  EXPECT_EQ(f.p->features_held(5), (std::pair<int, int>{L - 2, L - 1})) << "consumed features dropped";
  // Every node: its token is among the top-k of the draft's distribution after its path, computed
  // step by step on a fresh draft (the chain of true features, then each step's predicted one).
  int max_depth = 0;
  for (size_t n = 0; n < p.tokens.size(); ++n) {
    ASSERT_LT(p.parents[n], int32_t(n)) << "parents first";
    std::vector<int32_t> path;
    for (int32_t c = int32_t(n); c >= 0; c = p.parents[size_t(c)]) path.insert(path.begin(), p.tokens[size_t(c)]);
    max_depth = std::max(max_depth, int(path.size()));
    CpuModel m(f.head.config, f.head.weights);
    m.init_kv_cache(8, 4);
    std::vector<float> sink, logits;
    ASSERT_TRUE(m.set_hidden_state_sink(&sink));
    ForwardBatch b;
    b.tokens.assign(toks.begin() + 1, toks.end());
    BatchSeq s{0, L - 1, {0, 1, 2, 3, 4, 5, 6, 7}, false};
    s.features = feat.data();
    b.seqs.push_back(s);
    m.forward(b, logits);
    for (size_t d = 0; d < path.size(); ++d) {
      const auto top = topk_ids(logits.data(), V, topk);
      ASSERT_NE(std::find(top.begin(), top.end(), path[d]), top.end()) << "node " << n << " depth " << d + 1;
      if (d + 1 == path.size()) break;
      const std::vector<float> h = sink;  // the predicted feature of the path's node d
      ForwardBatch step;
      step.tokens = {path[d]};
      BatchSeq ss{L - 1 + int32_t(d), 1, {0, 1, 2, 3, 4, 5, 6, 7}, false};
      ss.features = h.data();
      step.seqs.push_back(ss);
      m.forward(step, logits);
    }
    if (path.size() == 1 && n == 0) {
      EXPECT_EQ(path[0], topk_ids(logits.data(), V, 1)[0]) << "the best first";
    }
  }
  EXPECT_GE(max_depth, 2);
  EXPECT_LE(max_depth, 4) << "at most depth + 1 levels";
  // A budget: the best nodes, still a tree of parents first.
  q.k = 4;
  f.p->propose({&q, 1}, f.kv, out);
  ASSERT_EQ(out[0].tokens.size(), 4u);
  EXPECT_EQ(out[0].tokens[0], p.tokens[0]);
  for (size_t n = 0; n < 4; ++n) EXPECT_LT(out[0].parents[n], int32_t(n));
  EXPECT_EQ(f.p->last_catchup_tokens(), 0) << "the root row only, again";
  // After verification of 2 accepted tokens + the bonus: the root's and the accepted rows come,
  // and the next catch-up runs just them.
  std::vector<int32_t> more = toks;
  more.insert(more.end(), {p.tokens[0], 3, 4});
  const auto feat2 = features(3, H, 4);
  f.p->on_hidden_rows(5, L - 1, 3, feat2);
  SpecSeq q2 = q;
  q2.tokens = more;
  q2.num_computed = int(more.size()) - 1;
  q2.k = 64;
  f.p->propose({&q2, 1}, f.kv, out);
  EXPECT_FALSE(out[0].tokens.empty());
  EXPECT_EQ(f.p->draft_computed(5), int(more.size()) - 1);
  EXPECT_EQ(f.p->last_catchup_tokens(), 2) << "positions L-1 .. L+1, one row per sequence not counted";
  f.p->on_preempted(5);
  EXPECT_EQ(f.p->draft_computed(5), -1);
}

TEST(Eagle, PositionsWithoutHiddenStatesRunWithZeroFeatures) {
  // A prefix-cache hit: states only from position 6 on. The draft still proposes.
  Fixture f;
  std::vector<int32_t> toks = {1, 17, 33, 5, 60, 8, 21, 44, 9, 70};
  const int L = int(toks.size());
  ASSERT_GE(f.kv.allocate(9, toks, 0), 0);
  ASSERT_TRUE(f.kv.append_slots(9, L + 16));
  const auto feat = features(L - 1 - 6, 32, 5);
  f.p->on_hidden_rows(9, 6, L - 1 - 6, feat);
  SpecSeq q;
  q.id = 9;
  q.tokens = toks;
  q.num_prompt = L;
  q.num_computed = L - 1;
  q.k = 16;
  q.block_table = f.kv.block_table(9);
  std::vector<Proposal> out;
  f.p->propose({&q, 1}, f.kv, out);
  EXPECT_EQ(out[0].tokens.size(), 11u);
  EXPECT_EQ(f.p->draft_computed(9), L - 1);
  EXPECT_EQ(f.p->last_catchup_tokens(), L - 2);
  // Bad rows are errors (the engine logs them); non-finite features propose nothing.
  EXPECT_THROW(f.p->on_hidden_rows(9, 9, 1, std::vector<float>(31)), Error);
  std::vector<float> nan_rows(32, std::nanf(""));
  f.p->on_hidden_rows(9, 8, 1, nan_rows);
  f.p->propose({&q, 1}, f.kv, out);
  EXPECT_TRUE(out[0].tokens.empty());
}

TEST(Eagle, InitChecksTheTarget) {
  Fixture f;
  ModelConfig other = target_cfg();
  other.vocab_size = 97;
  EXPECT_THROW(f.p->init(other, 32, 4), Error);
  other = target_cfg();
  other.sliding_window = 8;
  EXPECT_THROW(f.p->init(other, 32, 4), Error);
  EXPECT_THROW(EagleProposer(CpuModel::load(target_dir()), 60, 5, 10), Error) << "not a fusion model";
  EXPECT_THROW(EagleProposer(std::make_unique<CpuModel>(f.head.config, f.head.weights), 60, 0, 10), Error);
}

namespace {

// Records every hidden row the engine hands over (then passes it on).
class RecordingEagle : public Proposer {
 public:
  explicit RecordingEagle(std::unique_ptr<EagleProposer> p) : p_(std::move(p)) {}
  const char* name() const override { return "eagle"; }
  bool proposes_trees() const override { return true; }
  bool wants_hidden_states() const override { return true; }
  bool wants_all_hidden_rows() const override { return true; }
  void init(const ModelConfig& t, int nb, int bs) override { p_->init(t, nb, bs); }
  void propose(std::span<const SpecSeq> s, const KvCacheManager& kv, std::vector<Proposal>& out) override {
    p_->propose(s, kv, out);
  }
  void on_hidden_rows(uint64_t id, int first, int count, std::span<const float> rows) override {
    const size_t H = rows.size() / size_t(std::max(count, 1));
    for (int i = 0; i < count; ++i) {
      auto& slot = rows_[id][first + i];
      ++seen_[id][first + i];
      slot.assign(rows.begin() + long(size_t(i) * H), rows.begin() + long(size_t(i + 1) * H));
    }
    p_->on_hidden_rows(id, first, count, rows);
  }
  void on_verified(uint64_t id, int n, const KvCacheManager& kv) override { p_->on_verified(id, n, kv); }
  void on_preempted(uint64_t id) override { p_->on_preempted(id); }
  void on_finished(uint64_t id) override { p_->on_finished(id); }
  std::map<uint64_t, std::map<int, std::vector<float>>> rows_;
  std::map<uint64_t, std::map<int, int>> seen_;

 private:
  std::unique_ptr<EagleProposer> p_;
};

std::unique_ptr<EagleProposer> tiny_eagle(int total, int depth, int topk, bool pass_through = true) {
  const fs::path d = tmp("engine_head");
  EagleHeadSpec s = tiny_spec();
  s.pass_through = pass_through;
  write_eagle_head(d, s);
  EagleHead h = load_eagle_head(d, target_cfg(), target_dir());
  return std::make_unique<EagleProposer>(std::make_unique<CpuModel>(h.config, h.weights), total, depth, topk);
}

std::unique_ptr<Engine> engine(bool eagle, int blocks, int max_num_tokens, std::unique_ptr<Proposer> p = nullptr,
                               int total = 10, int depth = 3, int topk = 3) {
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = blocks;
  cfg.max_num_tokens = max_num_tokens;
  cfg.max_batch_size = 8;
  cfg.spec.policy.adaptive = false;
  if (eagle) {
    cfg.spec.method = SpecMethod::Eagle;
    cfg.spec.eagle_total_tokens = total;
    cfg.spec.eagle_depth = depth;
    cfg.spec.eagle_topk = topk;
    if (!p) p = tiny_eagle(total, depth, topk);
  }
  return std::make_unique<Engine>(CpuModel::load(target_dir()), cfg, nullptr, std::move(p));
}

std::vector<std::vector<int32_t>> prompts() {
  std::vector<std::vector<int32_t>> ps;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 5 + 3 * i; ++j) p.push_back(int32_t(3 + (i * 31 + j * 17) % 90));
    ps.push_back(p);
  }
  return ps;
}

}  // namespace

TEST(Eagle, EngineHandsEveryPositionsHiddenStateOnce) {
  auto rec = std::make_unique<RecordingEagle>(tiny_eagle(10, 3, 3));
  RecordingEagle* r = rec.get();
  // 16-token steps: the 20-token prompt runs in two chunks.
  auto e = engine(true, 64, 16, std::move(rec));
  std::vector<int32_t> prompt;
  for (int j = 0; j < 20; ++j) prompt.push_back(int32_t(3 + (j * 29) % 90));
  Collected c = collect(*e->submit(greedy_request(prompt, 30)));
  ASSERT_NE(c.finish, FinishReason::Error) << c.error;
  EngineStats s = wait_idle(*e);
  EXPECT_GT(s.spec_sequences, 0);
  ASSERT_EQ(r->rows_.size(), 1u);
  const auto& rows = r->rows_.begin()->second;
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), c.tokens.begin(), c.tokens.end());
  // Positions 0 .. len - 2 (the last token never ran), each once.
  ASSERT_EQ(int(rows.size()), int(all.size()) - 1);
  for (const auto& [pos, n] : r->seen_.begin()->second) EXPECT_EQ(n, 1) << "position " << pos;
  // Equal to the target's own states over the whole sequence.
  auto m = CpuModel::load(target_dir());
  m->init_kv_cache(16, 8);
  std::vector<float> sink, logits;
  m->set_hidden_state_sink(&sink);
  ForwardBatch b;
  b.tokens.assign(all.begin(), all.end() - 1);
  std::vector<int32_t> table(16);
  std::iota(table.begin(), table.end(), 0);
  b.seqs.push_back({0, int32_t(all.size()) - 1, table, true});
  m->forward(b, logits);
  const size_t H = 32;
  for (const auto& [pos, v] : rows) {
    ASSERT_EQ(v.size(), H);
    double md = 0, mx = 0;
    for (size_t i = 0; i < H; ++i) {
      md = std::max(md, std::fabs(double(v[i]) - sink[size_t(pos) * H + i]));
      mx = std::max(mx, std::fabs(double(sink[size_t(pos) * H + i])));
    }
    EXPECT_LE(md, 1e-4 * std::max(1.0, mx)) << "position " << pos;
  }
}

TEST(Eagle, EngineGreedyIdenticalBatchOneAndMixedWithPreemption) {
  const auto ps = prompts();
  const int max_tokens = 40;
  std::vector<std::vector<int32_t>> ref;
  {
    auto e = engine(false, 256, 512);
    for (auto& p : ps) ref.push_back(collect(*e->submit(greedy_request(p, max_tokens))).tokens);
  }
  for (bool pass_through : {true, false}) {
    auto e = engine(true, 256, 512, tiny_eagle(10, 3, 3, pass_through));
    for (size_t i = 0; i < ps.size(); ++i) {
      Collected c = collect(*e->submit(greedy_request(ps[i], max_tokens)));
      ASSERT_NE(c.finish, FinishReason::Error) << c.error;
      EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i;
    }
    EngineStats s = wait_idle(*e);
    EXPECT_EQ(s.kv_blocks_used, 0);
    EXPECT_GT(s.spec_sequences, 0);
    std::fprintf(stderr, "eagle (pass-through %d) on the tiny model: %lld verifications, %lld accepted\n",
                 int(pass_through), (long long)s.spec_sequences, (long long)s.spec_accepted_tokens);
  }
  // Mixed: all at once in 12 blocks of 8 (preemption), some opting out, 80-token steps.
  int64_t preemptions = 0;
  for (int attempt = 0; attempt < 4 && preemptions == 0; ++attempt) {
    auto e = engine(true, 12, 80);
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (size_t i = 0; i < ps.size(); ++i) {
      GenerateRequest r = greedy_request(ps[i], max_tokens);
      r.speculative = i % 3 != 1;
      hs.push_back(e->submit(r));
    }
    for (size_t i = 0; i < hs.size(); ++i) {
      Collected c = collect(*hs[i]);
      ASSERT_NE(c.finish, FinishReason::Error) << c.error;
      EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i;
    }
    EngineStats s = wait_idle(*e);
    EXPECT_EQ(s.kv_blocks_used, 0);
    EXPECT_GT(s.spec_sequences, 0);
    preemptions = s.preemptions;
  }
  EXPECT_GT(preemptions, 0);
}

TEST(Eagle, EngineSeededSamplingIdentical) {
  const auto ps = prompts();
  auto plain = engine(false, 128, 512);
  auto spec = engine(true, 128, 512);
  for (size_t i = 0; i < ps.size(); ++i) {
    GenerateRequest r = greedy_request(ps[i], 32);
    r.sampling.temperature = 0.7f;
    r.sampling.top_k = 8;
    r.sampling.repetition_penalty = 1.05f;
    r.sampling.seed = 100 + i;
    Collected want = collect(*plain->submit(r)), got = collect(*spec->submit(r));
    ASSERT_NE(got.finish, FinishReason::Error) << got.error;
    EXPECT_EQ(got.tokens, want.tokens) << "prompt " << i;
  }
  EngineStats s = wait_idle(*spec);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}
