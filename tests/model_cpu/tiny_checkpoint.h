// Test helpers: a tiny random in-memory checkpoint (no files) and a naive dense
// forward pass (full recompute, explicit causal/window mask) to check CpuModel against.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "quant/scheme.h"

namespace ignis::test {

// A small Llama-family config: hidden 32, 4 heads of 8, `kv_heads` KV heads, 2 layers, vocab 64.
ModelConfig tiny_config(Arch arch = Arch::Llama, int kv_heads = 2, int sliding_window = 0);

// Random weights for every tensor `cfg` needs (biases when attention_bias / Qwen2 / o_proj_bias,
// no lm_head when tied; a fusion config's fc, without the norms it drops), stored as `dtype` (F32, F16 or BF16). Deterministic in `seed`.
WeightStore tiny_weights(const ModelConfig& cfg, uint64_t seed, DType dtype = DType::F32);

// FP8 fake-quantization for naive_logits: per module ("model.layers.0.self_attn.q_proj", "lm_head"),
// how its input is quantized (spec.act, act_group) and its static input scale; per layer the KV
// scales (empty: K/V not quantized). The weights in `ws` are the dequantized ones (F32).
// naive_logits also reports, in `ambiguous_from`, the first position whose fake-quantized values
// include one within a relative 1e-5 of an e4m3 rounding midpoint (or n if none): from there on
// (causal attention carries it forward) an implementation that sums in another order may round the
// other way, so only earlier positions can be compared tightly.
struct NaiveQuant {
  std::map<std::string, std::pair<LinearSpec, float>> inputs;
  std::vector<std::pair<float, float>> kv_scales;
  mutable int ambiguous_from = 0;
};

// Logits (tokens.size(), vocab) of one sequence starting at position 0, computed densely
// with plain loops: no KV cache, no paging, an explicit mask matrix. With `q`, every projection's
// input is fake-quantized first (quant/quantize.h) and K (after RoPE) / V too. A fusion config
// (ModelConfig::fusion) needs `features` (tokens.size(), hidden): row t is fused with token t.
std::vector<float> naive_logits(const ModelConfig& cfg, const WeightStore& ws, const std::vector<int32_t>& tokens,
                                const NaiveQuant* q = nullptr, const std::vector<float>* features = nullptr);

// max |a - b| / max |b|.
double rel_err(const float* a, const float* b, size_t n);

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed);

}  // namespace ignis::test
