// quant/: LinearSpec descriptions, module patterns, FP8 weight quantization / dequantization against
// an independent per-element computation, and activation / KV fake-quantization on hand-computed rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "quant/quantize.h"
#include "quant/scheme.h"

namespace ignis {
namespace {

LinearSpec fp8(WeightScale w, ActScale a = ActScale::DynamicToken, int bn = 128, int bk = 128) {
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  s.wscale = w;
  s.act = a;
  s.block_n = bn;
  s.block_k = bk;
  return s;
}

std::vector<float> randn(size_t n, uint64_t seed, float std = 0.05f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// quant/e4m3.h against core's reference conversions.
TEST(E4m3Fast, BitExactWithCore) {
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto from = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  int64_t checked = 0, bad = 0;
  auto check = [&](float f) {
    ++checked;
    if (e4m3_encode(f) != f32_to_e4m3(f) && ++bad <= 5)
      ADD_FAILURE() << "f = " << f << " (0x" << std::hex << bits(f) << std::dec << "): fast "
                    << int(e4m3_encode(f)) << ", core " << int(f32_to_e4m3(f));
  };
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(bits(e4m3_decode(uint8_t(c))), bits(e4m3_to_f32(uint8_t(c)))) << c;  // NaN payloads too
    const float v = e4m3_to_f32(uint8_t(c));
    if (std::isnan(v)) continue;
    // Every value, its neighbourhood and the midpoints to its neighbour, +-8 ulps.
    const float up = c == 0x7e || c == 0xfe ? v * 1.1f : e4m3_to_f32(uint8_t(c + 1));
    for (float x : {v, 0.5f * (v + up)})
      for (int d = -8; d <= 8; ++d) check(from(bits(x) + uint32_t(d)));
  }
  // A sweep of every 61st bit pattern over [2^-12, 2^10] and random bit patterns (inf, NaN, huge, tiny).
  for (uint32_t u = 0x39800000u; u < 0x44800000u; u += 61) check(from(u)), check(from(u | 0x80000000u));
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000000; ++i) check(from(uint32_t(rng())));
  for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 448.0f, 464.0f, 1e30f, 1e-30f, -1e-45f}) check(f);
  EXPECT_EQ(bad, 0) << "of " << checked;
}

TEST(QuantScheme, Describe) {
  EXPECT_EQ(fp8(WeightScale::Channel).describe(), "fp8-e4m3 (weight per channel, input dynamic per token)");
  EXPECT_EQ(fp8(WeightScale::Tensor, ActScale::StaticTensor).describe(),
            "fp8-e4m3 (weight per tensor, input static per tensor)");
  LinearSpec b = fp8(WeightScale::Block, ActScale::DynamicGroup, 128, 64);
  b.act_group = 64;
  EXPECT_EQ(b.describe(), "fp8-e4m3 (weight per 128x64 block, input dynamic per 64-group)");
  LinearSpec d;
  EXPECT_EQ(d.describe(), "bf16");
  EXPECT_FALSE(d.fp8());
}

TEST(QuantScheme, ModulePatterns) {
  EXPECT_TRUE(module_pattern_matches("lm_head", "lm_head"));
  EXPECT_TRUE(module_pattern_matches("down_proj", "model.layers.3.mlp.down_proj"));        // a leaf
  EXPECT_TRUE(module_pattern_matches("model.layers.3", "model.layers.3.mlp.down_proj"));   // a parent
  EXPECT_FALSE(module_pattern_matches("model.layers.3", "model.layers.30.mlp.down_proj"));
  EXPECT_FALSE(module_pattern_matches("proj", "model.layers.3.mlp.down_proj"));
  EXPECT_TRUE(module_pattern_matches("model.layers.*.mlp.*", "model.layers.12.mlp.up_proj"));  // glob
  EXPECT_FALSE(module_pattern_matches("model.layers.*.mlp", "model.layers.12.mlp.up_proj"));
  EXPECT_TRUE(module_pattern_matches("*lm_head", "lm_head"));
  EXPECT_TRUE(module_pattern_matches("re:.*self_attn\\.(q|k|v)_proj$", "model.layers.0.self_attn.k_proj"));
  EXPECT_FALSE(module_pattern_matches("re:.*self_attn\\.(q|k|v)_proj$", "model.layers.0.self_attn.o_proj"));
  EXPECT_FALSE(module_pattern_matches("re:layers", "model.layers.0.mlp.up_proj"));  // re.match: anchored at the start
  EXPECT_TRUE(module_pattern_matches("re:model\\.layers\\.0\\.", "model.layers.0.mlp.up_proj"));  // not at the end
  EXPECT_THROW(check_module_pattern("re:(unclosed", "cfg.json: field 'ignore[0]'"), Error);
  try {
    check_module_pattern("re:(unclosed", "cfg.json: field 'ignore[0]'");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ignore[0]"), std::string::npos) << e.what();
  }
  // A catastrophic pattern fails to match (match limit) instead of hanging.
  EXPECT_FALSE(module_pattern_matches("re:(a+)+b", std::string(40, 'a')));
}

