// ignis kernels: device side of the FP8 producers (kernels/fp8.h has the numerics): the scale, the
// e4m3 conversion, and two block-cooperative row writers shared by add_rmsnorm, silu_mul and
// quantize_rows_fp8:
//   fp8_write_row_vec     the row already in registers, V vectors of 8 consecutive values per thread
//                         (vector j = threadIdx.x + u * blockDim.x); 8-byte code stores;
//   fp8_write_row_strided any row length or alignment: f(j) gives column j's value, computed twice
//                         (amax pass, then the codes).
// Both must be reached by every thread of the block (they hold barriers / full-warp shuffles).
#pragma once
#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/common.cuh"
#include "kernels/fp8.h"

namespace ignis::kernels {

constexpr float kFp8Max = 448.0f;
constexpr float kFp8MinScale = 1.0f / (448.0f * 512.0f);

// max(amax / 448, 1 / (448 * 512)) with an IEEE division (as the host: amax / 448.0f).
__device__ __forceinline__ float fp8_dynamic_scale(float amax) {
  return fmaxf(__fdiv_rn(amax, kFp8Max), kFp8MinScale);
}

// 8 values times inv, as 8 e4m3 codes (round to nearest even, saturating), value 0 in the low byte.
__device__ __forceinline__ uint2 fp8_pack8(const float* v, float inv) {
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
    w[i] = __nv_cvt_float2_to_fp8x2(make_float2(v[2 * i] * inv, v[2 * i + 1] * inv), __NV_SATFINITE, __NV_E4M3);
  return make_uint2(w[0] | (w[1] << 16), w[2] | (w[3] << 16));
}

__device__ __forceinline__ uint8_t fp8_code(float v, float inv) {
  return __nv_cvt_float_to_fp8(v * inv, __NV_SATFINITE, __NV_E4M3);
}

// Max over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ __forceinline__ float block_max(float v) {
  __shared__ float red[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();  // red[] may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  return warp_max(lane < nw ? red[lane] : 0.0f);
}

__device__ __forceinline__ float amax8(const float* v) {
  float a = 0.0f;
#pragma unroll
  for (int e = 0; e < 8; ++e) a = fmaxf(a, fabsf(v[e]));
  return a;
}

// Writes row `row` of `rows` (cols = 8 * nv values, held as described above; entries of vectors
// j >= nv are ignored) as codes at q.data + row * cols and its scale(s). Needs blockDim.x % 32 == 0,
// cols % 8 == 0 and q.data 8-byte aligned. In group mode a 128-column group is 16 vectors, i.e. the 16
// adjacent lanes of a half warp (blockDim.x % 32 == 0 keeps them aligned for every u).
template <int V>
__device__ __forceinline__ void fp8_write_row_vec(const float (&v)[V][8], int nv, int row, int cols, int rows,
                                                  const Fp8Out& q) {
  float s[V];
  if (q.static_scale) {
    const float st = *q.static_scale;
#pragma unroll
    for (int u = 0; u < V; ++u) s[u] = st;
  } else if (q.group == 0) {
    float a = 0.0f;
#pragma unroll
    for (int u = 0; u < V; ++u)
      if (int(threadIdx.x) + u * int(blockDim.x) < nv) a = fmaxf(a, amax8(v[u]));
    const float st = fp8_dynamic_scale(block_max(a));
#pragma unroll
    for (int u = 0; u < V; ++u) s[u] = st;
  } else {
#pragma unroll
    for (int u = 0; u < V; ++u) {  // every lane takes part in the shuffles, in range or not
      float a = int(threadIdx.x) + u * int(blockDim.x) < nv ? amax8(v[u]) : 0.0f;
#pragma unroll
      for (int o = 8; o > 0; o >>= 1) a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, o));
      s[u] = fp8_dynamic_scale(a);
    }
  }
  uint2* out = reinterpret_cast<uint2*>(q.data + size_t(row) * cols);
#pragma unroll
  for (int u = 0; u < V; ++u) {
    const int j = threadIdx.x + u * blockDim.x;
    if (j >= nv) continue;
    out[j] = fp8_pack8(v[u], __frcp_rn(s[u]));
    if (q.group == 0) {
      if (j == 0) q.scale[row] = s[u];
    } else if (j % (kFp8Group / 8) == 0) {
      const int ld = q.scale_ld > 0 ? q.scale_ld : rows;
      q.scale[size_t(j / (kFp8Group / 8)) * ld + row] = s[u];
    }
  }
}

// The same for any cols and alignment: f(j) is column j's value (called twice per column; it must
// return the same value both times). Per-row mode: block-wide amax; group mode: a warp per group.
// `rows` is the number of rows of the launch (the default scale_ld).
template <class F>
__device__ __forceinline__ void fp8_write_row_strided(F f, int row, int cols, int rows, const Fp8Out& q) {
  uint8_t* out = q.data + size_t(row) * cols;
  if (q.group == 0) {
    float s;
    if (q.static_scale) {
      s = *q.static_scale;
    } else {
      float a = 0.0f;
      for (int j = threadIdx.x; j < cols; j += blockDim.x) a = fmaxf(a, fabsf(f(j)));
      s = fp8_dynamic_scale(block_max(a));
    }
    const float inv = __frcp_rn(s);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = fp8_code(f(j), inv);
    if (threadIdx.x == 0) q.scale[row] = s;
    return;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const int ng = (cols + kFp8Group - 1) / kFp8Group;
  const int ld = q.scale_ld > 0 ? q.scale_ld : rows;
  for (int g = warp; g < ng; g += nw) {  // warp-uniform loop
    const int j0 = g * kFp8Group, j1 = min(cols, j0 + kFp8Group);
    float s;
    if (q.static_scale) {
      s = *q.static_scale;
    } else {
      float a = 0.0f;
      for (int j = j0 + lane; j < j1; j += 32) a = fmaxf(a, fabsf(f(j)));
      s = fp8_dynamic_scale(warp_max(a));
    }
    const float inv = __frcp_rn(s);
    for (int j = j0 + lane; j < j1; j += 32) out[j] = fp8_code(f(j), inv);
    if (lane == 0) q.scale[size_t(g) * ld + row] = s;
  }
}

}  // namespace ignis::kernels
