// ignis kernels (internal to attention_mma*.cu): the split-keys decode path of the mma.sync attention
// (decode_pass for a cache of the compute dtype, decode_pass_fp8 for a cache of e4m3 codes) and the
// constants the mma kernels share. Fragment layouts: see attention_mma_impl.cuh.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "kernels/attention_mma.h"
#include "kernels/common.cuh"
#include "kernels/kv_fp8.cuh"
#include "kernels/mma_util.cuh"

namespace ignis::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = kMmaAttentionRows;  // query rows per pass = 16 per warp
constexpr int kChunk = 64;                // keys per shared-memory chunk
static_assert(kRows == kWarps * 16, "one m16 tile of rows per warp");

// Decode path: query rows [r0, r0 + 16) of the tile (a tile of <= 16 rows in one pass). The 4 warps
// split the keys of every 64-key chunk (warp w: keys 16w .. 16w+15) for the same 16 rows, each with
// its own online-softmax state; the states are merged through shared memory at the end. A warp
// copies only its own keys, into its own ring of 3 buffers of 16 keys (K(c), V(c) and K(c+1) in
// flight together), so the chunk loop needs __syncwarp only. Q (16 rows) is shared by the warps.
// Shared memory: 4 rings (3 x 16 keys x D) then Q (16 x D), rows padded by 16 bytes. An FP8 cache
// takes decode_pass_fp8 (below), the same scheme on rings of codes.
constexpr int kWarpKeys = kChunk / kWarps;  // keys of a chunk per warp
constexpr int kRing = 3;                    // 16-key buffers per warp
static_assert(kWarpKeys == 16, "one k-step of P V per warp and chunk");
template <int D> __host__ __device__ constexpr size_t decode_smem_bytes() {
  return size_t(kWarps * kRing * kWarpKeys + 16) * (D + 8) * 2;
}

// A padding tile's block (kv head kvh, split of S): the split's (m, l) pairs of the tile's token for
// kvh's query heads say "empty" (l = 0), so the merge gives them weight 0, as attention.cu's
// mark_padding_kernel does for launches on other kernels (attention_mma_decode_only).
__device__ __forceinline__ void mark_padding_split(const PagedAttentionArgs& a, const AttentionTile& tile, int kvh,
                                                   int split, int S) {
  const int t = tile.token_begin, G = a.num_heads / a.num_kv_heads;
  if (S <= 1 || t < 0 || t >= a.num_tokens) return;
  float* ml = split_ml(a, S, a.head_dim);
  for (int j = threadIdx.x; j < G; j += blockDim.x)
    ml[((size_t(t) * a.num_heads + size_t(kvh) * G + j) * S + split) * 2 + 1] = 0.0f;
}

