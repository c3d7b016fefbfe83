// Feature fusion on the CPU backend (ModelConfig::fusion, BatchSeq::features: how an EAGLE draft
// head runs): logits against the naive dense reference (tiny_checkpoint.h, which fuses by hand:
// fc(concat(embed, feature)) (+ bias), layer 0 without its input norm, no final norm) for every
// combination of the fusion flags, in one chunk, in several chunks and decode steps, and as a token
// tree; fc = [I | 0] with both norms kept is exactly the plain model with the same weights; other
// features give other logits (and the reference's); a fusion forward without features is an Error.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "core/error.h"
#include "model/cpu_model.h"
#include "tiny_checkpoint.h"

namespace ignis {
namespace {

using test::naive_logits;
using test::random_tokens;
using test::rel_err;
using test::tiny_config;
using test::tiny_weights;

constexpr int kBlock = 4;

std::vector<int32_t> iota_blocks(int count) {
  std::vector<int32_t> b(static_cast<size_t>(count));
  std::iota(b.begin(), b.end(), 0);
  return b;
}

std::vector<float> random_features(int n, int hidden, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> f(size_t(n) * hidden);
  for (auto& x : f) x = d(rng);
  return f;
}

ModelConfig fusion_config(bool bias, bool first_norm, bool final_norm, int layers = 1) {
  ModelConfig c = tiny_config(Arch::Llama, 2);
  c.num_layers = layers;
  c.fusion = {true, bias, first_norm, final_norm};
  return c;
}

struct FusionCase {
  bool bias, first_norm, final_norm;
  int layers;
};
class CpuFusion : public ::testing::TestWithParam<FusionCase> {};

TEST_P(CpuFusion, OneChunkMatchesTheNaiveReference) {
  const FusionCase fc = GetParam();
  const ModelConfig cfg = fusion_config(fc.bias, fc.first_norm, fc.final_norm, fc.layers);
  const WeightStore ws = tiny_weights(cfg, 31);
  const int n = 13, V = cfg.vocab_size, H = cfg.hidden_size;
  const auto toks = random_tokens(n, V, 1);
  const auto feat = random_features(n, H, 2);
  const auto want = naive_logits(cfg, ws, toks, nullptr, &feat);
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  std::vector<float> hidden;
  ASSERT_TRUE(m.set_hidden_state_sink(&hidden));
  ForwardBatch b;
  b.tokens = toks;
  BatchSeq s{0, n, iota_blocks(8), true};
  s.features = feat.data();
  b.seqs.push_back(s);
  std::vector<float> out;
  m.forward(b, out);
  ASSERT_EQ(out.size(), want.size());
  EXPECT_LE(rel_err(out.data(), want.data(), out.size()), 1e-5);
  // The sink holds lm_head's input: the predicted features (no final norm unless the config has one).
  ASSERT_EQ(hidden.size(), size_t(n) * H);
  const cpu::Linear& head = m.lm_head_linear();
  std::vector<float> again(size_t(n) * V);
  head.forward(again.data(), hidden.data(), n);
  EXPECT_LE(rel_err(again.data(), out.data(), again.size()), 1e-6);
}

TEST_P(CpuFusion, ChunksAndDecodeStepsMatchOneChunk) {
  const FusionCase fc = GetParam();
  const ModelConfig cfg = fusion_config(fc.bias, fc.first_norm, fc.final_norm, fc.layers);
  const WeightStore ws = tiny_weights(cfg, 32);
  const int n = 14, V = cfg.vocab_size, H = cfg.hidden_size;
  const auto toks = random_tokens(n, V, 3);
  const auto feat = random_features(n, H, 4);
  const auto want = naive_logits(cfg, ws, toks, nullptr, &feat);
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  // chunks of 5, 6, then decode steps of one token each
  std::vector<std::pair<int, int>> steps = {{0, 5}, {5, 6}};
  for (int p = 11; p < n; ++p) steps.push_back({p, 1});
  for (auto [p0, len] : steps) {
    ForwardBatch b;
    b.tokens.assign(toks.begin() + p0, toks.begin() + p0 + len);
    BatchSeq s{p0, len, iota_blocks(8), true};
    s.features = feat.data() + size_t(p0) * H;
    b.seqs.push_back(s);
    std::vector<float> out;
    m.forward(b, out);
    ASSERT_EQ(out.size(), size_t(len) * V);
    EXPECT_LE(rel_err(out.data(), want.data() + size_t(p0) * V, out.size()), 1e-5) << "step at " << p0;
  }
}

TEST_P(CpuFusion, TreeNodesMatchTheirPathsRunAsChains) {
  const FusionCase fc = GetParam();
  const ModelConfig cfg = fusion_config(fc.bias, fc.first_norm, fc.final_norm, fc.layers);
  const WeightStore ws = tiny_weights(cfg, 33);
  const int V = cfg.vocab_size, H = cfg.hidden_size, ctx_len = 6;
  const auto ctx = random_tokens(ctx_len, V, 5);
  const auto ctx_feat = random_features(ctx_len, H, 6);
  const std::vector<int32_t> parent = {-1, 0, 0, 1, 1, 2, 3, 5};
  const int nodes = int(parent.size());
  const auto tree_toks = random_tokens(nodes, V, 7);
  const auto tree_feat = random_features(nodes, H, 8);
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  std::vector<float> out;
  ForwardBatch pre;
  pre.tokens = ctx;
  BatchSeq ps{0, ctx_len, iota_blocks(8), false};
  ps.features = ctx_feat.data();
  pre.seqs.push_back(ps);
  m.forward(pre, out);
  ForwardBatch b;
  b.tokens = tree_toks;
  BatchSeq ts{ctx_len, nodes, iota_blocks(8), true};
  ts.tree_parent = parent;
  ts.features = tree_feat.data();
  b.seqs.push_back(ts);
  m.forward(b, out);
  ASSERT_EQ(out.size(), size_t(nodes) * V);
  for (int node = 0; node < nodes; ++node) {
    std::vector<int> path;
    for (int k = node; k >= 0; k = parent[size_t(k)]) path.insert(path.begin(), k);
    std::vector<int32_t> seq = ctx;
    std::vector<float> f = ctx_feat;
    for (int k : path) {
      seq.push_back(tree_toks[size_t(k)]);
      f.insert(f.end(), tree_feat.begin() + size_t(k) * H, tree_feat.begin() + size_t(k + 1) * H);
    }
    const auto want = naive_logits(cfg, ws, seq, nullptr, &f);
    EXPECT_LE(rel_err(out.data() + size_t(node) * V, want.data() + (seq.size() - 1) * V, V), 1e-5) << "node " << node;
  }
}

INSTANTIATE_TEST_SUITE_P(Flags, CpuFusion,
                         ::testing::Values(FusionCase{true, false, false, 1},   // EAGLE-1/2 heads
                                           FusionCase{false, false, false, 1},  // "bias": false
                                           FusionCase{true, true, true, 1}, FusionCase{false, true, false, 2},
                                           FusionCase{true, false, true, 2}));

// fc = [I | 0] (the embedding passes through, the feature is dropped), no bias, both norms: the
// plain model with the same layer weights, bit for bit up to the fc's exact identity product.
TEST(CpuFusion, IdentityFcWithBothNormsIsThePlainModel) {
  ModelConfig plain = tiny_config(Arch::Llama, 2);
  const WeightStore pws = tiny_weights(plain, 41);
  ModelConfig fused = plain;
  fused.fusion = {true, false, true, true};
  const int H = plain.hidden_size, V = plain.vocab_size, n = 9;
  std::vector<float> eye(size_t(H) * 2 * H, 0.0f);
  for (int i = 0; i < H; ++i) eye[size_t(i) * 2 * H + i] = 1.0f;
  WeightStore fws;
  for (const auto& [name, t] : pws.all()) fws.add(t);  // the plain model's tensors (pws outlives fws)
  TensorRef fc;
  fc.name = "model.fc.weight";
  fc.file = "<test>";
  fc.dtype = DType::F32;
  fc.shape = {H, 2 * H};
  fc.data = eye.data();
  fc.nbytes = eye.size() * sizeof(float);
  fws.add(fc);
  const auto toks = random_tokens(n, V, 9);
  auto feat = random_features(n, H, 10);
  std::vector<float> a, b;
  {
    CpuModel m(plain, pws);
    m.init_kv_cache(4, kBlock);
    ForwardBatch fb;
    fb.tokens = toks;
    fb.seqs.push_back({0, n, iota_blocks(4), true});
    m.forward(fb, a);
  }
  {
    CpuModel m(fused, fws);
    m.init_kv_cache(4, kBlock);
    ForwardBatch fb;
    fb.tokens = toks;
    BatchSeq s{0, n, iota_blocks(4), true};
    s.features = feat.data();
    fb.seqs.push_back(s);
    m.forward(fb, b);
  }
  ASSERT_EQ(a.size(), b.size());
  EXPECT_LE(rel_err(b.data(), a.data(), a.size()), 1e-6);
}

// The features really feed the model: other features, other logits, and again the reference's.
TEST(CpuFusion, OtherFeaturesGiveOtherLogits) {
  const ModelConfig cfg = fusion_config(true, false, false);
  const WeightStore ws = tiny_weights(cfg, 51);
  const int n = 7, V = cfg.vocab_size, H = cfg.hidden_size;
  const auto toks = random_tokens(n, V, 11);
  auto feat = random_features(n, H, 12);
  auto run = [&](const std::vector<float>& f) {
    CpuModel m(cfg, ws);
    m.init_kv_cache(4, kBlock);
    ForwardBatch b;
    b.tokens = toks;
    BatchSeq s{0, n, iota_blocks(4), true};
    s.features = f.data();
    b.seqs.push_back(s);
    std::vector<float> out;
    m.forward(b, out);
    return out;
  };
  const auto a = run(feat);
  auto feat2 = feat;
  for (int j = 0; j < H; ++j) feat2[size_t(3) * H + j] += 0.5f * float(j % 3) - 0.4f;  // row 3 only
  const auto b = run(feat2);
  // rows 0..2 do not see row 3; rows 3.. do
  EXPECT_LE(rel_err(b.data(), a.data(), size_t(3) * V), 1e-6);
  EXPECT_GT(rel_err(b.data() + size_t(3) * V, a.data() + size_t(3) * V, V), 1e-3);
  EXPECT_GT(rel_err(b.data() + size_t(6) * V, a.data() + size_t(6) * V, V), 1e-4);
  const auto want = naive_logits(cfg, ws, toks, nullptr, &feat2);
  EXPECT_LE(rel_err(b.data(), want.data(), b.size()), 1e-5);
}

TEST(CpuFusion, MissingFeaturesOrTensorsAreErrors) {
  const ModelConfig cfg = fusion_config(true, false, false);
  const WeightStore ws = tiny_weights(cfg, 61);
  CpuModel m(cfg, ws);
  m.init_kv_cache(4, kBlock);
  ForwardBatch b;
  b.tokens = {1, 2, 3};
  b.seqs.push_back({0, 3, iota_blocks(4), false});
  std::vector<float> out;
  try {
    m.forward(b, out);
    FAIL() << "no error without features";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features"), std::string::npos) << e.what();
  }
  // A head whose fc is missing: the constructor names the tensor.
  WeightStore partial;
  for (const auto& [name, t] : ws.all())
    if (name != "model.fc.weight") partial.add(t);
  try {
    CpuModel bad(cfg, partial);
    FAIL() << "no error without model.fc.weight";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.fc.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ignis
