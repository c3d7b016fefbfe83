// ignis kernels (internal to attention.cu / attention_mma.cu): the tensor-core paged attention.
// Same arguments and semantics as the simple kernel of attention.cu (see attention.h); writes
// either the final output (num_splits == 1, times a.v_scale) or the split partials in the workspace layout
// that attention.cu's combine kernel reads: acc (num_tokens, num_heads, S, D) floats, then
// (m, l) (num_tokens, num_heads, S, 2) with m in the natural-log domain (scores * scale).
#pragma once
#include <cuda_runtime_api.h>

#include "kernels/attention.h"

namespace ignis::kernels {

// Query rows (tile tokens x gqa) per pass of a block and tokens per tile that fill one pass.
constexpr int kMmaAttentionRows = 64;
inline int attention_mma_tile_tokens(int gqa) { return gqa >= kMmaAttentionRows ? 1 : kMmaAttentionRows / (gqa < 1 ? 1 : gqa); }

// Whether paged_attention_mma runs `a` on the decode kernel alone (its tiles average <= 16 query rows:
// decode steps, CUDA-graph padding tiles included). That kernel's blocks of padding tiles write their
// token's empty (m, l) pairs, so the split merge needs no separate marking pass.
inline bool attention_mma_decode_only(const PagedAttentionArgs& a) {
  const int G = a.num_heads / (a.num_kv_heads < 1 ? 1 : a.num_kv_heads);
  return int64_t(a.num_tokens) * G <= int64_t(kDecodeTileRows) * a.num_tiles;
}

// dtype BF16/F16, head_dim 64 or 128, 1 <= gqa <= 32.
bool attention_mma_shape_supported(int gqa, int head_dim, DType dtype);

// Launches the main kernel (not the split combine). Returns false, launching nothing, when the
// shape is unsupported or a pointer/stride is not aligned for 16-byte loads (q, k/v caches) and
// 4-byte stores (out); the caller then runs the simple kernel. wgmma_prefill (head_dim 128 only;
// the caller has checked the device, attention_wgmma.h): launches that are not all decode tiles
// run the wgmma kernel for their prefill tiles and the decode kernel for the rest.
// `a` holds the effective arguments (paged_attention: kv_dtype F8_E4M3 or dtype, k_scale folded into
// scale, v_scale 1 unless FP8).
bool paged_attention_mma(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream);
// The same launch for an FP8 cache (attention_mma_fp8.cu), shape and alignment checked.
void launch_paged_attention_mma_fp8(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream);

}  // namespace ignis::kernels