template <class T, int D>
__device__ __forceinline__ void decode_pass(const PagedAttentionArgs& a, const AttentionTile& tile, int kvh, int split,
                                            int pos_first, KeyRange keys, int r0, unsigned char* smem_raw) {
  constexpr int SD = D + 8;         // shared row pitch of K/V (elements)
  constexpr int OP = D + 8;         // row pitch of the fp32 merge buffer: conflict-free float2 stores
  constexpr int VEC = D / 8;        // 16-byte vectors per row
  constexpr int KSTEPS = D / 16;
  constexpr int NT_O = D / 8;
  constexpr int RING = kRing * kWarpKeys * SD;  // elements of one warp's ring
  static_assert(16 * OP * sizeof(float) <= RING * sizeof(T), "merge buffer fits a warp's ring");
  static_assert(kWarpKeys * VEC % 32 == 0, "whole copy rounds");
  __shared__ float2 wml[kWarps][16];  // (m, l) of each warp's 16 rows (log2 domain)

  const int S = gridDim.z, G = a.num_heads / a.num_kv_heads;
  const int rows_total = tile.num_tokens * G;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, qd = lane & 3;
  const int kb = keys.begin, ke = keys.end;
  const int num_chunks = ke > kb ? (ke - kb + kChunk - 1) / kChunk : 0;

  const T* q = static_cast<const T*>(a.q);
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int32_t* bt = a.block_tables + size_t(tile.seq) * a.bt_stride;
  const size_t tok_stride = size_t(a.num_kv_heads) * D;
  const size_t head_off = size_t(kvh) * D;
  const float scale_log2 = a.scale * kLog2e;
  T* ring = reinterpret_cast<T*>(smem_raw) + warp * RING;  // (kRing, 16 keys, SD) this warp's buffers
  T* Qs = reinterpret_cast<T*>(smem_raw) + kWarps * RING;   // (16, SD) rows r0 .. r0+15

  // Cache slot of this lane's key (lane % 16 of the warp's 16) in chunk c; -1 = masked / absent.
  const int key0 = kb + warp * kWarpKeys + (lane & 15);
  const TreePath path = tree_path(a.tree_path, a.tree_path_stride, a.tree_begin, tile.token_begin, tile.num_tokens);
  auto slot_of = [&](int c) -> int {
    const int p = key0 + c * kChunk;
    if (c >= num_chunks || p >= ke) return -1;
    return key_slot(bt, a.block_size, p, path);
  };
  // The warp's 16 rows of `src` for a chunk (slots in lanes 0..15) -> ring buffer `buf`; one group.
  auto issue = [&](int buf, const T* src, int sl, bool live) {
    if (live) {
      T* dst = ring + buf * kWarpKeys * SD;
#pragma unroll
      for (int it = 0; it < kWarpKeys * VEC / 32; ++it) {
        const int i = lane + it * 32;
        const int key = i / VEC, v = i % VEC;
        const int slot = __shfl_sync(0xffffffffu, sl, key);
        T* d = dst + key * SD + v * 8;
        if (slot >= 0) cp_async16(d, src + size_t(slot) * tok_stride + head_off + v * 8);
        else *reinterpret_cast<uint4*>(d) = make_uint4(0u, 0u, 0u, 0u);
      }
    }
    cp_async_commit();
  };

  int sl0 = slot_of(0), sl1 = slot_of(1);  // chunks c, c + 1
  issue(0, kc, sl0, num_chunks > 0);
  issue(1, vc, sl0, num_chunks > 0);
  issue(2, kc, sl1, num_chunks > 1);

  // Q rows r0 .. r0+15 -> Qs (zeros for padding rows) while the first K/V copies are in flight
  static_assert(16 * VEC % kThreads == 0, "whole copy rounds");
#pragma unroll
  for (int it = 0; it < 16 * VEC / kThreads; ++it) {
    const int i = tid + it * kThreads;
    const int r = i / VEC, v = i % VEC, rr = r0 + r;
    uint4 val = make_uint4(0u, 0u, 0u, 0u);
    if (rr < rows_total)
      val = *reinterpret_cast<const uint4*>(q + size_t(tile.token_begin + rr / G) * a.q_stride +
                                            size_t(kvh * G + rr % G) * D + v * 8);
    *reinterpret_cast<uint4*>(Qs + r * SD + v * 8) = val;
  }
  // lane's ldmatrix row address for the A fragments (as in the main kernel)
  const uint32_t q_addr = smem_addr(Qs + ((lane & 7) + ((lane >> 3) & 1) * 8) * SD + (lane >> 4) * 8);
  int hi[2], lo[2];  // visible keys lo <= p <= hi of rows g, g + 8 (padding rows: none)
  TreeRow tr[2];     // and their tree masks
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = r0 + g + 8 * i;
    hi[i] = r < rows_total ? pos_first + r / G : -1;
    lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
    tr[i] = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin + r / G, r < rows_total);
  }
  float o[NT_O][4];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // l: this thread's partial row sums
