// ignis kernels: device helpers shared by the .cu files (conversions, warp/block reductions).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>
#include <cstdint>

namespace ignis::kernels {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Rounds through T and back (mimics a tensor stored in T between two ops).
template <class T> __device__ __forceinline__ float round_to(float x) { return to_f(from_f<T>(x)); }

// Whether p suits 16-byte vector loads / stores (the host checks it before a vectorized kernel).
__host__ __device__ inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// 8 values of a 16-bit T packed in 16 bytes <-> fp32 (vectorized loads and stores).
template <class T> __device__ __forceinline__ void unpack8(const uint4& v, float* f);
template <> __device__ __forceinline__ void unpack8<__nv_bfloat16>(const uint4& v, float* f) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}
template <> __device__ __forceinline__ void unpack8<__half>(const uint4& v, float* f) {
  const auto* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __half22float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}
template <class T> __device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 v;
  T* h = reinterpret_cast<T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) h[i] = from_f<T>(f[i]);
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float red[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // red[] may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float t = lane < nw ? red[lane] : 0.0f;
  return warp_sum(t);
}

// Keys [begin, end) that split `split` of `num_splits` handles for a tile of query tokens at
// positions [pos_first, pos_first + num_tokens): the tile's span (causal end, sliding-window start)
// cut into equal pieces rounded up to whole chunks of `chunk` keys. Both attention kernels use it;
// the combine kernel only needs every key to be in exactly one split.
struct KeyRange {
  int begin, end;
};
// split_keys > 0 (PagedAttentionArgs::split_keys): split s covers the fixed keys [s * split_keys, (s + 1) *
// split_keys) of the tile's range (keys before a sliding window are masked per row), so a query's key
// ranges do not depend on the other tokens of its tile or on num_splits.
__device__ __forceinline__ KeyRange split_key_range(int pos_first, int num_tokens, int sliding_window, int split,
                                                    int num_splits, int chunk, int split_keys) {
  const int key_end = pos_first + num_tokens;
  const int key_begin = sliding_window > 0 ? max(0, pos_first - sliding_window + 1) : 0;
  if (split_keys > 0) {
    const int kb = split * split_keys, ke = min(key_end, kb + split_keys);
    return ke <= key_begin ? KeyRange{kb, kb} : KeyRange{kb, ke};
  }
  const int span = key_end - key_begin;
  const int per_split = ((span + num_splits - 1) / num_splits + chunk - 1) / chunk * chunk;
  const int kb = key_begin + split * per_split;
  return {kb, min(key_end, kb + per_split)};
}

// Tree verification by path (PagedAttentionArgs::tree_path; one-token decode tiles): the tile token's keys
// from its tree root on are its ancestors by depth, key p >= begin at KV position path[p - begin].
struct TreePath {
  const int32_t* path = nullptr;
  int begin = INT_MAX;
};
__device__ __forceinline__ TreePath tree_path(const int32_t* paths, int stride, const int32_t* tree_begin, int token,
                                              int num_tokens) {
  TreePath r;
  if (paths && num_tokens == 1) {
    r.begin = tree_begin[token];
    r.path = paths + size_t(token) * stride;
  }
  return r;
}
// The cache slot of a tile's key p (its position, or with a path its ancestor's), -1 for a released block.
__device__ __forceinline__ int key_slot(const int32_t* bt, int block_size, int p, const TreePath& path) {
  const int q = p >= path.begin ? path.path[p - path.begin] : p;
  const int blk = bt[q / block_size];
  return blk >= 0 ? blk * block_size + q % block_size : -1;
}

// Tree verification (PagedAttentionArgs::tree_begin / tree_mask): one query row's view of its tree.
// begin INT_MAX (no tree, or a padding row): every key before the row's own slot is visible.
struct TreeRow {
  int begin = INT_MAX;
  const uint32_t* mask = nullptr;
};
__device__ __forceinline__ TreeRow tree_row(const int32_t* tree_begin, const uint32_t* tree_mask, int words,
                                            int token, bool real_row) {
  TreeRow r;
  if (tree_mask && real_row) {
    r.begin = tree_begin[token];
    r.mask = tree_mask + size_t(token) * words;
  }
  return r;
}
// Whether key slot p (at most the row's own slot) passes the row's tree mask.
__device__ __forceinline__ bool tree_visible(const TreeRow& r, int p) {
  return p < r.begin || ((r.mask[(p - r.begin) >> 5] >> ((p - r.begin) & 31)) & 1u);
}

// 16 bytes of weights that are read once: not kept in L1 (ld.global.nc.L1::no_allocate). p 16-byte aligned.
__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

}  // namespace ignis::kernels
