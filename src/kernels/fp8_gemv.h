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

}  // namespace ignis::kernels