#pragma unroll
  for (int t = 0; t < NT_O; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[t][e] = 0.0f;
  __syncthreads();  // Qs is visible

  int kbuf = 0, vbuf = 1;  // ring buffers of K(c) and V(c); K(c+1) is in the third
  for (int c = 0; c < num_chunks; ++c) {
    const int sl2 = slot_of(c + 2);  // block-table load early, used after P V
    cp_async_wait_group<2>();        // K(c) landed (V(c), K(c+1) may be in flight)
    __syncwarp();
    float s[2][4] = {};
    const T* kbase = ring + kbuf * kWarpKeys * SD;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      uint32_t qf[4];
      ldmatrix_x4(qf, q_addr + kk * 16 * sizeof(T));
      // matrices: (keys +0..7, dims +0..7), (keys +0..7, dims +8..15), (keys +8..15, +0..7), (+8..15, +8..15)
      uint32_t b[4];
      const int key = (lane >> 4) * 8 + (lane & 7);
      const int d = kk * 16 + ((lane >> 3) & 1) * 8;
      ldmatrix_x4(b, smem_addr(kbase + key * SD + d));
      mma16816<T>(s[0], qf, b[0], b[1]);
      mma16816<T>(s[1], qf, b[2], b[3]);
    }
    __syncwarp();  // the warp is done with K(c)'s buffer
    issue(kbuf, vc, sl1, c + 1 < num_chunks);  // V(c+1)

    const uint32_t vb = __ballot_sync(0xffffffffu, sl0 >= 0) & 0xffffu;  // bit k: key k of the 16 exists
    const int kw = kb + c * kChunk + warp * kWarpKeys;
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int k = j * 8 + 2 * qd + (e & 1);
        const int p = kw + k;
        const bool ok = ((vb >> k) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1] && tree_visible(tr[e >> 1], p);
        s[j][e] = ok ? s[j][e] * scale_log2 : -INFINITY;
      }
    online_softmax(s, m, l, o);

    cp_async_wait_group<2>();  // V(c) landed (K(c+1), V(c+1) may be in flight)
    __syncwarp();
    const uint32_t pa[4] = {pack2<T>(s[0][0], s[0][1]), pack2<T>(s[0][2], s[0][3]), pack2<T>(s[1][0], s[1][1]),
                            pack2<T>(s[1][2], s[1][3])};
    const T* vbase = ring + vbuf * kWarpKeys * SD;
#pragma unroll
    for (int n2 = 0; n2 < NT_O / 2; ++n2) {
      // matrices (transposed): (keys +0..7, dims +0..7), (keys +8..15, +0..7), (+0..7, +8..15), (+8..15, +8..15)
      uint32_t b[4];
      const int key = ((lane >> 3) & 1) * 8 + (lane & 7);
      const int d = n2 * 16 + (lane >> 4) * 8;
      ldmatrix_x4_trans(b, smem_addr(vbase + key * SD + d));
      mma16816<T>(o[2 * n2], pa, b[0], b[1]);
      mma16816<T>(o[2 * n2 + 1], pa, b[2], b[3]);
    }
    __syncwarp();  // the warp is done with V(c)'s buffer
    issue(vbuf, kc, sl2, c + 2 < num_chunks);  // K(c+2)
    const int knext = kRing - kbuf - vbuf;     // K(c+1)'s buffer; V(c+1) went to kbuf
    vbuf = kbuf;
    kbuf = knext;
    sl0 = sl1;
    sl1 = sl2;
  }

  // Merge: each warp's unnormalized O -> its own ring (now idle), (m, l) -> wml; then every thread
  // combines (row, 2 dims) pairs: M = max m_w, L = sum l_w 2^(m_w - M), O = sum O_w 2^(m_w - M).
  cp_async_wait_group<0>();
  __syncwarp();
  const int rows = min(16, rows_total - r0);
  float* ow = reinterpret_cast<float*>(ring);  // (16, OP) fp32
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = g + 8 * i;
    if (r >= rows) continue;
