// Token-tree verification through the engine on the real CPU backend (a tiny Llama with seeded
// dummy weights): sampled requests with a deterministic tree proposer keep the target's
// distribution (chi-square of the first two tokens against p(t1) p(t2 | t1) computed from the
// model directly, with every sample inside the proposed tree, so every step accepts through a
// tree path), and a seed gives the same tokens as without speculation; a backend without tree
// support refuses a tree proposer at start with a clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>

#include "engine_test_util.h"
#include "fake_model.h"
#include "model/cpu_model.h"
#include "spec/proposer.h"
#include "sampling/sampler.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

fs::path tiny_dir() {
  fs::path dir = fs::temp_directory_path() / ("ignis_engine_tree_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "hidden_act": "silu", "tie_word_embeddings": false, "torch_dtype": "float32",
  "bos_token_id": 1, "eos_token_id": 2
})";
  return dir;
}

constexpr uint64_t kSeed = 5;

// The last-row logits of `toks` (whole recompute on a fresh cache).
std::vector<float> last_logits(CpuModel& m, const std::vector<int32_t>& toks) {
  ForwardBatch b;
  b.tokens = toks;
  BatchSeq s;
  s.num_tokens = int(toks.size());
  for (int i = 0; i < 64; ++i) s.block_table.push_back(i);
  b.seqs = {s};
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

// The `n` most likely tokens after `toks` (ids ascending among ties).
std::vector<int32_t> top(CpuModel& m, const std::vector<int32_t>& toks, int n) {
  auto l = last_logits(m, toks);
  std::vector<int32_t> ids(l.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
  ids.resize(size_t(n));
  return ids;
}

// A deterministic tree proposer with its own copy of the model: under the root a wrong token
// first (so the accepted path is never at the first nodes), then the target's top `width` tokens,
// each with its top `width` children. With top_k = width sampling every sample is in the tree.
class TopTree : public Proposer {
 public:
  TopTree(const fs::path& dir, int width) : m_(CpuModel::load(dir, LoadFormat::Dummy, kSeed)), width_(width) {
    m_->init_kv_cache(64, 16);
  }
  const char* name() const override { return "top-tree"; }
  bool proposes_trees() const override { return true; }
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager&, std::vector<Proposal>& out) override {
    out.resize(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      Proposal& p = out[i];
      p.clear();
      std::vector<int32_t> t(seqs[i].tokens.begin(), seqs[i].tokens.end());
      auto add = [&](int32_t tok, int32_t parent) {
        if (int(p.tokens.size()) >= seqs[i].k) return -1;
        p.tokens.push_back(tok);
        p.parents.push_back(parent);
        return int(p.tokens.size()) - 1;
      };
      const auto first = top(*m_, t, width_ + 1);
      add(first[size_t(width_)], -1);  // a wrong-ish token, never sampled under top_k = width
      for (int c = 0; c < width_; ++c) {
        const int node = add(first[size_t(c)], -1);
        if (node < 0) break;
        t.push_back(first[size_t(c)]);
        for (int32_t g : top(*m_, t, width_)) add(g, node);
        t.pop_back();
      }
    }
  }

 private:
  std::unique_ptr<CpuModel> m_;
  int width_;
};

GenerateRequest sampled(const std::vector<int32_t>& prompt, int max_tokens, uint64_t seed, int top_k) {
  GenerateRequest r = greedy_request(prompt, max_tokens);
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = top_k;
  r.sampling.seed = seed;
  r.sampling.ignore_eos = true;
  return r;
}

std::unique_ptr<Engine> engine(const fs::path& dir, std::unique_ptr<Proposer> p, int k) {
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 64;
  cfg.spec.num_speculative_tokens = k;
  cfg.spec.policy.adaptive = false;
  return std::make_unique<Engine>(CpuModel::load(dir, LoadFormat::Dummy, kSeed), cfg, nullptr, std::move(p));
}

}  // namespace

