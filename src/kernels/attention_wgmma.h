// ignis kernels (internal to attention.cu / attention_mma.cu): the Hopper (sm_90a, wgmma) kernel for
// the prefill tiles of a paged-attention launch. Same arguments, masking and output/split layout
// as the other kernels (attention.h, attention_mma.h); head_dim 128, bf16/fp16 only, a cache of the
// compute dtype or of FP8 codes.
#pragma once
#include <cuda_runtime_api.h>

#include "kernels/attention.h"

namespace ignis::kernels {

// Query rows per pass of a block (two warpgroups of 64) and tokens per tile that fill one pass.
constexpr int kWgmmaAttentionRows = 128;
inline int attention_wgmma_tile_tokens(int gqa) {
  return gqa >= kWgmmaAttentionRows ? 1 : kWgmmaAttentionRows / (gqa < 1 ? 1 : gqa);
}
bool attention_wgmma_shape_supported(int gqa, int head_dim, DType dtype);
// Whether the current device runs the sm_90a code (compute capability 9.0); read once. False
// without a device.
bool wgmma_device();

// Tests: at most n persistent blocks (0 = one per SM, the default), so that every block runs many
// items and passes.
void set_attention_wgmma_max_blocks(int n);
int attention_wgmma_max_blocks();

// Launches the kernel over every tile of more than 16 query rows; smaller (decode) tiles are
// skipped, for the decode kernel (attention_mma.cu) to take. The caller has checked the shape
// (attention_wgmma_shape_supported), the device and the 16-byte alignment of q and the caches; `a`
// holds the effective arguments (see paged_attention_mma).
void launch_paged_attention_wgmma(const PagedAttentionArgs& a, cudaStream_t stream);
// The same for an FP8 cache (attention_wgmma_fp8.cu).
void launch_paged_attention_wgmma_fp8(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace ignis::kernels
