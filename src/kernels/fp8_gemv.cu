// FP8 GEMV (kernels/fp8_gemv.h): argument checks, the CUDA-core fallback for any k and alignment, and the
// dispatch; the tensor-core kernel and its design are in fp8_gemv_impl.cuh.
#include <cuda_fp8.h>

#include <cstdint>
#include <string>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_gemv_impl.cuh"
#include "kernels/pdl.cuh"

namespace ignis::kernels {

namespace {

using namespace fp8_gemv_detail;

__device__ __forceinline__ float e4m3_to_f(uint8_t b) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(b, __NV_E4M3)));
}

// Any k and alignment: grid (ceil(n / kWarps)), block (32 * kWarps), a warp per output channel,
// lanes strided over k with byte loads, all m rows at once.
template <class TO, bool kBlock>
__global__ void __launch_bounds__(32 * kWarps)
    gemv_fp8_generic_kernel(const uint8_t* __restrict__ x, const float* __restrict__ sx, const uint8_t* __restrict__ w,
                            const float* __restrict__ sw, TO* __restrict__ y, int m, int n, int k) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5);
  pdl_wait();
  if (row >= n) return;
  const uint8_t* wr = w + size_t(row) * k;
  float acc[kFp8GemvMaxM];
#pragma unroll
  for (int i = 0; i < kFp8GemvMaxM; ++i) acc[i] = 0.0f;
  const int nkb = kBlock ? (k + kFp8Group - 1) / kFp8Group : 1;
  const int span = kBlock ? kFp8Group : k;
  for (int kb = 0; kb < nkb; ++kb) {
    float part[kFp8GemvMaxM];
#pragma unroll
    for (int i = 0; i < kFp8GemvMaxM; ++i) part[i] = 0.0f;
    const int j1 = min(k, (kb + 1) * span);
    for (int j = kb * span + lane; j < j1; j += 32) {
      const float wf = e4m3_to_f(wr[j]);
#pragma unroll
      for (int i = 0; i < kFp8GemvMaxM; ++i)
        if (i < m) part[i] = fmaf(wf, e4m3_to_f(x[size_t(i) * k + j]), part[i]);
    }
    if constexpr (kBlock) {
      const float s = sw[size_t(row / 128) * fp8_block_scale_ld(k) + kb];
#pragma unroll
      for (int i = 0; i < kFp8GemvMaxM; ++i)
        if (i < m) acc[i] = fmaf(part[i], sx[size_t(kb) * m + i] * s, acc[i]);
    } else {
#pragma unroll
      for (int i = 0; i < kFp8GemvMaxM; ++i) acc[i] = part[i];
    }
  }
#pragma unroll
  for (int i = 0; i < kFp8GemvMaxM; ++i) {
    if (i >= m) break;
    float s = warp_sum(acc[i]);
    if constexpr (!kBlock) s = s * sx[i] * sw[row];
    if (lane == 0) y[size_t(i) * n + row] = from_f<TO>(s);
  }
}

template <class TO, bool kBlock>
void launch(const void* x8, const float* sx, const void* w8, const float* sw, void* y, int m, int n, int k,
            cudaStream_t s, bool pdl) {
  const auto* xp = static_cast<const uint8_t*>(x8);
  const auto* wp = static_cast<const uint8_t*>(w8);
  TO* yp = static_cast<TO*>(y);
  if (k % 16 == 0 && aligned16(x8) && aligned16(w8))
    launch_fp8_tiles<TO, kBlock>(GlobalX{xp, sx}, 0, wp, sw, RowsY<TO>{yp}, m, n, k, s, pdl);
  else
    launch_pdl(pdl, gemv_fp8_generic_kernel<TO, kBlock>, dim3((n + kWarps - 1) / kWarps), dim3(32 * kWarps), 0, s,
               xp, sx, wp, sw, yp, m, n, k);
}

}  // namespace

bool gemv_fp8_supported(DType out, int m) {
  return m >= 1 && m <= kFp8GemvMaxM && (out == DType::F32 || out == DType::F16 || out == DType::BF16);
}

void gemv_fp8(DType out, const void* x8, const float* sx, const void* w8, const float* sw, void* y, int m, int n,
              int k, Fp8Scaling scaling, cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemv_fp8_supported(out, m), "gemv_fp8: unsupported case (m " + std::to_string(m) + ", 1-" +
                                               std::to_string(kFp8GemvMaxM) + "; output F32 / F16 / BF16)");
  IGNIS_KCHECK(k > 0, "gemv_fp8: k " + std::to_string(k));
  if (n <= 0) return;
  IGNIS_DISPATCH_FLOAT(out, TO, {
    if (scaling == Fp8Scaling::Block)
      launch<TO, true>(x8, sx, w8, sw, y, m, n, k, stream, pdl);
    else
      launch<TO, false>(x8, sx, w8, sw, y, m, n, k, stream, pdl);
  });
  IGNIS_CUDA_LAUNCH_CHECK("gemv_fp8_kernel");
}

}  // namespace ignis::kernels