TEST(EngineTree, SampledDistributionPreservedChiSquare) {
  const fs::path dir = tiny_dir();
  const int W = 3;  // top_k: 3 x 3 joint outcomes of the first two tokens
  const std::vector<int32_t> prompt = {5, 17, 33, 8, 61, 40};
  // The exact joint distribution of the first three tokens from the model: the first comes from
  // the prompt's last row, the next two through the first tree step (the whole tree fits then).
  auto m = CpuModel::load(dir, LoadFormat::Dummy, kSeed);
  m->init_kv_cache(64, 16);
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_k = W;
  const int V = m->config().vocab_size;
  using Cell = std::vector<int32_t>;
  std::map<Cell, double> p;
  std::vector<float> d(static_cast<size_t>(V));
  std::function<void(Cell, double)> expand = [&](Cell c, double prob) {
    if (c.size() == 3) {
      p[c] = prob;
      return;
    }
    auto t = prompt;
    t.insert(t.end(), c.begin(), c.end());
    auto l = last_logits(*m, t);
    dense_distribution(l.data(), V, sp, d.data());
    const std::vector<float> dist = d;
    for (int32_t a = 0; a < V; ++a)
      if (dist[size_t(a)] > 0) {
        Cell next = c;
        next.push_back(a);
        expand(next, prob * dist[size_t(a)]);
      }
  };
  expand({}, 1.0);
  ASSERT_EQ(p.size(), size_t(W * W * W));

  auto e = engine(dir, std::make_unique<TopTree>(dir, W), 1 + W + W * W);
  const int n = 5000, max_tokens = 2 + 1 + W + W * W;  // the first tree step gets every node
  std::map<Cell, int> count;
  for (int batch = 0; batch < n; batch += 500) {  // the engine's queue holds 1024
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int i = batch; i < std::min(n, batch + 500); ++i) hs.push_back(e->submit(sampled(prompt, max_tokens, 7000 + uint64_t(i), W)));
    for (auto& h : hs) {
      Collected c = collect(*h);
      ASSERT_NE(c.finish, FinishReason::Error) << c.error;
      ASSERT_EQ(c.tokens.size(), size_t(max_tokens));
      ++count[Cell(c.tokens.begin(), c.tokens.begin() + 3)];
    }
  }
  EngineStats s = wait_idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  // The samples are always in the tree: a whole tree accepts two tokens (a child and a
  // grandchild, the bonus from the grandchild's row); later trees are cut by max_tokens.
  EXPECT_GE(s.spec_accepted_tokens, 2 * n);
  double chi2 = 0;
  for (auto& [cell, prob] : p) {
    const double want = prob * n;
    const double got = count.count(cell) ? count[cell] : 0;
    chi2 += (got - want) * (got - want) / want;
  }
  int outside = n;
  for (auto& [cell, c] : count) outside -= p.count(cell) ? c : 0;
  EXPECT_EQ(outside, 0) << "samples outside the top-k support";
  EXPECT_LT(chi2, 54.05) << "chi-square with 26 degrees of freedom, p = 0.001";
  double min_expected = n;
  for (auto& [cell, prob] : p) min_expected = std::min(min_expected, prob * n);
  EXPECT_GT(min_expected, 5) << "too few samples per cell for the chi-square test";
}

TEST(EngineTree, SeededSamplingIdenticalToNoSpeculation) {
  const fs::path dir = tiny_dir();
  auto plain = engine(dir, nullptr, 4);
  auto spec = engine(dir, std::make_unique<TopTree>(dir, 2), 7);
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> prompt = {3, int32_t(10 + i), int32_t(40 + 3 * i), 7};
    GenerateRequest r = sampled(prompt, 10, 100 + uint64_t(i), i % 3 == 0 ? 0 : 2 + i % 3);
    if (i % 4 == 1) r.sampling.presence_penalty = 0.7f;  // penalties over the row's own path
    Collected want = collect(*plain->submit(r)), got = collect(*spec->submit(r));
    ASSERT_NE(got.finish, FinishReason::Error) << got.error;
    EXPECT_EQ(got.tokens, want.tokens) << "request " << i;
  }
  EngineStats s = wait_idle(*spec);
  EXPECT_GT(s.spec_accepted_tokens, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST(EngineTree, BackendWithoutTreesRefusesTreeProposers) {
  const fs::path dir = tiny_dir();
  EngineConfig cfg;
  cfg.spec.num_speculative_tokens = 4;
  try {
    Engine e(std::make_unique<FakeModel>(), cfg, nullptr, std::make_unique<TopTree>(dir, 2));
    FAIL() << "a backend without tree support took a tree proposer";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("token trees"), std::string::npos) << err.what();
  }
}
