// ignis kernels: GEMV for small batches (decode at batch 1-4): y (m, n) = x (m, k) . w (n, k)^T,
// row-major, fp32 accumulation. Bandwidth-bound: every weight byte is read once, with 16-byte
// loads and several loads in flight per lane; one warp per output row.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"

namespace ignis::kernels {

constexpr int kGemvMaxM = 4;
// The most rows CudaModel sends to gemv() instead of cuBLASLt: on the H200 (Llama-3.1-8B shape,
// bf16, `ignis bench latency --concurrency c`, 2026-12-03) the GEMV wins at 1 row (227 vs 202 tok/s)
// and 2 (420 vs 404) and loses at 3 (487 vs 578) and 4 (653 vs 788).
constexpr int kGemvPreferredMaxM = 2;

// Whether gemv() handles this case: m in [1, kGemvMaxM], `in` F16/BF16, `out` = in or F32,
// k a multiple of 8, x / w 16-byte aligned.
bool gemv_supported(DType in, DType out, const void* x, const void* w, int m, int k);

// x (m, k), w (n, k) of dtype `in`; y (m, n) of dtype `out`. pdl: launched with programmatic
// dependent launch (its first weight loads overlap the kernel before it; x is read after
// griddepcontrol.wait).
void gemv(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream,
          bool pdl = true);

// The tensor-core GEMV for dense weights, 1-64 rows: the integer GEMV's kernel (int_gemv_impl.cuh) with
// the weights' bf16 / fp16 pairs as its A fragments (16 output channels per block, mma.sync m16n8k16,
// x padded to a multiple of 8 rows, split-k over 16 warps, fp32 accumulation). Row invariance: the same
// split of k at every m, so a row of y is the same bits whatever m is (a decode step of one token and
// a speculative verification of several compute the same sums; CudaModelOptions::batch_invariant
// relies on it). Bandwidth-bound at 1-16 rows; at 32-64 the x fragments make it slower than cuBLASLt.
constexpr int kGemvMmaMaxM = 64;
constexpr int kGemvMmaUnit = 32;  // k must be a multiple of it

// m in [1, kGemvMmaMaxM], `in` F16/BF16, `out` = in or F32, k % 32 == 0, x / w 16-byte aligned.
bool gemv_mma_supported(DType in, DType out, const void* x, const void* w, int m, int k);
void gemv_mma(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream,
              bool pdl = true);

}  // namespace ignis::kernels