#pragma unroll
    for (int n = 0; n < NT_O; ++n)
      *reinterpret_cast<float2*>(ow + r * OP + n * 8 + 2 * qd) = make_float2(o[n][2 * i], o[n][2 * i + 1]);
    if (qd == 0) wml[warp][r] = make_float2(m[i], l[i]);
  }
  __syncthreads();
  for (int idx = tid; idx < rows * (D / 2); idx += kThreads) {
    const int r = idx / (D / 2), d = 2 * (idx % (D / 2));
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wml[w][r].x);
    const float base = M == -INFINITY ? 0.0f : M;
    float L = 0.0f, x = 0.0f, y = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float wt = fast_exp2(wml[w][r].x - base);
      const float2 v = *reinterpret_cast<const float2*>(reinterpret_cast<const float*>(smem_raw) +
                                                        size_t(w) * RING * sizeof(T) / 4 + r * OP + d);
      L += wml[w][r].y * wt;
      x += v.x * wt;
      y += v.y * wt;
    }
    const int rr = r0 + r;
    const int t = tile.token_begin + rr / G, h = kvh * G + rr % G;
    if (S == 1) {
      T* out = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
      const float inv = (L > 0.0f ? 1.0f / L : 0.0f) * a.v_scale;
      *reinterpret_cast<uint32_t*>(out + d) = pack2<T>(x * inv, y * inv);
    } else {
      // workspace layout as in the main kernel
      const size_t part = (size_t(t) * a.num_heads + h) * S + split;
      *reinterpret_cast<float2*>(a.workspace + part * D + d) = make_float2(x, y);
      if (d == 0) {
        float* ml = split_ml(a, S, D) + part * 2;
        ml[0] = M * kLn2;
        ml[1] = L;
      }
    }
  }
}
// ---- FP8 cache: decode_pass_fp8, the same scheme (a warp per 16 keys of each 64-key chunk, its own
// ring of 3 16-key buffers: K(c), V(c), K(c+1) in flight) on buffers of e4m3 codes (cp.async, half the
// bytes of a 16-bit cache), whose codes go into the mma B fragments straight from shared memory (no
// converted copy):
//   S = Q K^T: for k-step kk, lane (g, q) needs K[key][positions 2q, 2q+1] (b0) and [2q+8, 2q+9] (b1);
//     Q's dims are stored permuted within each group of 16 (position 2j, 2j+1 = dims 4j, 4j+1 and
//     position 8 + 2j, 9 + 2j = dims 4j + 2, 4j + 3, j < 4) so that b0, b1 are K dims 4q .. 4q+3 of the
//     group: one 32-bit load of 4 codes, two conversions. (The dot product does not care about the
//     order of the dims as long as Q and K share it.)
//   O += P V: column n of O's n-tile t is taken to be dim NT_O * n + t (NT_O = D / 8 n-tiles), so lane
//     (g, q), whose B fragments need keys 2q, 2q+1, 2q+8, 2q+9 at column n = g of every n-tile, reads
//     the 4 keys' dims NT_O g .. NT_O g + NT_O - 1 (a 16-byte load each for D = 128), and pairs the
//     bytes of two keys with a byte permute before the conversion. Its accumulators o[t][e] then
//     hold dims (2q + (e & 1)) NT_O + t of rows g (e < 2) and g + 8: dims D/4 q .. D/4 (q+1) - 1.
// Ring rows are D + 16 bytes apart: the 32-bit K loads (8 keys x 4 lanes) and the V loads (a quarter
// warp: 4 keys x 2 dim groups) then fall on distinct banks.
// The merge buffers (fp32, 16 rows x (D + 16) per warp, float4 groups swizzled by q against bank
// conflicts) are larger than a ring of codes: they overlay the whole shared memory once every warp
// has left its chunk loop.
template <int D> struct DecodeFp8Layout {
  static constexpr int PB = D + 16;                       // ring row pitch (bytes)
  static constexpr int BUF = kWarpKeys * PB;              // one 16-key buffer (bytes)
  static constexpr int RING = kRing * BUF;                // a warp's ring (bytes)
  static constexpr int SD = D + 8;                        // Q row pitch (16-bit elements)
  static constexpr int OP = D + 16;                       // merge row pitch (floats)
  static constexpr size_t kRings = size_t(kWarps) * RING + size_t(16) * SD * 2;
  static constexpr size_t kMerge = size_t(kWarps) * 16 * OP * 4;
  static constexpr size_t kBytes = kRings > kMerge ? kRings : kMerge;
};
// Float offset of logical dim d (even) of a merge row: float4 group d / 4 XOR q, q = d / (D / 4) the
// lane that holds it, so a quarter warp's float4 stores spread over the banks.
template <int D> __device__ __forceinline__ int merge_col(int d) { return (((d >> 2) ^ (d / (D / 4))) << 2) | (d & 3); }

