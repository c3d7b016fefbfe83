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
  const bool fp8_kv = a.kv_dtype == DType::F8_E4M3;
  if (a.dtype == DType::BF16) {
    if (fp8_kv) launch_gemv_rope<__nv_bfloat16, 4, kv_fp8>(a, x, q, meta, k, group, s, pdl);
    else launch_gemv_rope<__nv_bfloat16, 4, __nv_bfloat16>(a, x, q, meta, k, group, s, pdl);
  } else {
    if (fp8_kv) launch_gemv_rope<__half, 4, kv_fp8>(a, x, q, meta, k, group, s, pdl);
    else launch_gemv_rope<__half, 4, __half>(a, x, q, meta, k, group, s, pdl);
  }
}

void dequantize_bits4(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int group,
                      cudaStream_t s) {
  if (act == DType::BF16) launch_dequantize<__nv_bfloat16, 4>(q, meta, w, n, k, group, s);
  else launch_dequantize<__half, 4>(q, meta, w, n, k, group, s);
}

}  // namespace ignis::kernels::int_gemv_detail
