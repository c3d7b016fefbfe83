// ignis kernels: the rotary embedding's rotation of one pair (x1, x2) = (column i, column i + head_dim / 2)
// of a head, shared by rope_kv.cu and the FP8 q/k/v GEMV that rotates in its epilogue
// (fp8_gemv_rope.cu): both must give the same bits, so the products are rounded separately (no FMA
// contraction; the CPU reference computes the same expressions in fp32).
#pragma once

namespace ignis::kernels {

// x1 * c - x2 * s (the first half's value) and x2 * c + x1 * s (the second half's), c / s the cosine and
// sine of the angle.
__device__ __forceinline__ float rope_first(float x1, float x2, float c, float s) {
  return __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
}
__device__ __forceinline__ float rope_second(float x1, float x2, float c, float s) {
  return __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
}

}  // namespace ignis::kernels
