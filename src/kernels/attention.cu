#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/attention_mma.h"
#include "kernels/attention_wgmma.h"
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/kv_fp8.cuh"
#include "kernels/pdl.cuh"

namespace ignis::kernels {
namespace {

constexpr int kWarps = 8;         // threads per block = 256
constexpr int kRowsPerWarp = 4;   // query rows per pass of a block = 32
constexpr int kMaxRows = kWarps * kRowsPerWarp;
constexpr int kChunk = 32;        // keys per shared-memory chunk = one key per lane
constexpr int kMaxSplits = 32;    // key splits of a tile (attention_num_splits; one lane each in the combine)

// A cache element as fp32: the value (KV = T) or the unscaled code value (KV = kv_fp8; k_scale is in
// a.scale, v_scale applied to the output).
template <class T> __device__ __forceinline__ float kv_to_f(T x) { return to_f(x); }
template <> __device__ __forceinline__ float kv_to_f<kv_fp8>(kv_fp8 x) { return e4m3_to_float(x.__x); }

// DC = head_dim chunks of 32 (lane owns dims lane + 32*c); head_dim <= 32*DC. KV = T or kv_fp8.
template <class T, class KV, int DC>
__global__ void __launch_bounds__(kWarps * 32)
paged_attention_kernel(PagedAttentionArgs a) {
  const AttentionTile tile = a.tiles[blockIdx.x];
  if (tile.num_tokens <= 0) return;
  const int kvh = blockIdx.y, split = blockIdx.z, S = gridDim.z;
  const int D = a.head_dim, G = a.num_heads / a.num_kv_heads;
  const int rows_total = tile.num_tokens * G;  // processed in passes of kMaxRows rows
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  extern __shared__ float smem[];
  float* Qs = smem;                       // (rows, D), pre-scaled
  float* Ks = Qs + kMaxRows * D;          // (kChunk, D + 1): padded against bank conflicts
  float* Vs = Ks + kChunk * (D + 1);      // (kChunk, D)
  __shared__ bool kvalid[kChunk];

  const int pos_first = a.positions[tile.token_begin];
  const KeyRange keys = split_key_range(pos_first, tile.num_tokens, a.sliding_window, split, S, kChunk, a.split_keys);
  const int kb = keys.begin, ke = keys.end;

  const T* q = static_cast<const T*>(a.q);
  const KV* kc = static_cast<const KV*>(a.k_cache);
  const KV* vc = static_cast<const KV*>(a.v_cache);
  const int32_t* bt = a.block_tables + size_t(tile.seq) * a.bt_stride;
  const size_t tok_stride = size_t(a.num_kv_heads) * D;
  for (int r0 = 0; r0 < rows_total; r0 += kMaxRows) {
    const int rows = min(kMaxRows, rows_total - r0);
    __syncthreads();  // the previous pass is done with Qs
    for (int idx = threadIdx.x; idx < rows * D; idx += blockDim.x) {
      const int r = idx / D, d = idx % D;
      const int t = (r0 + r) / G, h = kvh * G + (r0 + r) % G;
      Qs[idx] = to_f(q[size_t(tile.token_begin + t) * a.q_stride + size_t(h) * D + d]) * a.scale;
    }

    float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DC];
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      m[j] = -INFINITY;
      l[j] = 0.0f;
#pragma unroll
      for (int c = 0; c < DC; ++c) acc[j][c] = 0.0f;
    }


