// ignis kernels: q/k/v bias + rotary embedding on q and k, K/V written into the paged cache.
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
  void* k_cache = nullptr;        // this layer: (num_blocks, block_size, num_kv_heads, head_dim)
  void* v_cache = nullptr;        // same shape
  int n = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
};

// Hugging Face rotate_half convention: pairs (i, i + head_dim/2), angle = pos * inv_freq[i].
void rope_qkv_write_kv(const RopeKvArgs& a, cudaStream_t stream);

}  // namespace ignis::kernels
