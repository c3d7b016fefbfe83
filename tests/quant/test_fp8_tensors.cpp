// load_linear / load_kv_scales / validate_weights on FP8 tensors: fusion of parts (per-tensor scales,
// static input scales, block re-blocking), every bad tensor (missing, wrong shape or dtype, NaN / inf /
// zero / negative scales) named with its file; the CPU FP8 KV cache; the calibration observer; the
// engine's KV byte accounting with an FP8 pool.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "fp8_writer.h"
#include "test_tensors.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/quantize_checkpoint.h"
#include "quant/quantize.h"
#include "runtime/engine.h"

namespace ignis {
namespace {

LinearSpec fp8(WeightScale w, ActScale a) {
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  s.wscale = w;
  s.act = a;
  return s;
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Tensors of the in-memory stores below name "mem.safetensors" in their errors.
void put(WeightStore& ws, const std::string& name, DType t, std::vector<int64_t> shape, std::vector<uint8_t> b) {
  test::add_owned(ws, name, t, std::move(shape), std::move(b), "mem.safetensors");
}

// A compressed-tensors style copy of the tiny dense store: projections as F8 + weight_scale (+ input_scale),
// optional KV scales; `scale_of(module)` picks each module's per-tensor input scale.
WeightStore fp8_store(const ModelConfig& cfg, const WeightStore& dense, const LinearSpec& spec, bool kv) {
  WeightStore ws;
  ws.set_origin("mem");
  for (auto& [name, t] : dense.all()) {
    const bool proj = t.shape.size() == 2 && name != "model.embed_tokens.weight" && name != "lm_head.weight";
    const auto* p = static_cast<const uint8_t*>(t.data);
    if (!proj) {
      put(ws, name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes));
      continue;
    }
    const std::string m = name.substr(0, name.size() - 7);
    QuantizedLinear q = quantize_weight_fp8(t.dtype, t.data, t.shape[0], t.shape[1], spec);
    put(ws, name, DType::F8_E4M3, t.shape, q.data);
    std::vector<int64_t> sshape = spec.wscale == WeightScale::Channel ? std::vector<int64_t>{t.shape[0], 1}
                                                                      : std::vector<int64_t>{1};
    put(ws, m + ".weight_scale", DType::F32, sshape, f32_bytes(q.scale));
    if (spec.act == ActScale::StaticTensor) put(ws, m + ".input_scale", DType::F32, {}, f32_bytes({0.02f}));
  }
  if (kv)
    for (int l = 0; l < cfg.num_layers; ++l) {
      put(ws, layer_tensor_name(l, "self_attn.k_scale"), DType::F32, {1}, f32_bytes({0.01f + 0.001f * l}));
      put(ws, layer_tensor_name(l, "self_attn.v_scale"), DType::F32, {1}, f32_bytes({0.005f}));
    }
  return ws;
}

ModelConfig quantized(ModelConfig c, const LinearSpec& spec, bool kv) {
  c.quant.method = QuantConfig::Method::CompressedTensors;
  c.quant.linear = spec;
  c.quant.ignore = {"lm_head"};
  c.quant.kv_cache_fp8 = kv;
  c.quant.source = "mem/config.json";
  return c;
}

TEST(Fp8Tensors, FusedPerTensorScalesBecomePerChannelWhenTheyDiffer) {
  ModelConfig c = test::tiny_config();
  WeightStore dense = test::tiny_weights(c, 1);
  const LinearSpec spec = fp8(WeightScale::Tensor, ActScale::StaticTensor);
  ModelConfig qc = quantized(c, spec, false);
  WeightStore ws = fp8_store(qc, dense, spec, false);
  validate_weights(ws, qc);
  HostLinear qkv = load_linear(ws, qc, layer_linears(0).qkv, c.hidden_size);
  EXPECT_EQ(qkv.name, "model.layers.0.self_attn.qkv (fused)");
  EXPECT_EQ(qkv.n, c.q_size() + 2 * c.kv_size());
  EXPECT_EQ(qkv.spec.wscale, WeightScale::Channel);  // q, k, v amax differ
  EXPECT_EQ(qkv.q.input_scale, 0.02f);
  // Each row keeps its part's scale: the fused dequantized weight is the parts' dequantized weights.
  std::vector<float> fused(size_t(qkv.n * qkv.k), NAN);
  dequantize_weight(qkv.q, fused.data());
  size_t off = 0;
  for (const std::string& m : layer_linears(0).qkv) {
    HostLinear part = load_linear(ws, qc, {m}, c.hidden_size);
    EXPECT_EQ(part.spec.wscale, WeightScale::Tensor);
    std::vector<float> d(size_t(part.n * part.k));
    dequantize_weight(part.q, d.data());
    for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(fused[off + i], d[i]) << m << " " << i;
    off += d.size();
  }
  // Equal scales stay per tensor; differing static input scales take the largest.
  WeightStore same = fp8_store(qc, dense, spec, false);
  const float one = 0.001f;
  for (const std::string& m : layer_linears(0).gate_up) {
    TensorRef t = same.get(m + ".weight_scale");
    auto b = f32_bytes({one});
    t.data = b.data();
    same.keep_alive(std::move(b));
    same.add(t);
  }
  put(same, "model.layers.0.mlp.up_proj.input_scale", DType::F32, {}, f32_bytes({0.05f}));
  HostLinear gu = load_linear(same, qc, layer_linears(0).gate_up, c.hidden_size);
  EXPECT_EQ(gu.spec.wscale, WeightScale::Tensor);
  EXPECT_EQ(gu.q.scale, std::vector<float>{one});
  EXPECT_EQ(gu.q.input_scale, 0.05f);
}

TEST(Fp8Tensors, BlockPartsAreReblockedOnTheirBoundaries) {
  ModelConfig c = test::tiny_config();  // q 32 rows, k/v 16 rows each
  WeightStore dense = test::tiny_weights(c, 2);
  LinearSpec spec = fp8(WeightScale::Block, ActScale::DynamicGroup);
  spec.block_n = 24;  // part boundaries at 32 and 48: not block edges
  spec.block_k = 16;
  spec.act_group = 16;
  WeightStore ws;
  ws.set_origin("mem");
  std::vector<QuantizedLinear> parts;
  for (const std::string& m : layer_linears(0).qkv) {
    const TensorRef& t = dense.get(m + ".weight");
    QuantizedLinear q = quantize_weight_fp8(t.dtype, t.data, t.shape[0], t.shape[1], spec);
    put(ws, m + ".weight", DType::F8_E4M3, t.shape, q.data);
    put(ws, m + ".weight_scale", DType::F32, {int64_t(q.scale.size()) / 2, 2}, f32_bytes(q.scale));
    parts.push_back(std::move(q));
  }
  ModelConfig qc = quantized(c, spec, false);
  HostLinear h = load_linear(ws, qc, layer_linears(0).qkv, c.hidden_size);
  EXPECT_EQ(h.spec.block_n, 8);  // gcd(24, 32, 16)
  EXPECT_EQ(h.spec.block_k, 16);
  EXPECT_EQ(int64_t(h.q.scale.size()), num_weight_scales(h.spec, h.n, h.k));
  std::vector<float> fused(size_t(h.n * h.k), NAN);
  dequantize_weight(h.q, fused.data());
  size_t off = 0;
  for (auto& p : parts) {
    std::vector<float> d(size_t(p.n * p.k));
    dequantize_weight(p, d.data());
    for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(fused[off + i], d[i]) << i;
    off += d.size();
  }
}

// Each case breaks one tensor of a valid FP8 store; the error must name the tensor and its file.
TEST(Fp8Tensors, EveryBadTensorIsOneClearError) {
  ModelConfig c = test::tiny_config();
  WeightStore dense = test::tiny_weights(c, 3);
  const LinearSpec spec = fp8(WeightScale::Channel, ActScale::StaticTensor);
  const ModelConfig qc = quantized(c, spec, true);
  const std::string w = "model.layers.1.mlp.down_proj.weight", s = "model.layers.1.mlp.down_proj.weight_scale",
                    in = "model.layers.1.mlp.down_proj.input_scale", ks = "model.layers.0.self_attn.k_scale";
  auto scale_values = [&](float v) {
    return [=](WeightStore& ws) {
      std::vector<float> vals(size_t(c.hidden_size), 0.01f);
      vals[3] = v;
      put(ws, s, DType::F32, {c.hidden_size, 1}, f32_bytes(vals));
    };
  };
  struct Case {
    const char* what;
    std::function<void(WeightStore&)> breakit;
    std::string tensor, words;
  };
  std::vector<Case> cases = {
      {"missing scale", [&](WeightStore& ws) { ws.erase(s); }, s, "missing"},
      {"scale shape", [&](WeightStore& ws) { put(ws, s, DType::F32, {c.hidden_size, 2}, f32_bytes(std::vector<float>(size_t(2 * c.hidden_size), 0.01f))); }, s, "shape"},
      {"scale dtype", [&](WeightStore& ws) { put(ws, s, DType::I32, {c.hidden_size, 1}, std::vector<uint8_t>(size_t(4 * c.hidden_size), 1)); }, s, "I32"},
      {"NaN scale", scale_values(NAN), s, "nan"},
      {"inf scale", scale_values(INFINITY), s, "inf"},
      {"zero scale", scale_values(0.0f), s, "= 0"},
      {"negative scale", scale_values(-0.5f), s, "-0.5"},
      {"missing input scale", [&](WeightStore& ws) { ws.erase(in); }, in, "missing"},
      {"negative input scale", [&](WeightStore& ws) { put(ws, in, DType::F32, {1}, f32_bytes({-1.0f})); }, in, "positive"},
      {"weight shape", [&](WeightStore& ws) { put(ws, w, DType::F8_E4M3, {c.hidden_size, c.intermediate_size - 1}, std::vector<uint8_t>(size_t(c.hidden_size * (c.intermediate_size - 1)))); }, w, "shape"},
      {"dense weight where FP8 is declared", [&](WeightStore& ws) { put(ws, w, DType::F32, {c.hidden_size, c.intermediate_size}, f32_bytes(std::vector<float>(size_t(c.hidden_size * c.intermediate_size), 0.1f))); }, w, "F8_E4M3"},
      {"missing KV scale", [&](WeightStore& ws) { ws.erase(ks); }, ks, "missing"},
      {"zero KV scale", [&](WeightStore& ws) { put(ws, ks, DType::F32, {}, f32_bytes({0.0f})); }, ks, "positive"},
      {"KV scale shape", [&](WeightStore& ws) { put(ws, ks, DType::F32, {2}, f32_bytes({1.0f, 1.0f})); }, ks, "shape"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    WeightStore ws = fp8_store(qc, dense, spec, true);
    k.breakit(ws);
    try {
      validate_weights(ws, qc);  // shapes, dtypes, presence
      CpuModelOptions o;
      o.kv_dtype = DType::F8_E4M3;
      CpuModel m(qc, ws, o);     // values (load_linear, load_kv_scales)
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(k.tensor), std::string::npos) << msg;
      EXPECT_TRUE(msg.find("mem.safetensors") != std::string::npos || msg.find("mem:") == 0) << msg;
      EXPECT_NE(msg.find(k.words), std::string::npos) << "'" << k.words << "' not in: " << msg;
    }
  }
  // FP8 weights without a quantization_config.
  WeightStore ws = fp8_store(qc, dense, spec, false);
  try {
    validate_weights(ws, c);
    ADD_FAILURE() << "FP8 weights accepted without quantization_config";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantization_config"), std::string::npos) << e.what();
  }
}

TEST(Fp8Tensors, CpuKvCacheHoldsFakeQuantizedKAfterRopeAndV) {
  ModelConfig c = test::tiny_config(Arch::Qwen2, 2);  // q/k/v bias: K quantized after the bias and RoPE
  WeightStore ws = test::tiny_weights(c, 4);
  CpuModel f32(c, ws);
  const int bs = 8, blocks = 3;
  f32.init_kv_cache(blocks, bs);
  ForwardBatch b;
  b.tokens = test::random_tokens(20, c.vocab_size, 5);
  b.seqs.push_back({0, 20, {0, 1, 2}, false});
  std::vector<float> l32, l8;
  f32.forward(b, l32);
  // Scales from the fp32 cache's amax per layer (what calibration would give).
  CpuModelOptions o;
  o.kv_dtype = DType::F8_E4M3;
  const size_t n = size_t(20) * c.kv_size();
  for (int l = 0; l < c.num_layers; ++l)
    o.kv_scales.push_back({dynamic_scale(abs_max(f32.k_cache(l), int64_t(n))), dynamic_scale(abs_max(f32.v_cache(l), int64_t(n)))});
  const float ks = o.kv_scales[0].first, vs = o.kv_scales[0].second;
  CpuModel f8(c, ws, o);
  EXPECT_EQ(f8.kv_dtype(), DType::F8_E4M3);
  EXPECT_EQ(f32.kv_dtype(), DType::F32);
  f8.init_kv_cache(blocks, bs);
  f8.forward(b, l8);
  // Layer 0 sees the same input in both: its cache is exactly the fake-quantized fp32 cache.
  int changed = 0;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(f8.k_cache(0)[i], fake_quant_kv(f32.k_cache(0)[i], ks)) << i;
    ASSERT_EQ(f8.v_cache(0)[i], fake_quant_kv(f32.v_cache(0)[i], vs)) << i;
    changed += f8.k_cache(0)[i] != f32.k_cache(0)[i];
  }
  EXPECT_GT(changed, int(n / 2));
  EXPECT_NE(l8, l32);
  EXPECT_LT(test::rel_err(l8.data(), l32.data(), l32.size()), 0.05);
  // Without checkpoint or given scales: 1.0 (with a warning).
  CpuModelOptions none;
  none.kv_dtype = DType::F8_E4M3;
  CpuModel ones(c, ws, none);
  EXPECT_EQ(ones.kv_scales(), (std::vector<std::pair<float, float>>(2, {1.0f, 1.0f})));
  o.kv_scales = {{1.0f, 1.0f}};  // wrong count
  EXPECT_THROW(CpuModel(c, ws, o), Error);
  o.kv_scales = {{1.0f, 1.0f}, {0.0f, 1.0f}};
  EXPECT_THROW(CpuModel(c, ws, o), Error);
  o.kv_dtype = DType::BF16;
  EXPECT_THROW(CpuModel(c, ws, o), Error);
}

TEST(Fp8Tensors, EngineCountsOneBytePerFp8KvElement) {
  ModelConfig c = test::tiny_config();
  WeightStore ws = test::tiny_weights(c, 6);
  CpuModelOptions o;
  o.kv_dtype = DType::F8_E4M3;
  EngineConfig ec;
  ec.kv_block_size = 16;
  ec.kv_memory_bytes = int64_t(1) << 20;
  Engine e32(std::make_unique<CpuModel>(c, ws), ec), e8(std::make_unique<CpuModel>(c, ws, o), ec);
  EXPECT_EQ(e32.config().kv_num_blocks, int(ec.kv_memory_bytes / (c.kv_bytes_per_token(DType::F32) * 16)));
  EXPECT_EQ(e8.config().kv_num_blocks, int(ec.kv_memory_bytes / (c.kv_bytes_per_token(DType::F8_E4M3) * 16)));
  EXPECT_EQ(e8.config().kv_num_blocks, 4 * e32.config().kv_num_blocks);
}

TEST(Fp8Tensors, CalibrationObservesProjectionInputsAndKv) {
  ModelConfig c = test::tiny_config();
  WeightStore ws = test::tiny_weights(c, 7);
  CpuModel m(c, ws);
  const auto tokens = test::random_tokens(13, c.vocab_size, 9);
  Calibration cal = calibrate(m, {tokens, test::random_tokens(5, c.vocab_size, 10)}, false);
  EXPECT_EQ(cal.samples, 2);
  EXPECT_EQ(cal.tokens, 18);
  // Layer 0's q/k/v input is rmsnorm(embedding) * norm weight: amax computed here by hand.
  std::vector<float> emb(size_t(c.vocab_size) * c.hidden_size), g(size_t(c.hidden_size));
  to_f32(DType::F32, ws.get("model.embed_tokens.weight").data, emb.data(), emb.size());
  to_f32(DType::F32, ws.get("model.layers.0.input_layernorm.weight").data, g.data(), g.size());
  float amax = 0;
  for (const auto& seq : {tokens, test::random_tokens(5, c.vocab_size, 10)})
    for (int32_t t : seq) {
      double ss = 0;
      for (int j = 0; j < c.hidden_size; ++j) ss += double(emb[size_t(t) * c.hidden_size + j]) * emb[size_t(t) * c.hidden_size + j];
      const float r = float(1.0 / std::sqrt(ss / c.hidden_size + c.rms_norm_eps));
      for (int j = 0; j < c.hidden_size; ++j) amax = std::max(amax, std::fabs(g[j] * (emb[size_t(t) * c.hidden_size + j] * r)));
    }
  for (const std::string& mod : layer_linears(0).qkv) EXPECT_NEAR(cal.input_amax.at(mod), amax, 1e-5 * amax) << mod;
  for (int l = 0; l < c.num_layers; ++l)
    for (auto& group : {layer_linears(l).qkv, layer_linears(l).o, layer_linears(l).gate_up, layer_linears(l).down})
      for (auto& mod : group) EXPECT_GT(cal.input_amax.at(mod), 0.0f) << mod;
  EXPECT_GT(cal.input_amax.at("lm_head"), 0.0f);
  ASSERT_EQ(cal.kv_amax.size(), size_t(c.num_layers));
  for (auto [k, v] : cal.kv_amax) EXPECT_TRUE(k > 0 && v > 0);
  EXPECT_THROW(calibrate(m, {{}}, false), Error);
  EXPECT_THROW(calibrate(m, {{int32_t(c.vocab_size)}}, false), Error);
}

}  // namespace
}  // namespace ignis
