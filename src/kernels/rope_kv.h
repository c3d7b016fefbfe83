// ignis kernels: q/k/v bias + rotary embedding on q and k, K/V written into the paged cache
// (in the compute dtype, or as FP8 e4m3 codes with per-layer scales).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace ignis::kernels {

struct RopeKvArgs {
  DType dtype = DType::BF16;
  void* qkv = nullptr;            // (n, (num_heads + 2*num_kv_heads) * head_dim): q | k | v; q rotated in place
  const void* bias = nullptr;     // ((num_heads + 2*num_kv_heads) * head_dim) or null (Qwen2 q/k/v bias)
  const int32_t* positions = nullptr;     // (n) absolute position of each token
  const int32_t* slot_mapping = nullptr;  // (n) block_id * block_size + offset; < 0 = do not write K/V
  const float* inv_freq = nullptr;        // (head_dim / 2) host-precomputed (rope_scaling applied)
  void* k_cache = nullptr;        // this layer: (num_blocks, block_size, num_kv_heads, head_dim) of kv_dtype
  void* v_cache = nullptr;        // same shape
  int n = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  // The cache's element type: F8_E4M3 = e4m3 codes, code = e4m3(x * (1 / scale)) of the fp32 value the
  // compute-dtype path would round to dtype (K after bias and RoPE, V after bias), round to nearest
  // even, saturating (needs dtype BF16 or F16); any other value = dtype.
  DType kv_dtype = DType::BF16;
  float k_scale = 1.0f, v_scale = 1.0f;  // F8_E4M3 only (finite, > 0)
};

// Hugging Face rotate_half convention: pairs (i, i + head_dim/2), angle = pos * inv_freq[i].
void rope_qkv_write_kv(const RopeKvArgs& a, cudaStream_t stream);

// Whether a's FP8 KV scales are usable (finite and > 0; true for a cache of another dtype).
bool rope_kv_scales_valid(const RopeKvArgs& a);

}  // namespace ignis::kernels
