// Tensor-core paged attention (FlashAttention-2 style) for bf16/fp16, head_dim 64 or 128.
//
// Block = (tile, kv head, split), 4 warps. The tile's query rows r = token * G + head-in-group
// are processed in passes of 64 rows (warp w owns rows 16w .. 16w+15 of a pass). Per pass:
// Q (64 x D) -> shared -> registers (ldmatrix A fragments), then the split's key range in chunks
// of 64 keys: K and V rows are copied from the paged cache into shared memory with 16-byte
// cp.async (the slot of each key is looked up once per chunk; missing keys are zero-filled),
// S = Q K^T and O += P V with mma.sync m16n8k16 (fp32 accumulators), online softmax in fp32
// registers (log2 domain). Pipeline with one K and one V buffer: V(c) loads during S(c), and
// K(c+1) loads during softmax(c) + PV(c).
//
// Decode tiles (<= 16 rows: one decode token x G <= 16, or a few tokens) leave 3 of the 4 warps
// idle in that scheme; decode_pass instead splits each chunk's keys across the warps (see there).
// The host runs paged_attention_decode_kernel (decode_pass for every tile, in 16-row passes) when
// the launch's tiles average <= 16 rows, else the main kernel, which takes decode_pass itself for
// tiles of <= 16 rows (head_dim 128).
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with 16-bit A/B): g = lane / 4, q = lane % 4.
//   A (16x16, row): a0 (g, 2q..2q+1), a1 (g+8, 2q..), a2 (g, 2q+8..), a3 (g+8, 2q+8..)
//   B (16x8, col):  b0 (k = 2q..2q+1, n = g), b1 (k = 2q+8.., n = g)
//   C (16x8 f32):   c0,c1 (g, 2q..2q+1), c2,c3 (g+8, 2q..2q+1)
// So each thread holds rows g and g + 8 of its warp's 16 rows.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>
#include <string>

#include "kernels/attention_mma.h"
#include "kernels/attention_wgmma.h"
#include "kernels/common.cuh"
#include "kernels/mma_util.cuh"
#include "kernels/cuda_check.h"

namespace ignis::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = kMmaAttentionRows;  // query rows per pass = 16 per warp
constexpr int kChunk = 64;                // keys per shared-memory chunk
static_assert(kRows == kWarps * 16, "one m16 tile of rows per warp");
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

// Waits until at most one of this thread's committed groups is still in flight.
__device__ __forceinline__ void cp_async_wait_all_but_one() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

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

// Q, K and V tiles with a 16-byte pad per row.
__host__ __device__ constexpr size_t mma_smem_bytes(int D) { return size_t(kRows + 2 * kChunk) * (D + 8) * 2; }

// Decode path: query rows [r0, r0 + 16) of the tile (a tile of <= 16 rows in one pass). The 4 warps
// split the keys of every 64-key chunk (warp w: keys 16w .. 16w+15) for the same 16 rows, each with
// its own online-softmax state; the states are merged through shared memory at the end. A warp
// copies only its own keys, into its own ring of 3 buffers of 16 keys (K(c), V(c) and K(c+1) in
// flight together), so the chunk loop needs __syncwarp only. Q (16 rows) is shared by the warps.
// Shared memory: 4 rings (3 x 16 keys x D) then Q (16 x D), rows padded by 16 bytes.
constexpr int kWarpKeys = kChunk / kWarps;  // keys of a chunk per warp
constexpr int kRing = 3;                    // 16-key buffers per warp
static_assert(kWarpKeys == 16, "one k-step of P V per warp and chunk");
template <int D> __host__ __device__ constexpr size_t decode_smem_bytes() {
  return size_t(kWarps * kRing * kWarpKeys + 16) * (D + 8) * 2;
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
  auto slot_of = [&](int c) -> int {
    const int p = key0 + c * kChunk;
    if (c >= num_chunks || p >= ke) return -1;
    const int blk = bt[p / a.block_size];
    return blk >= 0 ? blk * a.block_size + p % a.block_size : -1;
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
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = r0 + g + 8 * i;
    hi[i] = r < rows_total ? pos_first + r / G : -1;
    lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
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
        const bool ok = ((vb >> k) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1];
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
      const float inv = L > 0.0f ? 1.0f / L : 0.0f;
      *reinterpret_cast<uint32_t*>(out + d) = pack2<T>(x * inv, y * inv);
    } else {
      // workspace layout as in the main kernel
      const size_t part = (size_t(t) * a.num_heads + h) * S + split;
      *reinterpret_cast<float2*>(a.workspace + part * D + d) = make_float2(x, y);
      if (d == 0) {
        float* ml = a.workspace + size_t(a.num_tokens) * a.num_heads * S * D + part * 2;
        ml[0] = M * kLn2;
        ml[1] = L;
      }
    }
  }
}

