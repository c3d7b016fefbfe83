// ignis kernels: the FP8 (e4m3fn) KV-cache element type and its device conversions, shared by
// rope_kv.cu (writes) and the attention kernels (reads).
//
// Write: code = e4m3(x * (1 / scale)), round to nearest even, saturating to +-448 (NaN -> 0x7f),
// as core/dtype.h's f32_to_e4m3 on the host. Read: the codes are converted to the compute dtype
// unscaled, which is exact (every e4m3 value, subnormals included, is an fp16 and a bf16 value);
// the attention kernels apply the scales outside (k_scale in the softmax scale, v_scale on the
// output).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <type_traits>

#include "kernels/common.cuh"

namespace ignis::kernels {

using kv_fp8 = __nv_fp8_e4m3;  // the KV template parameter of the kernels for an FP8 cache (1 byte)
template <class KV> inline constexpr bool kIsFp8 = std::is_same_v<KV, kv_fp8>;

// x * inv_scale -> e4m3 code (inv_scale = __frcp_rn(scale), as the host's 1.0f / scale).
__device__ __forceinline__ uint8_t to_e4m3(float x, float inv_scale) {
  return uint8_t(__nv_cvt_float_to_fp8(x * inv_scale, __NV_SATFINITE, __NV_E4M3));
}
// Two values -> two codes, x.x in the low byte.
__device__ __forceinline__ uint16_t to_e4m3x2(float2 x, float inv_scale) {
  return uint16_t(__nv_cvt_float2_to_fp8x2(make_float2(x.x * inv_scale, x.y * inv_scale), __NV_SATFINITE, __NV_E4M3));
}
// One code -> its value (unscaled; NaN codes read as NaN).
__device__ __forceinline__ float e4m3_to_float(uint8_t c) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(c), __NV_E4M3)));
}

// The low 16 bits of `two` hold two codes (the lower element in the low byte) -> the pair as packed
// 16-bit T (the lower element in the low half), exact.
//   f16:  cvt.rn.f16x2.e4m3x2.
//   bf16: the f16 pair (every e4m3 value is a normal fp16 number or zero, exponent field 6..23), its
//         exponent and mantissa moved down into bf16's fields (value * 2^-112, still a normal bf16
//         number), then multiplied by 2^112 (exact). An e4m3 NaN code reads as a large finite value
//         here (rope_kv writes NaN codes only for NaN inputs).
template <class T> __device__ __forceinline__ uint32_t e4m3x2_to(uint32_t two);
template <> __device__ __forceinline__ uint32_t e4m3x2_to<__half>(uint32_t two) {
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(two & 0xffffu), __NV_E4M3);
  return uint32_t(h.x) | (uint32_t(h.y) << 16);
}
template <> __device__ __forceinline__ uint32_t e4m3x2_to<__nv_bfloat16>(uint32_t two) {
  const uint32_t h = e4m3x2_to<__half>(two);
  const uint32_t b = ((h & 0x7fff7fffu) >> 3) | (h & 0x80008000u);
  union {
    uint32_t u;
    __nv_bfloat162 v;
  } x, k;
  x.u = b;
  k.u = 0x77807780u;  // (2^112, 2^112) in bf16: exponent field 239
  x.v = __hmul2(x.v, k.v);
  return x.u;
}

// 16 codes (16 bytes, element i in byte i % 4 of word i / 4) -> 16 values of T as two 16-byte vectors
// (lo: elements 0..7, hi: 8..15), as they are stored in a row of T.
template <class T> __device__ __forceinline__ void e4m3x16_to(const uint4& c, uint4& lo, uint4& hi) {
  lo.x = e4m3x2_to<T>(c.x);
  lo.y = e4m3x2_to<T>(c.x >> 16);
  lo.z = e4m3x2_to<T>(c.y);
  lo.w = e4m3x2_to<T>(c.y >> 16);
  hi.x = e4m3x2_to<T>(c.z);
  hi.y = e4m3x2_to<T>(c.z >> 16);
  hi.z = e4m3x2_to<T>(c.w);
  hi.w = e4m3x2_to<T>(c.w >> 16);
}

// One value into a cache of KV (T, or e4m3 codes: inv = 1 / scale), as rope_kv.cu and the q/k/v GEMV that
// rotates in its epilogue (fp8_gemv_rope.cu) write it.
template <class KV, class T> __device__ __forceinline__ KV kv_value(float x, float inv) {
  if constexpr (kIsFp8<KV>) {
    KV c;
    c.__x = to_e4m3(x, inv);
    return c;
  } else {
    return from_f<T>(x);
  }
}

}  // namespace ignis::kernels