    for (int k0 = kb; k0 < ke; k0 += kChunk) {
      __syncthreads();  // previous chunk fully consumed (and Qs written on the first pass)
      if (threadIdx.x < kChunk) {
        const int p = k0 + threadIdx.x;
        kvalid[threadIdx.x] = p < ke && bt[p / a.block_size] >= 0;
      }
      for (int idx = threadIdx.x; idx < kChunk * D; idx += blockDim.x) {
        const int kk = idx / D, d = idx % D;
        const int p = k0 + kk;
        float kv = 0.0f, vv = 0.0f;
        if (p < ke) {
          const int blk = bt[p / a.block_size];
          if (blk >= 0) {
            const size_t off = (size_t(blk) * a.block_size + p % a.block_size) * tok_stride + size_t(kvh) * D + d;
            kv = kv_to_f(kc[off]);
            vv = kv_to_f(vc[off]);
          }
        }
        Ks[kk * (D + 1) + d] = kv;
        Vs[kk * D + d] = vv;
      }
      __syncthreads();
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        const int r = warp + j * kWarps;
        if (r >= rows) break;
        const int qpos = pos_first + (r0 + r) / G;
        const int p = k0 + lane;
        const TreeRow tr = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin + (r0 + r) / G, true);
        const bool ok = kvalid[lane] && p <= qpos && (a.sliding_window <= 0 || qpos - p < a.sliding_window) &&
                        tree_visible(tr, p);
        float s = -INFINITY;
        if (ok) {
          const float* qr = Qs + r * D;
          const float* kr = Ks + lane * (D + 1);
          float dot = 0.0f;
          for (int d = 0; d < D; ++d) dot += qr[d] * kr[d];
          s = dot;
        }
        const float mx = warp_max(s);
        const float m_new = fmaxf(m[j], mx);
        if (m_new == -INFINITY) continue;  // nothing visible yet for this row
        const float alpha = __expf(m[j] - m_new);  // m[j] = -inf gives 0
        const float pr = ok ? __expf(s - m_new) : 0.0f;
        l[j] = l[j] * alpha + warp_sum(pr);
#pragma unroll
        for (int c = 0; c < DC; ++c) acc[j][c] *= alpha;
        for (int kk = 0; kk < kChunk; ++kk) {
          const float pk = __shfl_sync(0xffffffffu, pr, kk);
#pragma unroll
          for (int c = 0; c < DC; ++c) {
            const int d = lane + 32 * c;
            if (d < D) acc[j][c] += pk * Vs[kk * D + d];
          }
        }
        m[j] = m_new;
      }
    }

#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const int r = warp + j * kWarps;
      if (r >= rows) break;
      const int t = tile.token_begin + (r0 + r) / G, h = kvh * G + (r0 + r) % G;
      if (S == 1) {
        T* o = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
        const float inv = (l[j] > 0.0f ? 1.0f / l[j] : 0.0f) * a.v_scale;
#pragma unroll
        for (int c = 0; c < DC; ++c) {
          const int d = lane + 32 * c;
          if (d < D) o[d] = from_f<T>(acc[j][c] * inv);
        }
      } else {
        // workspace: acc (num_tokens, num_heads, S, D) then (m, l) (num_tokens, num_heads, S, 2)
        const size_t part = (size_t(t) * a.num_heads + h) * S + split;
        float* pa = a.workspace + part * D;
#pragma unroll
        for (int c = 0; c < DC; ++c) {
          const int d = lane + 32 * c;
          if (d < D) pa[d] = acc[j][c];
        }
        if (lane == 0) {
          float* ml = split_ml(a, S, D) + part * 2;
          ml[0] = m[j];
          ml[1] = l[j];
        }
      }
    }
  }
}

// Called by a whole warp for one (token, head) row whose S splits' (max, sum) pairs start at ml: lane
// s returns split s's weight exp(m_s - M) / L (0 for an empty split and for lanes s >= S; S <= 32).
__device__ __forceinline__ float split_weight(const float* ml, int S, int lane) {
  const float m = lane < S ? ml[2 * lane] : -INFINITY, l = lane < S ? ml[2 * lane + 1] : 0.0f;
  const float M = warp_max(l > 0.0f ? m : -INFINITY);
  const float e = l > 0.0f ? __expf(m - M) : 0.0f;
  const float L = warp_sum(l * e);
  return L > 0.0f ? e / L : 0.0f;
}

// One block per (token, head): merges the S partial results (launch_combine: launches of few rows)
// and applies v_scale (1 unless the cache is FP8).
template <class T>
__global__ void attention_combine_kernel(PagedAttentionArgs a) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int t = blockIdx.x, h = blockIdx.y, S = a.num_splits, D = a.head_dim;
  const float* ml = split_ml(a, S, D) + (size_t(t) * a.num_heads + h) * S * 2;
  // Warp 0 turns the splits' (max, sum) into weights exp(m_s - M) / L (0 for empty splits), lane s
  // for split s (S <= kMaxSplits = 32), so the loop below does one load and FMA per split.
  __shared__ float wgt[kMaxSplits];
  if (threadIdx.x < 32) {
    const float w = split_weight(ml, S, threadIdx.x);
    if (threadIdx.x < S) wgt[threadIdx.x] = w;
  }
  __syncthreads();
  const float* pa = a.workspace + (size_t(t) * a.num_heads + h) * S * D;
  T* o = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float v = 0.0f;
#pragma unroll 8
    for (int s = 0; s < S; ++s)
      if (wgt[s] != 0.0f) v += pa[size_t(s) * D + d] * wgt[s];  // same for every thread: no divergence
    o[d] = from_f<T>(v * a.v_scale);
  }
}

