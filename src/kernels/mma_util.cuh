// ignis kernels: device helpers shared by the tensor-core attention kernels (attention_mma*.cu,
// attention_wgmma*.cu) and the integer GEMM (int_gemm_impl.cuh): shared-memory addresses, cp.async, ldmatrix, mma.sync m16n8k16, exp2, the
// online softmax of an m16 fragment, packing two floats to 16-bit pairs, the epilogue that writes a
// fragment's rows.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/attention.h"

namespace ignis::kernels {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem) : "memory");
}
// 16 bytes, or zeros when !valid (nothing is read from gmem then; it must still be a valid address).
__device__ __forceinline__ void cp_async16_zfill(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(valid ? 16 : 0)
               : "memory");
}
// 4 bytes, or zeros when !valid (cp.async.ca: 4- and 8-byte copies go through L1).
__device__ __forceinline__ void cp_async4_zfill(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(valid ? 4 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cp_async_wait_group() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Waits until at most one of this thread's committed groups is still in flight.
__device__ __forceinline__ void cp_async_wait_all_but_one() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

// Four 8x8 b16 matrices; lane i gives the address of row i % 8 of matrix i / 8; register j of
// lane l receives row l / 4, columns 2 (l % 4) .. +1 of matrix j (transposed with .trans).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

// d += a * b (m16n8k16, fp32 accumulators).
template <class T> __device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Online softmax over one chunk for this thread's rows g and g + 8: s holds NS n-tiles of scores
// (log2 domain, masked keys -inf); updates the running max m and sum l, rescales the accumulators
// o, and turns s into p = 2^(s - m). A row with nothing visible yet keeps p = alpha = 0.
template <int NS, int NO>
__device__ __forceinline__ void online_softmax(float (&s)[NS][4], float (&m)[2], float (&l)[2], float (&o)[NO][4]) {
  float mx[2] = {m[0], m[1]};
#pragma unroll
  for (int j = 0; j < NS; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
  float base[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
    base[i] = mx[i] == -INFINITY ? 0.0f : mx[i];
    const float alpha = fast_exp2(m[i] - base[i]);
    m[i] = mx[i];
    l[i] *= alpha;
#pragma unroll
    for (int t = 0; t < NO; ++t) {
      o[t][2 * i] *= alpha;
      o[t][2 * i + 1] *= alpha;
    }
  }
#pragma unroll
  for (int j = 0; j < NS; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = fast_exp2(s[j][e] - base[e >> 1]);
      s[j][e] = p;
      l[e >> 1] += p;
    }
}

// Two floats -> one register of two 16-bit values, `lo` in the low half (the lower column).
template <class T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  union {
    __nv_bfloat162 v;
    uint32_t u;
  } x;
  x.v = __floats2bfloat162_rn(lo, hi);
  return x.u;
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  union {
    __half2 v;
    uint32_t u;
  } x;
  x.v = __floats2half2_rn(lo, hi);
  return x.u;
}

// Epilogue of the tensor-core attention kernels for one thread: its two query rows first_row and
// first_row + 8 of a pass starting at tile row r0 (the g and g + 8 rows of an m16 accumulator
// fragment; o[n][0..1] row 0, o[n][2..3] row 1, columns 8n + 2 qd, +1). Sums each row's l over
// the quad, then writes every real row (< rows): normalized and times a.v_scale into `out` (one split) or, with
// splits, the unnormalized partial and (m in the natural-log domain, l) into the workspace laid
// out as the combine kernel reads it: acc (num_tokens, num_heads, S, D) then (m, l)
// (num_tokens, num_heads, S, 2). m is in the log2 domain (scores * scale * log2 e); G = num_heads /
// num_kv_heads and S = num_splits, as the caller has them.
template <class T, int NT>
__device__ __forceinline__ void store_fragment_rows(const PagedAttentionArgs& a, const AttentionTile& tile, int G,
                                                    int kvh, int split, int S, int r0, int first_row, int rows, int qd,
                                                    const float (&o)[NT][4], const float (&m)[2], float (&l)[2]) {
  constexpr int D = NT * 8;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = first_row + 8 * i;
    if (r >= rows) continue;
    const int rr = r0 + r;
    const int t = tile.token_begin + rr / G, h = kvh * G + rr % G;
    if (S == 1) {
      T* out = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
      const float inv = (l[i] > 0.0f ? 1.0f / l[i] : 0.0f) * a.v_scale;
#pragma unroll
      for (int n = 0; n < NT; ++n)
        *reinterpret_cast<uint32_t*>(out + n * 8 + 2 * qd) = pack2<T>(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
    } else {
      const size_t part = (size_t(t) * a.num_heads + h) * S + split;
      float* pw = a.workspace + part * D;
#pragma unroll
      for (int n = 0; n < NT; ++n)
        *reinterpret_cast<float2*>(pw + n * 8 + 2 * qd) = make_float2(o[n][2 * i], o[n][2 * i + 1]);
      if (qd == 0) {
        float* ml = split_ml(a, S, D) + part * 2;
        ml[0] = m[i] * kLn2;  // log2 domain -> natural log (the combine kernel uses exp)
        ml[1] = l[i];
      }
    }
  }
}

}  // namespace ignis::kernels