template <class T, int D>
__device__ __forceinline__ void decode_pass_fp8(const PagedAttentionArgs& a, const AttentionTile& tile, int kvh,
                                                int split, int pos_first, KeyRange keys, int r0,
                                                unsigned char* smem_raw) {
  using Lay = DecodeFp8Layout<D>;
  constexpr int PB = Lay::PB, BUF = Lay::BUF, SD = Lay::SD, OP = Lay::OP;
  constexpr int VEC = D / 16;      // 16-byte vectors (16 codes) per cached row
  constexpr int KSTEPS = D / 16;
  constexpr int NT_O = D / 8;
  constexpr int NW = NT_O / 4;     // 32-bit words of a lane's V bytes per key
  static_assert(kWarpKeys * VEC % 32 == 0, "whole copy rounds");
  static_assert(NW == 2 || NW == 4, "head_dim 64 or 128");
  __shared__ float2 wml[kWarps][16];  // (m, l) of each warp's 16 rows (log2 domain)

  const int S = gridDim.z, G = a.num_heads / a.num_kv_heads;
  const int rows_total = tile.num_tokens * G;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, qd = lane & 3;
  const int kb = keys.begin, ke = keys.end;
  const int num_chunks = ke > kb ? (ke - kb + kChunk - 1) / kChunk : 0;

  const T* q = static_cast<const T*>(a.q);
  const uint8_t* kc = static_cast<const uint8_t*>(a.k_cache);
  const uint8_t* vc = static_cast<const uint8_t*>(a.v_cache);
  const int32_t* bt = a.block_tables + size_t(tile.seq) * a.bt_stride;
  const size_t tok_stride = size_t(a.num_kv_heads) * D;  // bytes = codes
  const size_t head_off = size_t(kvh) * D;
  const float scale_log2 = a.scale * kLog2e;                  // (k_scale included: paged_attention)
  unsigned char* ring = smem_raw + warp * Lay::RING;           // (kRing, 16 keys, PB) codes
  T* Qs = reinterpret_cast<T*>(smem_raw + kWarps * Lay::RING);  // (16, SD) rows r0 .. r0+15, dims permuted
  float* merge = reinterpret_cast<float*>(smem_raw);            // (warp, 16, OP) after the chunk loop

  // Cache slot of this lane's key (lane % 16 of the warp's 16) in chunk c; -1 = masked / absent.
  const int key0 = kb + warp * kWarpKeys + (lane & 15);
  const TreePath path = tree_path(a.tree_path, a.tree_path_stride, a.tree_begin, tile.token_begin, tile.num_tokens);
  auto slot_of = [&](int c) -> int {
    const int p = key0 + c * kChunk;
    if (c >= num_chunks || p >= ke) return -1;
    return key_slot(bt, a.block_size, p, path);
  };
  // The warp's 16 rows of codes of `src` for a chunk (slots in lanes 0..15) -> buffer `buf`; one group.
  auto issue = [&](int buf, const uint8_t* src, int sl, bool live) {
    if (live) {
      unsigned char* dst = ring + buf * BUF;
#pragma unroll
      for (int it = 0; it < kWarpKeys * VEC / 32; ++it) {
        const int i = lane + it * 32;
        const int key = i / VEC, v = i % VEC;
        const int slot = __shfl_sync(0xffffffffu, sl, key);
        unsigned char* d = dst + key * PB + v * 16;
        if (slot >= 0) cp_async16(d, src + size_t(slot) * tok_stride + head_off + v * 16);
        else *reinterpret_cast<uint4*>(d) = make_uint4(0u, 0u, 0u, 0u);  // code 0 = 0.0 (never NaN)
      }
    }
    cp_async_commit();
  };

  int sl0 = slot_of(0), sl1 = slot_of(1);  // chunks c, c + 1
  issue(0, kc, sl0, num_chunks > 0);
  issue(1, vc, sl0, num_chunks > 0);
  issue(2, kc, sl1, num_chunks > 1);

  // Q rows r0 .. r0+15 -> Qs (zeros for padding rows), each group of 16 dims permuted as above: in
  // 32-bit words (dim pairs) w0..w7, positions 0..7 get w0 w2 w4 w6 and positions 8..15 w1 w3 w5 w7.
  for (int i = tid; i < 16 * (D / 16); i += kThreads) {
    const int r = i / (D / 16), grp = i % (D / 16), rr = r0 + r;
    uint4 x = make_uint4(0u, 0u, 0u, 0u), y = x;
    if (rr < rows_total) {
      const T* src = q + size_t(tile.token_begin + rr / G) * a.q_stride + size_t(kvh * G + rr % G) * D + grp * 16;
      x = *reinterpret_cast<const uint4*>(src);
      y = *reinterpret_cast<const uint4*>(src + 8);
    }
    *reinterpret_cast<uint4*>(Qs + r * SD + grp * 16) = make_uint4(x.x, x.z, y.x, y.z);
    *reinterpret_cast<uint4*>(Qs + r * SD + grp * 16 + 8) = make_uint4(x.y, x.w, y.y, y.w);
  }
  const uint32_t q_addr = smem_addr(Qs + ((lane & 7) + ((lane >> 3) & 1) * 8) * SD + (lane >> 4) * 8);
  int hi[2], lo[2];  // visible keys lo <= p <= hi of rows g, g + 8 (padding rows: none)
  TreeRow tr[2];     // and their tree masks
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = r0 + g + 8 * i;
    hi[i] = r < rows_total ? pos_first + r / G : -1;
    lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
    tr[i] = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin + r / G, r < rows_total);
  }
  float o[NT_O][4];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // l: this thread's partial row sums
