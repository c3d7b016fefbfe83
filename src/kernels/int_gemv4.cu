// Integer weight-only GEMV, 4-bit instantiations (design: int_gemv_impl.cuh).
#include "kernels/int_gemv_impl.cuh"

namespace ignis::kernels::int_gemv_detail {

void gemv_bits4(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
                int group, cudaStream_t s, bool pdl) {
  if (act == DType::BF16) launch_gemv<__nv_bfloat16, 4>(x, q, meta, y, m, n, k, group, s, pdl);
  else launch_gemv<__half, 4>(x, q, meta, y, m, n, k, group, s, pdl);
}

void gemv_rope_bits4(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k,
                     int group, cudaStream_t s, bool pdl) {
  launch_gemv_rope_any<4>(a, x, q, meta, k, group, s, pdl);
}

void dequantize_bits4(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int group,
                      cudaStream_t s) {
  if (act == DType::BF16) launch_dequantize<__nv_bfloat16, 4>(q, meta, w, n, k, group, s);
  else launch_dequantize<__half, 4>(q, meta, w, n, k, group, s);
}

}  // namespace ignis::kernels::int_gemv_detail
