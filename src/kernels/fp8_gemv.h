// ignis kernels: FP8 GEMV for small batches (decode at batch 1-8): the W8A8 product of kernels/fp8.h,
// y (m, n) = (x8 (m, k) . w8 (n, k)^T) * scales, e4m3 operands, fp32 accumulation, y rounded once.
// Bandwidth-bound: every weight byte is read once; the design and its predicted bandwidth are in
// the header of fp8_gemv.cu.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"
#include "kernels/fp8.h"
#include "kernels/rope_kv.h"

namespace ignis::kernels {

constexpr int kFp8GemvMaxM = 8;  // the mma's N: 1..8 rows of x cost the same weight traffic

// Whether gemv_fp8() takes this case: m in [1, kFp8GemvMaxM], out F32 / F16 / BF16. Any n and k;
// the tensor-core kernel needs k % 16 == 0 and x8 / w8 16-byte aligned, other shapes take a
// warp-per-channel CUDA-core kernel (correct, slower).
bool gemv_fp8_supported(DType out, int m);

// x8 (m, k) e4m3, w8 (n, k) e4m3, row-major; scales per `scaling` (kernels/fp8.h):
//   Channel: sx (m), sw (n);  Block: sx (ceil(k / 128), m), sw (ceil(n / 128), fp8_block_scale_ld(k)).
// y (m, n) of dtype `out`. pdl: launched with programmatic dependent launch (weights and their
// scales are loaded before griddepcontrol.wait, x and sx after).
void gemv_fp8(DType out, const void* x8, const float* sx, const void* w8, const float* sw, void* y, int m, int n,
              int k, Fp8Scaling scaling, cudaStream_t stream, bool pdl);

// The FP8 GEMV with its producer fused in (fp8_gemv_fused.cu): each block first quantizes the rows of x
// from `src` (a dtype tensor, the activation dtype; F16 / BF16) as quantize_rows_fp8 would (kernels/fp8.h:
// one dynamic scale per row, or a static scale; channel scaling) into shared memory, and then runs
// gemv_fp8's product on those codes: the separate producer kernel and its launch are gone, and y gets
// the same bits as the producer followed by gemv_fp8. Every block reads all of x (twice: the amax, then
// the codes), so it pays for few rows: up to kFp8FusedMaxM, with m * k codes fitting kFp8FusedMaxSmem
// bytes of shared memory.
constexpr int kFp8FusedMaxM = 4;
constexpr int kFp8FusedMaxSmem = 48 * 1024;

struct Fp8FusedX {
  const void* src = nullptr;            // (m, k) of the activation dtype, row stride ld
  int64_t ld = 0;
  const float* static_scale = nullptr;  // one float on the device; null: dynamic per row
};

// Whether gemv_fp8_fused() takes this case (dtype F16 / BF16, m in [1, kFp8FusedMaxM], k % 16 == 0,
// m * k <= kFp8FusedMaxSmem, src 16-byte aligned, ld a multiple of 8 and at least k, w8 16-byte aligned).
bool gemv_fp8_fused_supported(DType dtype, const Fp8FusedX& x, const void* w8, int m, int k);

// y (m, n) of `dtype` = the channel-scaled W8A8 product of x8 = e4m3(x / sx) and w8 (n, k) with scales
// sw (n), x and sx as described by `x`. pdl as gemv_fp8.
void gemv_fp8_fused(DType dtype, const Fp8FusedX& x, const void* w8, const float* sw, void* y, int m, int n, int k,
                    cudaStream_t stream, bool pdl);

// The q/k/v FP8 GEMV with rope_qkv_write_kv in its epilogue (fp8_gemv_rope.cu): x8 (a.n, k) with channel
// scales sx as gemv_fp8's, w8 ((num_heads + 2 num_kv_heads) head_dim, k) with channel scales sw; a as
// rope_qkv_write_kv takes it (a.qkv the projection's output). A block owns 8 columns of one head's first
// half and the matching 8 of its second half: q heads are rotated in place in a.qkv, k (rotated) and v
// (with the bias) written to the caches at a.slot_mapping, with the bits of gemv_fp8 followed by
// rope_qkv_write_kv; a.qkv's k / v columns are not written. Needs a.dtype F16 / BF16, a.n in 1..8,
// head_dim % 16 == 0, k % 16 == 0, x8 / w8 16-byte aligned (and valid FP8 KV scales).
bool gemv_fp8_rope_supported(const RopeKvArgs& a, const void* x8, const void* w8, int k);
void gemv_fp8_rope(const RopeKvArgs& a, const void* x8, const float* sx, const void* w8, const float* sw, int k,
                   cudaStream_t stream, bool pdl);

}  // namespace ignis::kernels
