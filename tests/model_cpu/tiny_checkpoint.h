// Test helpers: a tiny random in-memory checkpoint (no files) and a naive dense
// forward pass (full recompute, explicit causal/window mask) to check CpuModel against.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace ignis::test {

// A small Llama-family config: hidden 32, 4 heads of 8, `kv_heads` KV heads, 2 layers, vocab 64.
ModelConfig tiny_config(Arch arch = Arch::Llama, int kv_heads = 2, int sliding_window = 0);

// Random weights for every tensor `cfg` needs (biases when attention_bias / Qwen2 / o_proj_bias,
// no lm_head when tied), stored as `dtype` (F32, F16 or BF16). Deterministic in `seed`.
WeightStore tiny_weights(const ModelConfig& cfg, uint64_t seed, DType dtype = DType::F32);

// Logits (tokens.size(), vocab) of one sequence starting at position 0, computed densely
// with plain loops: no KV cache, no paging, an explicit mask matrix.
std::vector<float> naive_logits(const ModelConfig& cfg, const WeightStore& ws, const std::vector<int32_t>& tokens);

// max |a - b| / max |b|.
double rel_err(const float* a, const float* b, size_t n);

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed);

}  // namespace ignis::test
