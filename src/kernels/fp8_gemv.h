// ignis kernels: FP8 GEMV for small batches (decode at batch 1-8): the W8A8 product of kernels/fp8.h,
// y (m, n) = (x8 (m, k) . w8 (n, k)^T) * scales, e4m3 operands, fp32 accumulation, y rounded once.
// Bandwidth-bound: every weight byte is read once; the design and its predicted bandwidth are in
// the header of fp8_gemv.cu.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"
#include "kernels/fp8.h"

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

// The FP8 GEMV with its producer fused in (fp8_gemv_fused.cu): each block first computes x's codes
// from `src` (a dtype tensor, the activation dtype; F16 / BF16), quantized as the producer would
// (kernels/fp8.h: one dynamic scale per row, or a static scale; channel scaling) into shared memory, and
// then runs gemv_fp8's product on those codes: the separate producer kernel and its launch are gone, and
// y gets the same bits as the producer followed by gemv_fp8.
//   Rows:            x = src (m, k), row stride ld (quantize_rows_fp8's input); every block reads the
//                    row twice (the amax, then the codes);
//   RowsPartialAmax: the same rows, but their amax is the max of amax_parts (m, num_parts), written by
//                    the GEMV before (gemv_fp8_swiglu): one pass over the row.
// Every block reads all of x's source, so it pays for few rows: up to kFp8FusedMaxM, with m * k codes
// fitting kFp8FusedMaxSmem bytes of shared memory.
enum class Fp8Producer : uint8_t { Rows, RowsPartialAmax };
constexpr int kFp8FusedMaxM = 4;
constexpr int kFp8FusedMaxSmem = 48 * 1024;

struct Fp8FusedX {
  Fp8Producer producer = Fp8Producer::Rows;
  const void* src = nullptr;            // (m, k) of the activation dtype, row stride ld
  int64_t ld = 0;
  const float* static_scale = nullptr;  // one float on the device; null: dynamic per row
  const float* amax_parts = nullptr;    // RowsPartialAmax: (m, num_parts), row b's amax their max
  int num_parts = 0;
};

// Whether gemv_fp8_fused() takes this case (dtype F16 / BF16, m in [1, kFp8FusedMaxM], k % 16 == 0,
// m * k <= kFp8FusedMaxSmem, src 16-byte aligned, ld a multiple of 8 and at least k, w8 16-byte aligned;
// RowsPartialAmax: amax_parts given with num_parts >= 1 unless the scale is static).
bool gemv_fp8_fused_supported(DType dtype, const Fp8FusedX& x, const void* w8, int m, int k);

// y (m, n) of `dtype` = the channel-scaled W8A8 product of x8 = e4m3(x / sx) and w8 (n, k) with scales
// sw (n), x and sx as described by `x`. pdl as gemv_fp8.
void gemv_fp8_fused(DType dtype, const Fp8FusedX& x, const void* w8, const float* sw, void* y, int m, int n, int k,
                    cudaStream_t stream, bool pdl);

// gate_up's FP8 GEMV with SwiGLU in its epilogue (fp8_gemv_swiglu.cu), for the down projection's
// RowsPartialAmax input at few rows: x8 (m, k) with channel scales sx (m) as gemv_fp8's; w8 (2 inter, k) =
// the gate rows then the up rows, channel scales sw (2 inter). A block owns 8 gate channels and the same
// 8 up channels, so its epilogue has both halves of h = silu(gate) * up: h (m, inter) of dtype gets the
// bits gemv_fp8 then silu_mul would write (gate, up and h each rounded to dtype), and amax_parts (m,
// fp8_swiglu_parts(inter)) gets each block's max |h| per row, so that down's producer needs no
// block-wide pass over h for the row's scale. The 2 inter-wide gate_up output and silu_mul's launch
// are gone.
int fp8_swiglu_parts(int inter);
bool gemv_fp8_swiglu_supported(DType dtype, const void* x8, const void* w8, int m, int k);  // F16 / BF16, m 1..8, k % 16 == 0, aligned
void gemv_fp8_swiglu(DType dtype, const void* x8, const float* sx, const void* w8, const float* sw, void* h,
                     float* amax_parts, int m, int inter, int k, cudaStream_t stream, bool pdl);

}  // namespace ignis::kernels