TEST(QuantScheme, SpecFor) {
  QuantConfig q;
  q.method = QuantConfig::Method::CompressedTensors;
  q.linear = fp8(WeightScale::Channel);
  q.ignore = {"lm_head", "re:.*layers\\.1\\..*"};
  EXPECT_TRUE(q.spec_for("model.layers.0.mlp.up_proj", DType::BF16).fp8());
  EXPECT_FALSE(q.spec_for("model.layers.1.mlp.up_proj", DType::BF16).fp8());
  LinearSpec d = q.spec_for("lm_head", DType::F16);
  EXPECT_FALSE(d.fp8());
  EXPECT_EQ(d.weight, DType::F16);
  q.targets = {"re:.*mlp\\..*"};  // only the MLP targeted
  EXPECT_TRUE(q.spec_for("model.layers.0.mlp.up_proj", DType::BF16).fp8());
  EXPECT_FALSE(q.spec_for("model.layers.0.self_attn.q_proj", DType::BF16).fp8());
  QuantConfig none;
  EXPECT_FALSE(none.spec_for("model.layers.0.mlp.up_proj", DType::BF16).fp8());
  EXPECT_EQ(q.weight_scale_name(), "weight_scale");
  q.method = QuantConfig::Method::Fp8;
  q.linear = fp8(WeightScale::Block, ActScale::DynamicGroup);
  EXPECT_EQ(q.weight_scale_name(), "weight_scale_inv");
}

TEST(QuantScheme, DynamicScale) {
  EXPECT_EQ(dynamic_scale(448.0f), 1.0f);
  EXPECT_EQ(dynamic_scale(7.0f), 7.0f / 448.0f);
  EXPECT_EQ(dynamic_scale(0.0f), kMinDynamicScale);
}

// Independent per-element definition: scale of the element's group = amax / 448 (1 when amax is 0).
void check_quantized(const std::vector<float>& w, int64_t n, int64_t k, const LinearSpec& s, const QuantizedLinear& q) {
  // amax of every group, computed once: (group rows, group cols) -> max |w|
  const int64_t gn = s.wscale == WeightScale::Block ? s.block_n : s.wscale == WeightScale::Channel ? 1 : n;
  const int64_t gk = s.wscale == WeightScale::Block ? s.block_k : k;
  const int64_t rows = (n + gn - 1) / gn, cols = (k + gk - 1) / gk;
  std::vector<float> amax(size_t(rows * cols), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      float& a = amax[size_t((i / gn) * cols + j / gk)];
      a = std::max(a, std::fabs(w[size_t(i * k + j)]));
    }
  auto group_amax = [&](int64_t r, int64_t c) { return amax[size_t((r / gn) * cols + c / gk)]; };
  ASSERT_EQ(q.data.size(), size_t(n * k));
  ASSERT_EQ(int64_t(q.scale.size()), num_weight_scales(s, n, k));
  std::vector<float> deq(size_t(n * k), NAN);  // poisoned: every element must be written
  dequantize_weight(q, deq.data());
  int bad = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      const float a = group_amax(r, c), scale = a > 0 ? a / 448.0f : 1.0f;
      const uint8_t code = f32_to_e4m3(w[size_t(r * k + c)] * (1.0f / scale));
      const float back = e4m3_to_f32(code) * scale;
      if (q.scale_at(r, c) != scale || q.data[size_t(r * k + c)] != code || deq[size_t(r * k + c)] != back) {
        if (++bad <= 5)
          ADD_FAILURE() << s.describe() << " (" << r << ", " << c << "): scale " << q.scale_at(r, c) << " vs " << scale
                        << ", code " << int(q.data[size_t(r * k + c)]) << " vs " << int(code) << ", dequantized "
                        << deq[size_t(r * k + c)] << " vs " << back;
      }
    }
  EXPECT_EQ(bad, 0);
}