// A whole tile (any size) in passes of 16 rows.
template <class T, int D>
__device__ __forceinline__ void decode_tile(const PagedAttentionArgs& a, const AttentionTile& tile, unsigned char* smem_raw) {
  const int rows_total = tile.num_tokens * (a.num_heads / a.num_kv_heads);
  const int pos_first = a.positions[tile.token_begin];
  const KeyRange keys = split_key_range(pos_first, tile.num_tokens, a.sliding_window, blockIdx.z, gridDim.z, kChunk);
  for (int r0 = 0; r0 < rows_total; r0 += 16) {
    if (r0 > 0) __syncthreads();  // the previous pass's merge is done with shared memory
    decode_pass<T, D>(a, tile, blockIdx.y, blockIdx.z, pos_first, keys, r0, smem_raw);
  }
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) paged_attention_mma_kernel(PagedAttentionArgs a) {
  constexpr int SD = D + 8;          // shared row pitch in elements: +16 bytes against ldmatrix bank conflicts
  constexpr int VEC = D / 8;         // 16-byte vectors per row
  constexpr int KSTEPS = D / 16;     // k-steps of S = Q K^T
  constexpr int NT_S = kChunk / 8;   // n-tiles (8 keys) of S
  constexpr int NT_O = D / 8;        // n-tiles (8 dims) of O
  extern __shared__ __align__(16) unsigned char smem_raw[];  // max(mma_smem_bytes(D), decode_smem_bytes<D>())
  T* Qs = reinterpret_cast<T*>(smem_raw);   // (kRows, D) this pass's query rows
  T* Ks = Qs + kRows * SD;                  // (kChunk, D) keys of the current chunk
  T* Vs = Ks + kChunk * SD;                 // (kChunk, D) values of the current chunk
  __shared__ int32_t slots[2][kChunk];         // cache row (block * block_size + offset) per key, -1 = masked
  __shared__ uint32_t valid_bits[2][2];        // bit k: slots[..][k] >= 0

  const AttentionTile tile = a.tiles[blockIdx.x];
  if (tile.num_tokens <= 0) return;
  const int kvh = blockIdx.y, split = blockIdx.z, S = gridDim.z;
  const int G = a.num_heads / a.num_kv_heads;
  const int rows_total = tile.num_tokens * G;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, qd = lane & 3;

  // Decode tile: the warps split the keys instead of the rows. Not for D = 64: that kernel sits at
  // 128 registers (4 blocks per SM) and would spill; launches of decode tiles take the decode kernel.
  if (D == 128 && rows_total <= kDecodeTileRows) {
    decode_tile<T, D>(a, tile, smem_raw);
    return;
  }
  const int pos_first = a.positions[tile.token_begin];
  const KeyRange keys = split_key_range(pos_first, tile.num_tokens, a.sliding_window, split, S, kChunk);
  const int kb = keys.begin, ke = keys.end;
  const int num_chunks = ke > kb ? (ke - kb + kChunk - 1) / kChunk : 0;

  const T* q = static_cast<const T*>(a.q);
  const T* kc = static_cast<const T*>(a.k_cache);
  const T* vc = static_cast<const T*>(a.v_cache);
  const int32_t* bt = a.block_tables + size_t(tile.seq) * a.bt_stride;
  const size_t tok_stride = size_t(a.num_kv_heads) * D;
  const size_t head_off = size_t(kvh) * D;
  const float scale_log2 = a.scale * kLog2e;

  // Threads 0..63 (warps 0, 1): the cache slots of chunk c's keys and their validity bits.
  auto stage_slots = [&](int c) {
    if (tid < kChunk) {
      const int p = kb + c * kChunk + tid;
      int slot = -1;
      if (p < ke) {
        const int blk = bt[p / a.block_size];
        if (blk >= 0) slot = blk * a.block_size + p % a.block_size;
      }
      slots[c & 1][tid] = slot;
      const uint32_t bits = __ballot_sync(0xffffffffu, slot >= 0);
      if (lane == 0) valid_bits[c & 1][warp] = bits;
    }
  };
  // Every thread: its share of chunk c's rows of `src` into `dst` (one commit group).
  auto issue_chunk = [&](T* dst, const T* src, int c) {
    const int32_t* sl = slots[c & 1];
    static_assert(kChunk * VEC % kThreads == 0, "whole copy rounds");
#pragma unroll
    for (int it = 0; it < kChunk * VEC / kThreads; ++it) {
      const int i = tid + it * kThreads;
      const int key = i / VEC, v = i % VEC;
      T* d = dst + key * SD + v * 8;
      const int slot = sl[key];
      if (slot >= 0) cp_async16(d, src + size_t(slot) * tok_stride + head_off + v * 8);
      else *reinterpret_cast<uint4*>(d) = make_uint4(0u, 0u, 0u, 0u);
    }
    cp_async_commit();
  };

  for (int r0 = 0; r0 < rows_total; r0 += kRows) {
    const int rows = min(kRows, rows_total - r0);
    __syncthreads();  // the previous pass is done with every shared buffer
    // Q rows r0 .. r0 + rows of this kv head's query heads -> Qs (zeros beyond `rows`)
#pragma unroll
    for (int it = 0; it < kRows * VEC / kThreads; ++it) {
      const int i = tid + it * kThreads;
      const int r = i / VEC, v = i % VEC;
      uint4 val = make_uint4(0u, 0u, 0u, 0u);
      if (r < rows) {
        const int rr = r0 + r;
        const int t = tile.token_begin + rr / G, h = kvh * G + rr % G;
        val = *reinterpret_cast<const uint4*>(q + size_t(t) * a.q_stride + size_t(h) * D + v * 8);
      }
      *reinterpret_cast<uint4*>(Qs + r * SD + v * 8) = val;
    }
    if (num_chunks > 0) stage_slots(0);
    __syncthreads();  // Qs and the first slots are visible
    if (num_chunks > 0) issue_chunk(Ks, kc, 0);
    // lane's ldmatrix row address for the A fragments of this warp's 16 rows:
    // matrices (rows +0..7, dims +0..7), (rows +8..15, +0..7), (+0..7, +8..15), (+8..15, +8..15)
    const uint32_t q_addr = smem_addr(Qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * SD + (lane >> 4) * 8);

    const bool active = warp * 16 < rows;  // warp-uniform: has at least one real row
    // rows g and g + 8 of this warp: visible keys p with lo <= p <= hi (padding rows: none)
    int hi[2], lo[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int r = warp * 16 + g + 8 * i;
      hi[i] = r < rows ? pos_first + (r0 + r) / G : -1;
      lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
    }
    float o[NT_O][4];
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // l: this thread's partial row sums
#pragma unroll
    for (int t = 0; t < NT_O; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[t][e] = 0.0f;

    for (int c = 0; c < num_chunks; ++c) {
      const int k0 = kb + c * kChunk;
      if (c + 1 < num_chunks) stage_slots(c + 1);
      issue_chunk(Vs, vc, c);        // V(c) in flight during S(c)
      cp_async_wait_all_but_one();   // K(c) landed
      __syncthreads();
      float s[NT_S][4];
#pragma unroll
      for (int j = 0; j < NT_S; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[j][e] = 0.0f;
      if (active) {
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk) {
          uint32_t qf[4];
          ldmatrix_x4(qf, q_addr + kk * 16 * sizeof(T));
#pragma unroll
          for (int n2 = 0; n2 < NT_S / 2; ++n2) {
            // matrices: (keys +0..7, dims +0..7), (keys +0..7, dims +8..15), (keys +8..15, +0..7), (+8..15, +8..15)
            uint32_t b[4];
            const int key = n2 * 16 + (lane >> 4) * 8 + (lane & 7);
            const int d = kk * 16 + ((lane >> 3) & 1) * 8;
            ldmatrix_x4(b, smem_addr(Ks + key * SD + d));
            mma16816<T>(s[2 * n2], qf, b[0], b[1]);
            mma16816<T>(s[2 * n2 + 1], qf, b[2], b[3]);
          }
        }
      }
      __syncthreads();  // everyone is done with Ks
      if (c + 1 < num_chunks) issue_chunk(Ks, kc, c + 1);  // K(c+1) in flight during softmax + PV
      else cp_async_commit();                              // (empty group: keeps the wait count uniform)
      if (active) {
        const uint64_t vb = uint64_t(valid_bits[c & 1][0]) | (uint64_t(valid_bits[c & 1][1]) << 32);
        const bool all_visible = vb == ~uint64_t(0) && k0 + kChunk - 1 <= min(hi[0], hi[1]) &&
                                 (a.sliding_window <= 0 || max(lo[0], lo[1]) <= k0);
        if (all_visible) {
#pragma unroll
          for (int j = 0; j < NT_S; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[j][e] *= scale_log2;
        } else {
#pragma unroll
          for (int j = 0; j < NT_S; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int kk = j * 8 + 2 * qd + (e & 1);  // key within the chunk
              const int p = k0 + kk;
              const bool ok = ((vb >> kk) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1];
              s[j][e] = ok ? s[j][e] * scale_log2 : -INFINITY;
            }
        }
        online_softmax(s, m, l, o);
      }
      cp_async_wait_all_but_one();  // V(c) landed
      __syncthreads();
      if (active) {
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk) {
          // P (rows x keys 16kk .. 16kk+15) as an A fragment straight from the S accumulators
          const uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                  pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                  pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
          for (int n2 = 0; n2 < NT_O / 2; ++n2) {
            // matrices (transposed): (keys +0..7, dims +0..7), (keys +8..15, +0..7), (+0..7, +8..15), (+8..15, +8..15)
            uint32_t b[4];
            const int key = kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
            const int d = n2 * 16 + (lane >> 4) * 8;
            ldmatrix_x4_trans(b, smem_addr(Vs + key * SD + d));
            mma16816<T>(o[2 * n2], pa, b[0], b[1]);
            mma16816<T>(o[2 * n2 + 1], pa, b[2], b[3]);
          }
        }
      }
      __syncthreads();  // everyone is done with Vs and this chunk's slots
    }

    if (active) store_fragment_rows<T>(a, tile, G, kvh, split, S, r0, warp * 16 + g, rows, qd, o, m, l);
  }
}

// Decode kernel: every tile in passes of 16 rows, all through decode_pass (right for any tiling,
// made for tiles of <= 16 rows). Fewer registers than the main kernel: 4 blocks per SM.
// skip_large: leave tiles of more than 16 rows alone (the wgmma kernel takes them).
template <class T, int D>
__global__ void __launch_bounds__(kThreads, 4) paged_attention_decode_kernel(PagedAttentionArgs a, int skip_large) {
  extern __shared__ __align__(16) unsigned char smem_raw[];  // decode_smem_bytes<D>()
  const AttentionTile tile = a.tiles[blockIdx.x];
  if (tile.num_tokens <= 0) return;
  if (skip_large && tile.num_tokens * (a.num_heads / a.num_kv_heads) > kDecodeTileRows) return;
  decode_tile<T, D>(a, tile, smem_raw);
}

template <class T, int D>
void launch(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream) {
  // the main kernel may take decode_pass too
  constexpr size_t dsmem = decode_smem_bytes<D>(), smem = mma_smem_bytes(D) > dsmem ? mma_smem_bytes(D) : dsmem;
  static_assert(smem <= 227 * 1024, "shared memory");
  static bool configured = false;  // per instantiation (both kernels); done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_mma_kernel<T, D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_decode_kernel<T, D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(dsmem)));
    // all 228 KB as shared memory: 4 blocks of 57 KB per SM with head_dim 128
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_decode_kernel<T, D>,
                                          cudaFuncAttributePreferredSharedMemoryCarveout, 100));
    configured = true;
  }
  dim3 grid(a.num_tiles, a.num_kv_heads, a.num_splits);
  // Tiles averaging <= 16 rows (decode steps, including CUDA-graph padding tiles of one token):
  // the decode kernel. Otherwise the main kernel, which still takes decode_pass for tiles of <= 16 rows.
  const int G = a.num_heads / a.num_kv_heads;
  if (int64_t(a.num_tokens) * G <= int64_t(kDecodeTileRows) * a.num_tiles) {
    paged_attention_decode_kernel<T, D><<<grid, kThreads, dsmem, stream>>>(a, 0);
    IGNIS_CUDA_LAUNCH_CHECK("paged_attention_decode_kernel");
  } else if (D == 128 && wgmma_prefill) {
    // Hopper: the wgmma kernel for the prefill tiles, then the decode kernel for the decode tiles
    // (each kernel's blocks for the other's tiles return at once).
    launch_paged_attention_wgmma(a, stream);
    if (a.num_small_tiles != 0) {
      paged_attention_decode_kernel<T, D><<<grid, kThreads, dsmem, stream>>>(a, 1);
      IGNIS_CUDA_LAUNCH_CHECK("paged_attention_decode_kernel");
    }
  } else {
    paged_attention_mma_kernel<T, D><<<grid, kThreads, smem, stream>>>(a);
    IGNIS_CUDA_LAUNCH_CHECK("paged_attention_mma_kernel");
  }
}

bool aligned(const void* p, size_t n) { return reinterpret_cast<uintptr_t>(p) % n == 0; }

}  // namespace

bool attention_mma_shape_supported(int gqa, int head_dim, DType dtype) {
  return (dtype == DType::BF16 || dtype == DType::F16) && (head_dim == 64 || head_dim == 128) && gqa >= 1 &&
         gqa <= 32;
}

bool paged_attention_mma(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream) {
  if (a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0) return false;
  if (!attention_mma_shape_supported(a.num_heads / a.num_kv_heads, a.head_dim, a.dtype)) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0 || !aligned(a.k_cache, 16) || !aligned(a.v_cache, 16) ||
      !aligned(a.out, 4) || a.out_stride % 2 != 0 || (a.num_splits > 1 && !aligned(a.workspace, 8)))
    return false;
  if (a.dtype == DType::BF16) {
    if (a.head_dim == 64) launch<__nv_bfloat16, 64>(a, false, stream);
    else launch<__nv_bfloat16, 128>(a, wgmma_prefill, stream);
  } else {
    if (a.head_dim == 64) launch<__half, 64>(a, false, stream);
    else launch<__half, 128>(a, wgmma_prefill, stream);
  }
  return true;
}

}  // namespace ignis::kernels
