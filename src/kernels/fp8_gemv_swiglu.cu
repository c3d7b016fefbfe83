// gate_up's FP8 GEMV with SwiGLU in its epilogue (kernels/fp8_gemv.h gemv_fp8_swiglu): gemv_fp8_kernel with
// SwigluY tiles (fp8_gemv_impl.cuh), each block 8 gate channels and the same 8 up channels.
//
// Why: at batch 1 silu_mul is a one-block kernel (its row's amax for the FP8 scale) between two long
// GEMVs; here the gate_up GEMV writes h itself and its blocks' amax partials, and down's GEMV
// (gemv_fp8_fused, RowsPartialAmax) reduces the partials and quantizes h while its first weights load.
// The weight traffic and the split-k order are gemv_fp8's, so gate and up get gemv_fp8's bits; h is
// silu_mul's (kernels/swiglu.cuh silu_times on the rounded gate and up, rounded), the amax is exact.
#include <cstdint>
#include <string>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_gemv_impl.cuh"

namespace ignis::kernels {

int fp8_swiglu_parts(int inter) {
  return (inter + fp8_gemv_detail::SwigluY<float>::kChannels - 1) / fp8_gemv_detail::SwigluY<float>::kChannels;
}

bool gemv_fp8_swiglu_supported(DType dtype, const void* x8, const void* w8, int m, int k) {
  return (dtype == DType::BF16 || dtype == DType::F16) && m >= 1 && m <= kFp8GemvMaxM && k > 0 && k % 16 == 0 &&
         aligned16(x8) && aligned16(w8);
}

void gemv_fp8_swiglu(DType dtype, const void* x8, const float* sx, const void* w8, const float* sw, void* h,
                     float* amax_parts, int m, int inter, int k, cudaStream_t stream, bool pdl) {
  using namespace fp8_gemv_detail;
  IGNIS_KCHECK(gemv_fp8_swiglu_supported(dtype, x8, w8, m, k),
               "gemv_fp8_swiglu: unsupported case (m " + std::to_string(m) + ", k " + std::to_string(k) + ")");
  IGNIS_KCHECK(h != nullptr && amax_parts != nullptr, "gemv_fp8_swiglu: no h or amax_parts");
  if (inter <= 0) return;
  IGNIS_DISPATCH_HALF(dtype, T, {
    launch_fp8_tiles<T, false, DefaultFp8Shape, GlobalX, SwigluY<T>>(
        GlobalX{static_cast<const uint8_t*>(x8), sx}, 0, static_cast<const uint8_t*>(w8), sw,
        SwigluY<T>{static_cast<T*>(h), amax_parts}, m, inter, k, stream, pdl);
  });
  IGNIS_CUDA_LAUNCH_CHECK("gemv_fp8_kernel (SwiGLU epilogue)");
}

}  // namespace ignis::kernels