// The same merge with one warp per (token, head) row, kCombineRows rows per block; VEC4: lane owns
// 4 consecutive dims per 128 (16-byte loads; needs head_dim % 4 == 0 and a 16-byte aligned workspace).
// The splits' loads of a dim group are issued back to back, so a row costs about two memory round
// trips (the (max, sum) pairs, then the partials) whatever S is.
constexpr int kCombineRows = 8;
constexpr int64_t kCombineRowsMin = 1024;  // rows (token x head) from which launch_combine takes this kernel
template <class T, bool VEC4>
__global__ void __launch_bounds__(kCombineRows * 32) attention_combine_rows_kernel(PagedAttentionArgs a) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int S = a.num_splits, D = a.head_dim, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const size_t row = size_t(blockIdx.x) * kCombineRows + warp;  // token * num_heads + head
  if (row >= size_t(a.num_tokens) * a.num_heads) return;        // (whole warps)
  const float* ml = split_ml(a, S, D) + row * S * 2;
  __shared__ float wgt[kCombineRows][kMaxSplits];  // lane s: split s's weight (0: empty split)
  wgt[warp][lane] = split_weight(ml, S, lane);
  __syncwarp();
  const float* __restrict__ pa = a.workspace + row * S * D;
  const int t = int(row / a.num_heads), h = int(row % a.num_heads);
  T* __restrict__ o = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
  if constexpr (VEC4) {
    for (int d = 4 * lane; d < D; d += 128) {
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 8
      for (int s = 0; s < S; ++s) {
        const float w = wgt[warp][s];  // an empty split's partials were never written: not read
        const float4 p = w != 0.0f ? __ldg(reinterpret_cast<const float4*>(pa + size_t(s) * D + d))
                                   : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        v.x = fmaf(p.x, w, v.x);
        v.y = fmaf(p.y, w, v.y);
        v.z = fmaf(p.z, w, v.z);
        v.w = fmaf(p.w, w, v.w);
      }
      o[d] = from_f<T>(v.x * a.v_scale);
      o[d + 1] = from_f<T>(v.y * a.v_scale);
      o[d + 2] = from_f<T>(v.z * a.v_scale);
      o[d + 3] = from_f<T>(v.w * a.v_scale);
    }
  } else {
    for (int d = lane; d < D; d += 32) {
      float v = 0.0f;
#pragma unroll 8
      for (int s = 0; s < S; ++s) {
        const float w = wgt[warp][s];
        v = fmaf(w != 0.0f ? __ldg(pa + size_t(s) * D + d) : 0.0f, w, v);
      }
      o[d] = from_f<T>(v * a.v_scale);
    }
  }
}

// Tokens of padding tiles must not be combined (their partials were never written); for launches whose
// attention kernel does not mark them itself (attention_mma_decode_only).
__global__ void mark_padding_kernel(const AttentionTile* tiles, int num_tiles, int num_tokens, int num_heads,
                                    int S, float* ml_base) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < num_tiles; i += gridDim.x * blockDim.x) {
    if (tiles[i].num_tokens > 0) continue;
    const int t = tiles[i].token_begin;
    if (t < 0 || t >= num_tokens) continue;
    for (int h = 0; h < num_heads; ++h)
      for (int s = 0; s < S; ++s) ml_base[((size_t(t) * num_heads + h) * S + s) * 2 + 1] = 0.0f;
  }
}

template <class T, class KV, int DC>
void launch_simple(const PagedAttentionArgs& a, cudaStream_t stream) {
  const size_t smem = sizeof(float) * (size_t(kMaxRows) * a.head_dim + size_t(kChunk) * (a.head_dim + 1) +
                                       size_t(kChunk) * a.head_dim);
  static bool configured = false;  // per instantiation; done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_kernel<T, KV, DC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(sizeof(float) * (kMaxRows * 32 * DC + kChunk * (32 * DC + 1) + kChunk * 32 * DC))));
    configured = true;
  }
  dim3 grid(a.num_tiles, a.num_kv_heads, a.num_splits);
  paged_attention_kernel<T, KV, DC><<<grid, kWarps * 32, smem, stream>>>(a);
  IGNIS_CUDA_LAUNCH_CHECK("paged_attention_kernel");
}