TEST(Quantize, EverySchemeMatchesThePerElementDefinition) {
  const int64_t n = 150, k = 70;  // partial blocks along both axes
  auto w = randn(size_t(n * k), 1);
  w[17] = 3.0f;  // an outlier: its row / block / the tensor scale on it
  for (const LinearSpec& s : {fp8(WeightScale::Tensor), fp8(WeightScale::Channel), fp8(WeightScale::Block),
                              fp8(WeightScale::Block, ActScale::DynamicGroup, 64, 32)}) {
    SCOPED_TRACE(s.describe());
    QuantizedLinear q = quantize_weight_fp8(w.data(), n, k, s);
    check_quantized(w, n, k, s, q);
    // the amax element maps to 448 exactly (code 0x7e / 0xfe)
    EXPECT_EQ(e4m3_to_f32(q.data[17]), 448.0f);
  }
}

TEST(Quantize, ThreadedLargeWeightAndSourceDtypes) {
  const int64_t n = 1030, k = 520;  // enough work for several threads
  auto w = randn(size_t(n * k), 2);
  for (DType t : {DType::F32, DType::BF16, DType::F16}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    std::vector<uint16_t> h(w.size());
    std::vector<float> as_f32 = w;  // the values the typed overload sees
    if (t != DType::F32)
      for (size_t i = 0; i < w.size(); ++i) {
        h[i] = t == DType::BF16 ? f32_to_bf16(w[i]) : f32_to_f16(w[i]);
        as_f32[i] = t == DType::BF16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
      }
    const void* src = t == DType::F32 ? static_cast<const void*>(w.data()) : h.data();
    for (const LinearSpec& s : {fp8(WeightScale::Tensor), fp8(WeightScale::Channel), fp8(WeightScale::Block)}) {
      QuantizedLinear q = quantize_weight_fp8(t, src, n, k, s);
      check_quantized(as_f32, n, k, s, q);
    }
  }
}

TEST(Quantize, ZeroGroupGetsScaleOneAndBadInputThrows) {
  std::vector<float> w = randn(4 * 8, 3);
  for (int j = 0; j < 8; ++j) w[size_t(8 + j)] = 0.0f;  // row 1 all zero
  QuantizedLinear q = quantize_weight_fp8(w.data(), 4, 8, fp8(WeightScale::Channel));
  EXPECT_EQ(q.scale[1], 1.0f);
  for (int j = 0; j < 8; ++j) EXPECT_EQ(q.data[size_t(8 + j)], 0);
  LinearSpec dense;
  EXPECT_THROW(quantize_weight_fp8(w.data(), 4, 8, dense), Error);
  EXPECT_THROW(quantize_weight_fp8(DType::I32, w.data(), 4, 8, fp8(WeightScale::Tensor)), Error);
}

TEST(FakeQuant, DynamicPerTokenHandComputed) {
  // Row 0: amax 7 -> s = 7/448 = 1/64; 0.1 * 64 = 6.4 -> 6.5 (step 0.5 in [4, 8)) -> 0.1015625;
  // 3.3 * 64 = 211.2 -> 208 (step 16 in [128, 256)) -> 3.25; -7 -> -448 -> -7 exactly.
  // Row 1: amax 1 -> s = 1/448; 0.3 * 448 = 134.4 -> 128 -> 0.2857142..; 1 -> 448 -> 1.
  std::vector<float> x = {0.1f, 3.3f, -7.0f, 1.0f, 0.3f, -1.0f, 0.0f, 0.25f};
  LinearSpec s = fp8(WeightScale::Channel, ActScale::DynamicToken);
  fake_quant_activations(x.data(), 2, 4, s, 0.0f);
  const float s1 = 1.0f / 448.0f;
  std::vector<float> want = {0.1015625f, 3.25f, -7.0f, 1.0f, 128.0f * s1, -448.0f * s1, 0.0f, 112.0f * s1};
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i], want[i]) << i;
}

