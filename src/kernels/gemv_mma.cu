// The tensor-core GEMV for dense bf16 / fp16 weights (kernels/gemv.h gemv_mma): the integer GEMV's
// kernel template (int_gemv_impl.cuh) at 16 bits, 1-64 rows, bf16 / fp16 or fp32 outputs.
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/gemv.h"
#include "kernels/int_gemv_impl.cuh"

namespace ignis::kernels {

namespace {
template <class T, class TO>
void launch(const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t s, bool pdl) {
  // no metadata: the group argument is unused at 16 bits
  int_gemv_detail::launch_gemv<T, 16, TO>(x, static_cast<const uint32_t*>(w), nullptr, y, m, n, k, k, s, pdl);
}
}  // namespace

bool gemv_mma_supported(DType in, DType out, const void* x, const void* w, int m, int k) {
  return m >= 1 && m <= kGemvMmaMaxM && (in == DType::BF16 || in == DType::F16) && (out == in || out == DType::F32) &&
         k > 0 && k % kGemvMmaUnit == 0 && aligned16(x) && aligned16(w);
}

void gemv_mma(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream,
              bool pdl) {
  IGNIS_KCHECK(gemv_mma_supported(in, out, x, w, m, k),
               "gemv_mma: unsupported case (m 1-64, f16/bf16, k % 32 == 0, aligned): m " + std::to_string(m) + ", k " +
                   std::to_string(k));
  if (n <= 0) return;
  if (in == DType::BF16) {
    if (out == DType::F32) launch<__nv_bfloat16, float>(x, w, y, m, n, k, stream, pdl);
    else launch<__nv_bfloat16, __nv_bfloat16>(x, w, y, m, n, k, stream, pdl);
  } else {
    if (out == DType::F32) launch<__half, float>(x, w, y, m, n, k, stream, pdl);
    else launch<__half, __half>(x, w, y, m, n, k, stream, pdl);
  }
  IGNIS_CUDA_LAUNCH_CHECK("gemv_mma (gemv_int_kernel at 16 bits)");
}

}  // namespace ignis::kernels