// padding_marked: the attention kernel wrote the padding tiles' empty (m, l) pairs itself
// (attention_mma_decode_only), so mark_padding_kernel's launch is not needed.
template <class T>
void launch_combine(const PagedAttentionArgs& a, bool padding_marked, cudaStream_t stream) {
  if (a.num_splits > 1) {
    if (!padding_marked) {
      float* ml = split_ml(a, a.num_splits, a.head_dim);
      mark_padding_kernel<<<1, 128, 0, stream>>>(a.tiles, a.num_tiles, a.num_tokens, a.num_heads, a.num_splits, ml);
      IGNIS_CUDA_LAUNCH_CHECK("mark_padding_kernel");
    }
    // Few rows (decode steps): a block per row, a thread per dim, the most parallel for the few
    // rows and many splits of small-batch decode (batch 1 at 2,048 keys: 7.3 vs 13.9 us, H100).
    // Many rows (a prefill with splits): a warp per row (1,024 tokens x 32 heads: 43.4 vs 16.4 us).
    const int64_t rows = int64_t(a.num_tokens) * a.num_heads;
    if (rows < kCombineRowsMin || a.split_keys > 0) {  // fixed splits: one merge kernel whatever the rows
      const int threads = std::clamp((a.head_dim + 31) / 32 * 32, 32, 256);  // warp 0 whole for the weights
      attention_combine_kernel<T><<<dim3(a.num_tokens, a.num_heads), threads, 0, stream>>>(a);
      IGNIS_CUDA_LAUNCH_CHECK("attention_combine_kernel");
      return;
    }
    const unsigned blocks = unsigned((rows + kCombineRows - 1) / kCombineRows);
    if (a.head_dim % 4 == 0 && aligned16(a.workspace))
      attention_combine_rows_kernel<T, true><<<blocks, kCombineRows * 32, 0, stream>>>(a);
    else
      attention_combine_rows_kernel<T, false><<<blocks, kCombineRows * 32, 0, stream>>>(a);
    IGNIS_CUDA_LAUNCH_CHECK("attention_combine_rows_kernel");
  }
}

template <class T, class KV>
void launch_simple_dc(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (a.head_dim <= 32) launch_simple<T, KV, 1>(a, stream);
  else if (a.head_dim <= 64) launch_simple<T, KV, 2>(a, stream);
  else if (a.head_dim <= 128) launch_simple<T, KV, 4>(a, stream);
  else launch_simple<T, KV, 8>(a, stream);
}

}  // namespace

AttentionImpl attention_impl_from_env() {
  const char* e = std::getenv("IGNIS_ATTENTION");
  if (e && std::strcmp(e, "simple") == 0) return AttentionImpl::Simple;
  if (e && std::strcmp(e, "mma") == 0) return AttentionImpl::Mma;
  return AttentionImpl::Wgmma;
}

const char* attention_impl_name(AttentionImpl impl) {
  return impl == AttentionImpl::Simple ? "simple" : impl == AttentionImpl::Mma ? "mma" : "wgmma";
}

bool attention_mma_supported(int gqa, int head_dim, DType dtype, DType kv_dtype) {
  (void)kv_dtype;  // both cache types
  return attention_mma_shape_supported(gqa, head_dim, dtype);
}

int attention_tile_tokens(int gqa) { return std::max(1, kMaxRows / std::max(1, gqa)); }

bool attention_wgmma_active(AttentionImpl impl, int gqa, int head_dim, DType dtype, DType kv_dtype) {
  (void)kv_dtype;  // both cache types
  return impl == AttentionImpl::Wgmma && attention_wgmma_shape_supported(gqa, head_dim, dtype) && wgmma_device();
}

int attention_tile_tokens(AttentionImpl impl, int gqa, int head_dim, DType dtype, DType kv_dtype) {
  if (attention_wgmma_active(impl, gqa, head_dim, dtype, kv_dtype)) return attention_wgmma_tile_tokens(gqa);
  if (impl != AttentionImpl::Simple && attention_mma_supported(gqa, head_dim, dtype, kv_dtype))
    return attention_mma_tile_tokens(gqa);
  return attention_tile_tokens(gqa);
}

size_t attention_workspace_floats(int num_tokens, int num_heads, int head_dim, int num_splits) {
  if (num_splits <= 1) return 0;
  return size_t(num_tokens) * num_heads * num_splits * (size_t(head_dim) + 2);
}

int attention_num_splits(int num_tiles, int num_kv_heads, int max_keys, int num_sms) {
  const int items = std::max(1, num_tiles * num_kv_heads);
  int s = (2 * num_sms + items - 1) / items;
  s = std::min(s, (max_keys + 63) / 64);
  return std::clamp(s, 1, kMaxSplits);
}