TEST(FakeQuant, StaticSaturatesAndTiesToEven) {
  // s = 0.5: 100 / 0.5 = 200, halfway between 192 and 208 -> 192 (even mantissa) -> 96;
  // 1000 -> 2000 saturates at 448 -> 224; -0.75 -> -1.5 exact.
  std::vector<float> x = {100.0f, 1000.0f, -0.75f};
  fake_quant_activations(x.data(), 1, 3, fp8(WeightScale::Tensor, ActScale::StaticTensor), 0.5f);
  EXPECT_EQ(x[0], 96.0f);
  EXPECT_EQ(x[1], 224.0f);
  EXPECT_EQ(x[2], -0.75f);
  EXPECT_THROW(fake_quant_activations(x.data(), 1, 3, fp8(WeightScale::Tensor, ActScale::StaticTensor), 0.0f), Error);
  EXPECT_THROW(fake_quant_activations(x.data(), 1, 3, fp8(WeightScale::Tensor, ActScale::StaticTensor), NAN), Error);
}

TEST(FakeQuant, PerGroupWithPartialLastGroup) {
  // k = 6, groups of 4: [0, 4) with amax 4 (s = 1/112), [4, 6) with amax 0.5 (s = 1/896).
  // 1.3 * 112 = 145.6 -> 144 -> 144/112; 0.3 * 896 = 268.8 -> 256 (step 32 in [256, 448]) -> 256/896.
  std::vector<float> x = {1.3f, -4.0f, 0.0f, 2.0f, 0.3f, 0.5f};
  LinearSpec s = fp8(WeightScale::Block, ActScale::DynamicGroup);
  s.act_group = 4;
  fake_quant_activations(x.data(), 1, 6, s, 0.0f);
  EXPECT_EQ(x[0], 144.0f * (4.0f / 448.0f));
  EXPECT_EQ(x[1], -4.0f);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_EQ(x[3], 2.0f);
  EXPECT_EQ(x[4], 256.0f * (0.5f / 448.0f));
  EXPECT_EQ(x[5], 0.5f);
}

TEST(FakeQuant, MatchesThePerElementDefinitionOnRandomRows) {
  const int m = 9, k = 300;
  auto x = randn(size_t(m * k), 4, 2.0f);
  for (ActScale a : {ActScale::DynamicToken, ActScale::DynamicGroup, ActScale::StaticTensor}) {
    LinearSpec s = fp8(WeightScale::Channel, a);
    s.act_group = 128;
    std::vector<float> y = x;
    fake_quant_activations(y.data(), m, k, s, 0.03f);
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < k; ++j) {
        int64_t g0 = a == ActScale::DynamicGroup ? j / 128 * 128 : 0, g1 = a == ActScale::DynamicGroup ? std::min(k, int(g0) + 128) : k;
        float amax = 0;
        for (int64_t t = g0; t < g1; ++t) amax = std::max(amax, std::fabs(x[size_t(r * k + t)]));
        float sc = a == ActScale::StaticTensor ? 0.03f : std::max(amax / 448.0f, kMinDynamicScale);
        float want = e4m3_to_f32(f32_to_e4m3(x[size_t(r * k + j)] * (1.0f / sc))) * sc;
        ASSERT_EQ(y[size_t(r * k + j)], want) << "act " << int(a) << " (" << r << ", " << j << ")";
      }
  }
  std::vector<float> same = x;
  fake_quant_activations(same.data(), m, k, LinearSpec{}, 0.0f);  // ActScale::None: untouched
  EXPECT_EQ(same, x);
}

TEST(FakeQuant, Kv) {
  EXPECT_EQ(fake_quant_kv(3.3f, 1.0f / 64.0f), 3.25f);
  EXPECT_EQ(fake_quant_kv(-100.0f, 0.5f), -96.0f);
  EXPECT_EQ(fake_quant_kv(1e6f, 1.0f), 448.0f);
}

}  // namespace
}  // namespace ignis
