// ignis kernels: the output side of the tensor-core GEMVs whose block owns a 16-row weight tile (the A
// operand of an m16n8 mma: fp8_gemv_impl.cuh, int_gemv_impl.cuh): which weight rows a block's tile holds
// and what its epilogue writes. A policy Y has
//   kPairs         the tile's rows are pairs (i, i + 8) that one epilogue combines;
//   blocks(n)      the grid (host);
//   row(i, n)      the weight row of tile row i = 0..15 in this block, -1: none;
//   store(r, b, row, ok, v, n)  tile row r, batch row b, v its fp32 result (scaled; ok: b < m and row >= 0).
// The kernels reach store() with all 128 threads of warps 0-3 at once (thread r + 16 b), so a policy may
// shuffle between the lanes of a pair: tile rows r and r ^ 8 sit in lanes l and l ^ 8.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "kernels/common.cuh"
#include "kernels/kv_fp8.cuh"
#include "kernels/rope.cuh"
#include "kernels/rope_kv.h"

namespace ignis::kernels::gemv_epilogue {

constexpr int kTile = 16;  // weight rows per block

// RowsY: rows 16 blockIdx.x .. + 15 of w (n, k), written to y (m, n) rounded to TO.
template <class TO>
struct RowsY {
  TO* y;
  static constexpr bool kPairs = false;
  int blocks(int n) const { return (n + kTile - 1) / kTile; }
  __device__ __forceinline__ int row(int i, int n) const {
    const int r = int(blockIdx.x) * kTile + i;
    return r < n ? r : -1;
  }
  __device__ __forceinline__ void store(int, int b, int row, bool ok, float v, int n) const {
    if (ok) y[size_t(b) * n + row] = from_f<TO>(v);
  }
};

// RopeY: the q/k/v projection with rope_qkv_write_kv (kernels/rope_kv.h) in its epilogue. w (n, k) with
// n = (num_heads + 2 num_kv_heads) head_dim, head_dim % 16 == 0: block j covers head h = j / (head_dim / 16),
// first-half columns i0 .. i0 + 7 (i0 = 8 (j % (head_dim / 16))) as tile rows 0..7 and the same columns +
// head_dim / 2 as rows 8..15, so a lane and its partner hold both members of a rotation pair. q heads are
// rotated in place in qkv, k (rotated) and v (with the bias) go to the caches only. Bits: q/k/v as the
// GEMV would round them, the bias and the rotation as rope_kv.cu (the rounded sum for rotated heads,
// kernels/rope.cuh's rotation, sincosf of the same angle), the cache values as kv_fp8.cuh's kv_value: the
// same bits as the GEMV followed by rope_qkv_write_kv.
template <class TO, class KV>
struct RopeY {
  TO* qkv;  // (m, n)
  const TO* bias;
  const int32_t* positions;
  const int32_t* slots;
  const float* inv_freq;
  KV* k_cache;
  KV* v_cache;
  int num_heads, num_kv_heads, head_dim;
  float k_inv, v_inv;
  static constexpr bool kPairs = true;
  int blocks(int n) const { return n / kTile; }
  __device__ __forceinline__ int row(int i, int) const {
    const int per_head = head_dim / kTile, h = int(blockIdx.x) / per_head;
    return h * head_dim + (int(blockIdx.x) % per_head) * 8 + (i & 7) + (i < 8 ? 0 : head_dim / 2);
  }
  __device__ __forceinline__ void store(int r, int b, int row, bool ok, float v, int n) const {
    const int per_head = head_dim / kTile, h = int(blockIdx.x) / per_head;
    const int q_size = num_heads * head_dim, kv_size = num_kv_heads * head_dim;
    const bool rotated = h < num_heads + num_kv_heads;
    float x = ok ? round_to<TO>(v) : 0.0f;  // the projection's output as stored
    if (bias && ok) x = rotated ? round_to<TO>(x + to_f(bias[row])) : x + to_f(bias[row]);
    const float other = __shfl_xor_sync(0xffffffffu, x, 8);  // the pair's other member
    if (!ok) return;
    const int slot = slots[b];
    if (!rotated) {
      if (slot >= 0) v_cache[size_t(slot) * kv_size + (row - q_size - kv_size)] = kv_value<KV, TO>(x, v_inv);
      return;
    }
    const int i = (int(blockIdx.x) % per_head) * 8 + (r & 7);
    float sn, cs;
    sincosf(float(positions[b]) * inv_freq[i], &sn, &cs);
    const float o = r < 8 ? rope_first(x, other, cs, sn) : rope_second(other, x, cs, sn);
    if (h < num_heads)
      qkv[size_t(b) * n + row] = from_f<TO>(o);
    else if (slot >= 0)
      k_cache[size_t(slot) * kv_size + (row - q_size)] = kv_value<KV, TO>(o, k_inv);
  }
};

// Whether a RopeY epilogue takes `a` (a.dtype F16 / BF16, a.n in 1..max_m, head_dim % 16 == 0, valid FP8 KV
// scales).
inline bool rope_epilogue_supported(const RopeKvArgs& a, int max_m) {
  return (a.dtype == DType::BF16 || a.dtype == DType::F16) && a.n >= 1 && a.n <= max_m && a.head_dim > 0 &&
         a.head_dim % kTile == 0 && a.num_heads > 0 && a.num_kv_heads > 0 && rope_kv_scales_valid(a);
}

inline int rope_epilogue_n(const RopeKvArgs& a) { return (a.num_heads + 2 * a.num_kv_heads) * a.head_dim; }

template <class T, class KV>
RopeY<T, KV> rope_epilogue(const RopeKvArgs& a) {
  // host 1.0f / scale: the same IEEE quotient as rope_kv.cu's
  const float k_inv = kIsFp8<KV> ? 1.0f / a.k_scale : 1.0f, v_inv = kIsFp8<KV> ? 1.0f / a.v_scale : 1.0f;
  return RopeY<T, KV>{static_cast<T*>(a.qkv), static_cast<const T*>(a.bias), a.positions, a.slot_mapping,
                      a.inv_freq, static_cast<KV*>(a.k_cache), static_cast<KV*>(a.v_cache), a.num_heads,
                      a.num_kv_heads, a.head_dim, k_inv, v_inv};
}

}  // namespace ignis::kernels::gemv_epilogue