int attention_invariant_split_keys(int max_model_len) {
  const int per = (std::max(1, max_model_len) + kMaxSplits - 1) / kMaxSplits;
  return (per + 63) / 64 * 64;
}

int attention_invariant_num_splits(int max_keys, int split_keys) {
  return std::clamp((std::max(1, max_keys) + split_keys - 1) / split_keys, 2, kMaxSplits);
}

void paged_attention(const PagedAttentionArgs& args, cudaStream_t stream) {
  if (args.num_tiles <= 0) return;
  const PagedAttentionArgs& a = args;
  IGNIS_KCHECK(a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0,
               "attention: num_heads " + std::to_string(a.num_heads) + " not a multiple of num_kv_heads " +
                   std::to_string(a.num_kv_heads));
  IGNIS_KCHECK(a.num_heads / a.num_kv_heads <= kMaxRows,
               "attention: GQA ratio " + std::to_string(a.num_heads / a.num_kv_heads) + " above 32");
  IGNIS_KCHECK(a.head_dim > 0 && a.head_dim <= 256,
               "attention: head_dim " + std::to_string(a.head_dim) + " not in 1..256");
  IGNIS_KCHECK(a.num_splits >= 1 && (a.num_splits == 1 || a.workspace), "attention: splits need a workspace");
  IGNIS_KCHECK(a.split_keys >= 0 && a.split_keys % 64 == 0, "attention: split_keys " + std::to_string(a.split_keys) +
                                                                " not a multiple of 64");
  IGNIS_KCHECK(a.num_splits <= kMaxSplits, "attention: num_splits " + std::to_string(a.num_splits) + " above " +
                                               std::to_string(kMaxSplits));
  IGNIS_KCHECK(!a.tree_mask || (a.tree_begin && a.tree_words >= 1),
               "attention: a tree mask needs tree_begin and tree_words >= 1");
  IGNIS_KCHECK(!a.tree_path || (a.tree_begin && !a.tree_mask && a.tree_path_stride >= 1 &&
                                a.impl != AttentionImpl::Simple &&
                                int64_t(a.num_tokens) * (a.num_heads / a.num_kv_heads) <=
                                    int64_t(kDecodeTileRows) * a.num_tiles),
               "attention: tree paths need tree_begin, no tree mask, a stride and one-token decode tiles (mma kernels)");
  const bool fp8 = attention_kv_fp8(a.kv_dtype);
  // The kernels see the effective arguments: k_scale folded into the softmax scale, v_scale applied to
  // the output (both 1 for a cache of the compute dtype, which leaves that path's arithmetic unchanged).
  PagedAttentionArgs e = a;
  if (fp8) {
    IGNIS_KCHECK(a.dtype == DType::BF16 || a.dtype == DType::F16,
                 std::string("attention: an FP8 KV cache needs BF16 or F16 activations, not ") +
                     std::string(dtype_name(a.dtype)));
    IGNIS_KCHECK(std::isfinite(a.k_scale) && a.k_scale > 0.0f && std::isfinite(a.v_scale) && a.v_scale > 0.0f,
                 "attention: FP8 KV scales must be finite and > 0 (k_scale " + std::to_string(a.k_scale) +
                     ", v_scale " + std::to_string(a.v_scale) + ")");
    e.kv_dtype = DType::F8_E4M3;
    e.scale = a.scale * a.k_scale;
    e.k_scale = 1.0f;
  } else {
    e.kv_dtype = a.dtype;
    e.k_scale = 1.0f;
    e.v_scale = 1.0f;
  }
  // Both kernels loop over a tile's rows in passes, so any tiling is correct for either.
  const int G = a.num_heads / a.num_kv_heads;
  const bool mma = a.impl != AttentionImpl::Simple &&
                   paged_attention_mma(e, attention_wgmma_active(a.impl, G, a.head_dim, a.dtype, a.kv_dtype), stream);
  IGNIS_KCHECK(mma || !a.tree_path, "attention: tree paths need the mma kernels (head_dim 64 / 128, aligned)");
  IGNIS_DISPATCH_FLOAT(a.dtype, T, {
    if (!mma) {
      if constexpr (std::is_same_v<T, float>) {
        launch_simple_dc<T, T>(e, stream);
      } else {
        if (fp8) launch_simple_dc<T, kv_fp8>(e, stream);
        else launch_simple_dc<T, T>(e, stream);
      }
    }
    launch_combine<T>(e, mma && attention_mma_decode_only(e), stream);
  });
}

}  // namespace ignis::kernels
