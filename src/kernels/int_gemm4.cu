// Integer weight-only GEMM, 4-bit instantiations (design: int_gemm_impl.cuh).
#include "kernels/int_gemm_impl.cuh"

namespace ignis::kernels::int_gemm_detail {

void gemm_bits4(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, float* ws, int m, int n,
                int k, int group, int splits, cudaStream_t s, bool pdl) {
  if (act == DType::BF16) launch_gemm_any<__nv_bfloat16, 4>(x, q, meta, y, ws, m, n, k, group, splits, s, pdl);
  else launch_gemm_any<__half, 4>(x, q, meta, y, ws, m, n, k, group, splits, s, pdl);
}

}  // namespace ignis::kernels::int_gemm_detail