#pragma unroll
  for (int t = 0; t < NT_O; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[t][e] = 0.0f;
  __syncthreads();  // Qs is visible

  int kbuf = 0, vbuf = 1;  // ring buffers of K(c) and V(c); K(c+1) is in the third
  for (int c = 0; c < num_chunks; ++c) {
    const int sl2 = slot_of(c + 2);  // block-table load early, used after P V
    cp_async_wait_group<2>();        // K(c) landed (V(c), K(c+1) may be in flight)
    __syncwarp();
    float s[2][4] = {};
    const unsigned char* kbase = ring + kbuf * BUF;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      uint32_t qf[4];
      ldmatrix_x4(qf, q_addr + kk * 16 * sizeof(T));
#pragma unroll
      for (int j = 0; j < 2; ++j) {  // n-tile j: keys 8j .. 8j+7, this lane's column g = key 8j + g
        const uint32_t w = *reinterpret_cast<const uint32_t*>(kbase + (8 * j + g) * PB + kk * 16 + 4 * qd);
        mma16816<T>(s[j], qf, e4m3x2_to<T>(w), e4m3x2_to<T>(w >> 16));
      }
    }
    __syncwarp();  // the warp is done with K(c)'s buffer
    issue(kbuf, vc, sl1, c + 1 < num_chunks);  // V(c+1)

    const uint32_t vb = __ballot_sync(0xffffffffu, sl0 >= 0) & 0xffffu;  // bit k: key k of the 16 exists
    const int kw = kb + c * kChunk + warp * kWarpKeys;
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int k = j * 8 + 2 * qd + (e & 1);
        const int p = kw + k;
        const bool ok = ((vb >> k) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1] && tree_visible(tr[e >> 1], p);
        s[j][e] = ok ? s[j][e] * scale_log2 : -INFINITY;
      }
    online_softmax(s, m, l, o);

    cp_async_wait_group<2>();  // V(c) landed (K(c+1), V(c+1) may be in flight)
    __syncwarp();
    const uint32_t pa[4] = {pack2<T>(s[0][0], s[0][1]), pack2<T>(s[0][2], s[0][3]), pack2<T>(s[1][0], s[1][1]),
                            pack2<T>(s[1][2], s[1][3])};
    // rows of keys 2q, 2q+1 (b0) and 2q+8, 2q+9 (b1), bytes NT_O g .. NT_O g + NT_O - 1
    const unsigned char* vrow = ring + vbuf * BUF + NT_O * g;
    uint32_t rv[4][NW];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const unsigned char* p = vrow + (2 * qd + (k & 1) + (k >> 1) * 8) * PB;
      if constexpr (NW == 4) {
        const uint4 t = *reinterpret_cast<const uint4*>(p);
        rv[k][0] = t.x;
        rv[k][1] = t.y;
        rv[k][2] = t.z;
        rv[k][3] = t.w;
      } else {
        const uint2 t = *reinterpret_cast<const uint2*>(p);
        rv[k][0] = t.x;
        rv[k][1] = t.y;
      }
    }
#pragma unroll
    for (int w = 0; w < NW; ++w) {
      // bytes (k0 b, k1 b, k0 b+1, k1 b+1): the low 16 bits pair dim 4w + b of keys 2q, 2q+1 (lower key low)
      const uint32_t p01a = __byte_perm(rv[0][w], rv[1][w], 0x5140), p01b = __byte_perm(rv[0][w], rv[1][w], 0x7362);
      const uint32_t p23a = __byte_perm(rv[2][w], rv[3][w], 0x5140), p23b = __byte_perm(rv[2][w], rv[3][w], 0x7362);
      mma16816<T>(o[4 * w + 0], pa, e4m3x2_to<T>(p01a), e4m3x2_to<T>(p23a));
      mma16816<T>(o[4 * w + 1], pa, e4m3x2_to<T>(p01a >> 16), e4m3x2_to<T>(p23a >> 16));
      mma16816<T>(o[4 * w + 2], pa, e4m3x2_to<T>(p01b), e4m3x2_to<T>(p23b));
      mma16816<T>(o[4 * w + 3], pa, e4m3x2_to<T>(p01b >> 16), e4m3x2_to<T>(p23b >> 16));
    }
    __syncwarp();  // the warp is done with V(c)'s buffer
    issue(vbuf, kc, sl2, c + 2 < num_chunks);  // K(c+2)
    const int knext = kRing - kbuf - vbuf;     // K(c+1)'s buffer; V(c+1) went to kbuf
    vbuf = kbuf;
    kbuf = knext;
    sl0 = sl1;
    sl1 = sl2;
  }

  // Merge (as decode_pass), through buffers that overlay the rings and Qs: every warp must be past its
  // chunk loop first.
  cp_async_wait_group<0>();
  __syncthreads();
  const int rows = min(16, rows_total - r0);
  float* ow = merge + warp * 16 * OP;  // (16, OP) fp32, columns swizzled (merge_col)
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = g + 8 * i;
    if (r >= rows) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h)  // o[t][2i + h]: dim (2 qd + h) NT_O + t
#pragma unroll
      for (int u = 0; u < NT_O / 4; ++u) {
        const int d = (2 * qd + h) * NT_O + 4 * u;
        *reinterpret_cast<float4*>(ow + r * OP + merge_col<D>(d)) =
            make_float4(o[4 * u][2 * i + h], o[4 * u + 1][2 * i + h], o[4 * u + 2][2 * i + h], o[4 * u + 3][2 * i + h]);
      }
    if (qd == 0) wml[warp][r] = make_float2(m[i], l[i]);
  }
  __syncthreads();
  for (int idx = tid; idx < rows * (D / 2); idx += kThreads) {
    const int r = idx / (D / 2), d = 2 * (idx % (D / 2));
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wml[w][r].x);
    const float base = M == -INFINITY ? 0.0f : M;
    float L = 0.0f, x = 0.0f, y = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float wt = fast_exp2(wml[w][r].x - base);
      const float2 v = *reinterpret_cast<const float2*>(merge + (w * 16 + r) * OP + merge_col<D>(d));
      L += wml[w][r].y * wt;
      x += v.x * wt;
      y += v.y * wt;
    }
    const int rr = r0 + r;
    const int t = tile.token_begin + rr / G, h = kvh * G + rr % G;
    if (S == 1) {
      T* out = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
      const float inv = (L > 0.0f ? 1.0f / L : 0.0f) * a.v_scale;
      *reinterpret_cast<uint32_t*>(out + d) = pack2<T>(x * inv, y * inv);
    } else {
      const size_t part = (size_t(t) * a.num_heads + h) * S + split;
      *reinterpret_cast<float2*>(a.workspace + part * D + d) = make_float2(x, y);
      if (d == 0) {
        float* ml = split_ml(a, S, D) + part * 2;
        ml[0] = M * kLn2;
        ml[1] = L;
      }
    }
  }
}

// Shared memory of the decode path for a cache of KV.
template <class KV, int D> __host__ __device__ constexpr size_t decode_smem_bytes_for() {
  if constexpr (kIsFp8<KV>) return DecodeFp8Layout<D>::kBytes;
  else return decode_smem_bytes<D>();
}

// A whole tile (any size) in passes of 16 rows.
template <class T, class KV, int D>
__device__ __forceinline__ void decode_tile(const PagedAttentionArgs& a, const AttentionTile& tile, unsigned char* smem_raw) {
  const int rows_total = tile.num_tokens * (a.num_heads / a.num_kv_heads);
  const int pos_first = a.positions[tile.token_begin];
  const KeyRange keys = split_key_range(pos_first, tile.num_tokens, a.sliding_window, blockIdx.z, gridDim.z, kChunk, a.split_keys);
  for (int r0 = 0; r0 < rows_total; r0 += 16) {
    if (r0 > 0) __syncthreads();  // the previous pass's merge is done with shared memory
    if constexpr (kIsFp8<KV>) decode_pass_fp8<T, D>(a, tile, blockIdx.y, blockIdx.z, pos_first, keys, r0, smem_raw);
    else decode_pass<T, D>(a, tile, blockIdx.y, blockIdx.z, pos_first, keys, r0, smem_raw);
  }
}

}  // namespace
}  // namespace ignis::kernels
