// ignis kernels (internal to attention_wgmma.cu / attention_wgmma_fp8.cu, which instantiate it for a
// cache of the compute dtype and for FP8 codes): paged attention for prefill tiles on Hopper tensor
// cores (wgmma, sm_90a), head_dim 128, bf16/fp16.
//
// Work item = (tile, kv head, split), as in the other kernels; a tile's query rows
// r = token * G + head-in-group are processed in passes of 128 rows. Persistent blocks, one per SM
// (block_item: items longest first, dealt in "snake" order), of 3 warpgroups:
//   producer (warpgroup 2, setmaxnreg 56): per pass, the 128 x 128 Q tile, then the split's keys in
//     chunks of 128: K and V rows copied from the paged cache with 16-byte cp.async (missing keys
//     zero-filled; warp w copies keys 32w .. 32w+31 and publishes their presence bits) into a ring of
//     3 stages. Hand-offs by mbarrier: full[stage] (the copies landed), empty[stage] (both consumer
//     warpgroups are done with it), qfull / qempty for the Q tile. The next pass's (or item's) Q and
//     K/V load while the consumers finish the current one.
//   consumers (warpgroups 0, 1, setmaxnreg 224): warpgroup w owns rows 64w .. 64w+63 of the pass (its
//     warp v rows 64w + 16v .. +15, as wgmma lays out its 64 x N tiles). Per chunk j:
//       S(j) = Q K(j)^T       8 x wgmma m64n128k16, Q and K from shared memory (K-major)
//       O += P(j-1) V(j-1)    8 x wgmma m64n128k16, P from registers, V from shared memory (transposed)
//     both issued back to back; the online softmax of S(j) (fp32, log2 domain; the mask only on chunks
//     that need it, one compare per score on a causal diagonal without a window) runs while P V(j-1)
//     is still in flight, and O is rescaled once it lands.
// FP8 cache (KV = kv_fp8): the producer copies a chunk's codes (half the bytes) with cp.async into the
//   stage itself (K's codes, 128 keys x 128 bytes, fill the K tile's second dim half; V's likewise),
//   and converts them in place into the same swizzled 16-bit tiles once they have landed: lane (key,
//   v8) of a warp turns the 16 codes it copied (dims 16 v8 .. +15) into 2 vectors of the tile; a key's
//   row of codes is exactly the bytes of its row in the second half, so a __syncwarp between reading
//   and writing a row is the only ordering needed. The copies of chunk c+1 are issued before chunk c is
//   converted and published (full[stage] by plain arrivals after fence.proxy.async), so the copy latency
//   overlaps the conversion; a pending chunk is published before the producer waits for qempty (the
//   consumers need every chunk of a pass before they release Q). The consumers are unchanged.
// Launched with programmatic dependent launch: a block sets up its barriers, then waits in
// griddepcontrol.wait for the previous kernel before reading anything global.
// The two consumer warpgroups run unsynchronized (no block barrier in the loop), so one's softmax
// overlaps the other's products. (Forcing them to take turns, FlashAttention-3's "ping-pong", measured
// 4% slower here.) ptxas must report no "wgmma serialized" (C7514/C7520) warning for this file: no
// branch on the thread index and no other work between a wgmma and its wait.
// Shared memory (from a 1024-byte aligned base; every operand tile is a stack of 128-byte-swizzled
// 8-row atoms, see wgmma.cuh):
//   Q  [warpgroup 2][dim half 2][row 64][128 B]                                          32 KB
//   KV [stage 3] { K [dim half 2][key 128][128 B], V [dim half 2][key 128][128 B] }       3 x 64 KB
//   vbits [stage][4] (bit k of word w: key 32w + k present), mbarriers full[3], empty[3], qfull, qempty
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/attention_wgmma.h"
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/kv_fp8.cuh"
#include "kernels/mma_util.cuh"
#include "kernels/pdl.cuh"
#include "kernels/wgmma.cuh"

namespace ignis::kernels {
namespace {

constexpr int kD = 128;
constexpr int kConsumers = 256;            // 2 warpgroups
constexpr int kThreads = kConsumers + 128;  // + 1 producer warpgroup
constexpr int kRows = kWgmmaAttentionRows;  // 2 warpgroups x 64
constexpr int kChunk = 128;  // keys per chunk
constexpr int kStages = 3;
constexpr uint32_t kQHalf = 64 * 128;                   // 64 rows x 64 dims x 2 bytes
constexpr uint32_t kKVHalf = kChunk * 128;              // kChunk rows x 64 dims x 2 bytes
constexpr uint32_t kQBytes = 2 * 2 * kQHalf;            // 32 KB
constexpr uint32_t kTileBytes = 2 * kKVHalf;            // one K or V chunk: 32 KB
constexpr uint32_t kStageBytes = 2 * kTileBytes;        // K + V
constexpr size_t kSmemBytes = 1024 + kQBytes + kStages * kStageBytes + kStages * 4 * 4 + (2 * kStages + 2) * 8;
static_assert(kSmemBytes <= 227 * 1024, "shared memory");

// Byte offset of 16-byte vector v (0..15 over the 128 dims) of row r in a [half 2][row][128 B] tile
// whose halves are `half` bytes apart.
using wgmma::swz128;

// Work item i of a launch = (tile, kv head, split); items run longest first (the last tiles of a
// sequence see the most keys). Invalid: padding tiles and decode tiles (<= 16 rows: the decode
// kernel's).
struct Item {
  bool valid;
  AttentionTile tile;
  int kvh, split, rows_total, passes, pos_first, kb, ke, n;
};
__device__ __forceinline__ Item item_of(const PagedAttentionArgs& a, int i) {
  Item it{};
  const int per_tile = a.num_kv_heads * a.num_splits;
  it.tile = a.tiles[a.num_tiles - 1 - i / per_tile];
  it.kvh = (i % per_tile) % a.num_kv_heads;
  it.split = (i % per_tile) / a.num_kv_heads;
  it.rows_total = it.tile.num_tokens * (a.num_heads / a.num_kv_heads);
  it.valid = it.tile.num_tokens > 0 && it.rows_total > kDecodeTileRows;
  if (!it.valid) return it;
  it.passes = (it.rows_total + kRows - 1) / kRows;
  it.pos_first = a.positions[it.tile.token_begin];
  const KeyRange keys =
      split_key_range(it.pos_first, it.tile.num_tokens, a.sliding_window, it.split, a.num_splits, kChunk, a.split_keys);
  it.kb = keys.begin;
  it.ke = keys.end;
  it.n = keys.end > keys.begin ? (keys.end - keys.begin + kChunk - 1) / kChunk : 0;
  return it;
}

// Persistent blocks (gridDim.x <= the number of SMs): in round r, block b runs item r * B + b for
// even r and r * B + B - 1 - b for odd r (B = gridDim.x). With items longest first, this "snake"
// order evens out the blocks' total work (a plain round robin gives block 0 the longest item of
// every round: 2048-token prefill, ~15% longer makespan). -1: none for this block this round.
__device__ __forceinline__ int block_item(int round, int num_items) {
  const int b = (round & 1) ? int(gridDim.x) - 1 - int(blockIdx.x) : int(blockIdx.x);
  const int item = round * int(gridDim.x) + b;
  return item < num_items ? item : -1;
}

// Persistent: see block_item. KV = T or kv_fp8.
template <class T, class KV>
__global__ void __launch_bounds__(kThreads, 1) paged_attention_wgmma_kernel(PagedAttentionArgs a) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr bool kFp8 = kIsFp8<KV>;
  constexpr int VEC = kD / 8;     // 16-byte vectors per row
  constexpr int NT_S = kChunk / 8;
  constexpr int NT_O = kD / 8;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
  unsigned char* Qs = base;
  unsigned char* KV_smem = base + kQBytes;
  uint32_t* vbits = reinterpret_cast<uint32_t*>(KV_smem + kStages * kStageBytes);  // [stage][4]: bit k of [st][w]: key 32w + k present
  uint64_t* bars = reinterpret_cast<uint64_t*>(vbits + kStages * 4);         // full[3], empty[3], qfull, qempty

  const int G = a.num_heads / a.num_kv_heads, S = a.num_splits;
  const int num_items = a.num_tiles * a.num_kv_heads * S;
  const int tid = threadIdx.x, wg = tid >> 7, warp = tid >> 5, lane = tid & 31;

  // full[stage], empty[stage]: K/V chunks; qfull, qempty: the Q tile of a pass
  const uint32_t full0 = smem_addr(bars), empty0 = smem_addr(bars + kStages);
  const uint32_t qfull = smem_addr(bars + 2 * kStages), qempty = smem_addr(bars + 2 * kStages + 1);
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) {
      wgmma::mbar_init(full0 + 8 * i, 128 + 4);            // producer threads' copies (FP8: conversions) + each warp's vbits
      wgmma::mbar_init(empty0 + 8 * i, kConsumers);        // every consumer thread, after its last read
    }
    wgmma::mbar_init(qfull, 128);
    wgmma::mbar_init(qempty, kConsumers);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  // Launched with PDL: the block got here (resident, barriers set up) while the previous kernel
  // finished; nothing global is read before it has completed.
  pdl_launch_dependents();
  pdl_wait();

  if (wg == kConsumers / 128) {
    // Registers: the producer warpgroup gives most of its share to the consumers (the kernel starts
    // at 65536 / 384 = 168 per thread; 2 x 128 x 224 + 128 x 56 <= 65536).
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n" ::: "memory");
    // ---- producer warpgroup: per pass of every item, the Q tile (once the consumers are done with
    // the previous one), then the split's chunks into the ring, warp pw copying keys 32 pw .. +31.
    // The chunk counter gc and the Q counter qc run across passes and items, so do the phases.
    const T* q = static_cast<const T*>(a.q);
    const KV* kc = static_cast<const KV*>(a.k_cache);
    const KV* vc = static_cast<const KV*>(a.v_cache);
    const size_t tok_stride = size_t(a.num_kv_heads) * kD;
    const int ptid = tid - kConsumers, pw = warp & 3, v = lane & 15;
    int gc = 0, qc = 0;
    // FP8: the chunk whose codes are in flight (stage, presence bits), published after the next
    // chunk's copies are issued, or before the producer waits for anything the consumers release only
    // once they have it.
    int pend_st = -1;
    uint32_t pend_bits = 0;
    // FP8: this warp's 32 keys of stage st, codes -> 16-bit tiles in place, then the stage is published.
    // The caller has waited for this thread's copies and __syncwarp'ed.
    auto publish = [&](int st, uint32_t bits) {
      unsigned char* stage = KV_smem + st * kStageBytes;
      const int v8 = lane & 7;
#pragma unroll 1
      for (int t = 0; t < 2; ++t) {  // K, V
        unsigned char* tile = stage + t * kTileBytes;
#pragma unroll 2
        for (int i = 0; i < 8; ++i) {
          const int key = pw * 32 + 4 * i + (lane >> 3);
          const uint4 c = *reinterpret_cast<const uint4*>(tile + kKVHalf + key * 128 + v8 * 16);
          __syncwarp();  // the row's 8 lanes have read its codes: its second-half row may be written
          uint4 lo, hi;
          e4m3x16_to<T>(c, lo, hi);
          // vectors 2 v8 (dims 16 v8 .. +7) and 2 v8 + 1; lanes v8 >= 4 store the odd one first, so a
          // quarter warp's stores cover all 8 bank groups
          const int first = v8 >> 2;
          *reinterpret_cast<uint4*>(tile + swz128(key, 2 * v8 + first, kKVHalf)) = first ? hi : lo;
          *reinterpret_cast<uint4*>(tile + swz128(key, 2 * v8 + 1 - first, kKVHalf)) = first ? lo : hi;
        }
      }
      wgmma::fence_proxy_async();  // the tiles' generic-proxy stores before the consumers' wgmma reads
      wgmma::mbar_arrive(full0 + 8 * st);
      if (lane == 0) {
        vbits[st * 4 + pw] = bits;
        wgmma::mbar_arrive(full0 + 8 * st);
      }
    };
    auto flush = [&] {
      if (kFp8 && pend_st >= 0) {
        cp_async_wait_group<0>();
        __syncwarp();
        publish(pend_st, pend_bits);
        pend_st = -1;
      }
    };
    for (int round = 0; round * int(gridDim.x) < num_items; ++round) {
      const int item = block_item(round, num_items);
      if (item < 0) continue;
      const Item it = item_of(a, item);
      if (!it.valid || it.n == 0) continue;
      const int32_t* bt = a.block_tables + size_t(it.tile.seq) * a.bt_stride;
      const size_t head_off = size_t(it.kvh) * kD;
      for (int pass = 0; pass < it.passes; ++pass, ++qc) {
        const int r0 = pass * kRows, rows = min(kRows, it.rows_total - r0);
        flush();  // (the consumers arrive on qempty only after the pass's last chunk)
        if (qc > 0) wgmma::mbar_wait(qempty, (qc - 1) & 1);
#pragma unroll 1
        for (int k = 0; k < kRows * VEC / 128; ++k) {  // Q rows r0 .. r0 + rows (zeros beyond)
          const int i = ptid + k * 128;
          const int r = i / VEC, vv = i % VEC;
          const int rr = r0 + min(r, rows - 1);
          const int t = it.tile.token_begin + rr / G, h = it.kvh * G + rr % G;
          cp_async16_zfill(Qs + (r >> 6) * 2 * kQHalf + swz128(r & 63, vv, kQHalf),
                           q + size_t(t) * a.q_stride + size_t(h) * kD + vv * 8, r < rows);
        }
        wgmma::mbar_arrive_cp_async(qfull);
        for (int c = 0; c < it.n; ++c, ++gc) {
          const int st = gc % kStages;
          if (gc >= kStages) wgmma::mbar_wait(empty0 + 8 * st, ((gc / kStages) - 1) & 1);
          const int p = it.kb + c * kChunk + pw * 32 + lane;
          int slot = -1;
          if (p < it.ke) {
            const int blk = bt[p / a.block_size];
            if (blk >= 0) slot = blk * a.block_size + p % a.block_size;
          }
          const uint32_t bits = __ballot_sync(0xffffffffu, slot >= 0);
          unsigned char* dst = KV_smem + st * kStageBytes;
          if constexpr (kFp8) {
            // codes of key pw * 32 + k32, dims 16 v8 .. +15 -> that key's row of the second dim half
#pragma unroll 4
            for (int i = 0; i < 8; ++i) {
              const int k32 = 4 * i + (lane >> 3), v8 = lane & 7;
              const int sl = __shfl_sync(0xffffffffu, slot, k32);
              const size_t src = size_t(sl < 0 ? 0 : sl) * tok_stride + head_off + v8 * 16;
              const uint32_t off = kKVHalf + uint32_t(pw * 32 + k32) * 128u + uint32_t(v8) * 16u;
              cp_async16_zfill(dst + off, kc + src, sl >= 0);  // (absent keys: code 0 = 0.0)
              cp_async16_zfill(dst + kTileBytes + off, vc + src, sl >= 0);
            }
            cp_async_commit();
            if (pend_st >= 0) {  // the previous chunk's codes (all but this group) have landed
              cp_async_wait_group<1>();
              __syncwarp();
              publish(pend_st, pend_bits);
            }
            pend_st = st;
            pend_bits = bits;
          } else {
#pragma unroll 4
            for (int i = 0; i < 16; ++i) {
              const int k32 = 2 * i + (lane >> 4);
              const int sl = __shfl_sync(0xffffffffu, slot, k32);
              const size_t src = size_t(sl < 0 ? 0 : sl) * tok_stride + head_off + v * 8;
              const uint32_t off = swz128(pw * 32 + k32, v, kKVHalf);
              cp_async16_zfill(dst + off, kc + src, sl >= 0);
              cp_async16_zfill(dst + kTileBytes + off, vc + src, sl >= 0);
            }
            wgmma::mbar_arrive_cp_async(full0 + 8 * st);
            if (lane == 0) {
              vbits[st * 4 + pw] = bits;
              wgmma::mbar_arrive(full0 + 8 * st);
            }
          }
        }
      }
    }
    flush();
    asm volatile("cp.async.wait_all;\n" ::: "memory");  // no copy outlives its thread
  } else {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 224;\n" ::: "memory");
  // ---- consumers: 2 warpgroups
  const int g = lane >> 2, qd = lane & 3;
  const float scale_log2 = a.scale * kLog2e;
  const uint32_t q_base = smem_addr(Qs) + wg * 2 * kQHalf;
  const uint32_t kv_base = smem_addr(KV_smem);
  const int wrow = (warp & 3) * 16 + g;  // this thread's first row within its warpgroup's 64

  int gc = 0, qc = 0;
  for (int round = 0; round * int(gridDim.x) < num_items; ++round) {
  const int item = block_item(round, num_items);
  if (item < 0) continue;
  const Item it = item_of(a, item);
  if (!it.valid) continue;
  const AttentionTile tile = it.tile;
  const int kvh = it.kvh, split = it.split, rows_total = it.rows_total, pos_first = it.pos_first;
  const int kb = it.kb, n = it.n;
  for (int pass = 0; pass < it.passes; ++pass) {
    const int r0 = pass * kRows;
    const int rows = min(kRows, rows_total - r0);
    if (n > 0) {
      wgmma::mbar_wait(qfull, qc & 1);  // this pass's Q tile landed
      ++qc;
    }
    // (A warpgroup without real rows in this pass still computes, on zero rows: a branch on the
    // thread index around wgmma makes ptxas serialize every wgmma of the kernel.)
    // rows wrow and wrow + 8 of this warpgroup: visible keys p with lo <= p <= hi (padding rows: none)
    int hi[2], lo[2];
    TreeRow tr[2];  // and their tree masks
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int r = wg * 64 + wrow + 8 * i;
      hi[i] = r < rows ? pos_first + (r0 + r) / G : -1;
      lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
      tr[i] = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin + (r0 + r) / G, r < rows);
    }
    float o[NT_O][4], s[NT_S][4];
    uint32_t pa[kChunk / 16][4] = {};  // P(j-1) as A fragments, one per 16 keys
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int t = 0; t < NT_O; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[t][e] = 0.0f;
    // Chunks whose keys are all present and visible to every row of the pass skip the mask
    // (block-uniform: the first row of the pass sees the fewest keys; the last the window's start).
    const int pass_hi = pos_first + r0 / G;
    const int pass_lo = a.sliding_window > 0 ? pos_first + (r0 + rows - 1) / G - a.sliding_window + 1 : INT_MIN;
    // The tree's first slot (the tile is one sequence's: its tree rows share it; INT_MAX without a tree).
    const int pass_tree = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin, true).begin;
    for (int j = 0; j < n; ++j) {
      const int st = (gc + j) % kStages;
      wgmma::mbar_wait(full0 + 8 * st, ((gc + j) / kStages) & 1);  // chunk j landed
      wgmma::fence_proxy_async();
      const uint64_t dq = wgmma::desc_sw128(q_base, 16, 1024);
      const uint64_t dk = wgmma::desc_sw128(kv_base + st * kStageBytes, 16, 1024);
      wgmma::fence();
      wgmma::mma_m64n128k16_ss_first<T>(s, dq, dk);
#pragma unroll
      for (int kk = 1; kk < kD / 16; ++kk)
        wgmma::mma_m64n128k16_ss<T>(s, dq + (((kk >> 2) * kQHalf + (kk & 3) * 32) >> 4),
                                    dk + (((kk >> 2) * kKVHalf + (kk & 3) * 32) >> 4), 1);
      wgmma::commit();
      const int pst = (gc + j + kStages - 1) % kStages;  // chunk j-1's stage
      if (j > 0) {
        const uint64_t dv = wgmma::desc_sw128(kv_base + pst * kStageBytes + kTileBytes, kKVHalf, 1024);
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk) wgmma::mma_m64n128k16_rs<T>(o, pa[kk], dv + ((kk * 2048) >> 4), 1);
        wgmma::commit();
        wgmma::wait<1>();  // S(j) done; P V(j-1) may still run
      } else {
        wgmma::wait<0>();
      }
      wgmma::pin(s);

      const int k0 = kb + j * kChunk;
      const uint64_t vb[2] = {*reinterpret_cast<const uint64_t*>(vbits + st * 4),
                              *reinterpret_cast<const uint64_t*>(vbits + st * 4 + 2)};
      const bool all_visible =
          (vb[0] & vb[1]) == ~uint64_t(0) && k0 + kChunk - 1 <= pass_hi && pass_lo <= k0 && k0 + kChunk - 1 < pass_tree;
      // The causal diagonal without a window: the chunk's nk keys inside the split all present (the
      // others absent), so key kk is visible to a row iff kk < nk and k0 + kk <= hi: one compare per
      // score (kk < nk matters for a split that ends before a row's position).
      const int nk = min(kChunk, it.ke - k0);
      const uint64_t want0 = nk >= 64 ? ~uint64_t(0) : (uint64_t(1) << nk) - 1;
      const uint64_t want1 = nk >= 128 ? ~uint64_t(0) : nk <= 64 ? 0 : (uint64_t(1) << (nk - 64)) - 1;
      const bool causal_only = a.sliding_window <= 0 && vb[0] == want0 && vb[1] == want1 && k0 + nk - 1 < pass_tree;
      if (!all_visible && causal_only) {
        const int lim[2] = {min(hi[0] - k0, nk - 1) - 2 * qd, min(hi[1] - k0, nk - 1) - 2 * qd};  // (hi = -1: none)
#pragma unroll
        for (int t = 0; t < NT_S; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[t][e] = t * 8 + (e & 1) <= lim[e >> 1] ? s[t][e] : -INFINITY;
      } else if (!all_visible) {
#pragma unroll
        for (int t = 0; t < NT_S; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int kk = t * 8 + 2 * qd + (e & 1);
            const int p = k0 + kk;
            const bool ok = ((vb[kk >> 6] >> (kk & 63)) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1] &&
                            tree_visible(tr[e >> 1], p);
            s[t][e] = ok ? s[t][e] : -INFINITY;
          }
      }
      // online softmax (log2 domain, m in scaled units): new max, alpha, p = 2^(s scale - m), row sums
      float alpha[2];
      {
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int t = 0; t < NT_S; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) mx[e >> 1] = fmaxf(mx[e >> 1], s[t][e]);
        float bias[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
          mx[i] = fmaxf(m[i], mx[i] * scale_log2);  // (scale > 0: the max commutes with it)
          bias[i] = mx[i] == -INFINITY ? 0.0f : mx[i];
          alpha[i] = fast_exp2(m[i] - bias[i]);
          m[i] = mx[i];
          l[i] *= alpha[i];
        }
#pragma unroll
        for (int t = 0; t < NT_S; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float p = fast_exp2(fmaf(s[t][e], scale_log2, -bias[e >> 1]));
            s[t][e] = p;
            l[e >> 1] += p;
          }
      }
      // once P V(j-1) has landed: chunk j-1's stage goes back to the producer; rescale O, P(j) -> A
      wgmma::wait<0>();
      wgmma::pin(o);
      wgmma::pin(pa);
      if (j > 0) wgmma::mbar_arrive(empty0 + 8 * pst);
      if (j == n - 1) wgmma::mbar_arrive(qempty);  // every S of the pass is done: Q may be replaced
#pragma unroll
      for (int t = 0; t < NT_O; ++t) {
        o[t][0] *= alpha[0];
        o[t][1] *= alpha[0];
        o[t][2] *= alpha[1];
        o[t][3] *= alpha[1];
      }
#pragma unroll
      for (int kk = 0; kk < kChunk / 16; ++kk) {
        pa[kk][0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
        pa[kk][1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
        pa[kk][2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[kk][3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      }
    }
    if (n > 0) {
      const int lst = (gc + n - 1) % kStages;
      const uint64_t dv = wgmma::desc_sw128(kv_base + lst * kStageBytes + kTileBytes, kKVHalf, 1024);
      wgmma::fence();
#pragma unroll
      for (int kk = 0; kk < kChunk / 16; ++kk) wgmma::mma_m64n128k16_rs<T>(o, pa[kk], dv + ((kk * 2048) >> 4), 1);
      wgmma::commit();
      wgmma::wait<0>();
      wgmma::pin(o);
      wgmma::pin(pa);
      wgmma::mbar_arrive(empty0 + 8 * lst);
    }
    gc += n;
    store_fragment_rows<T>(a, tile, G, kvh, split, S, r0, wg * 64 + wrow, rows, qd, o, m, l);
  }  // pass
  }  // item
  }  // consumers
#else
  __trap();  // built without sm_90a code; the host only launches this on a compute-capability 9.0 device
#endif
}

template <class T, class KV>
void launch(const PagedAttentionArgs& a, cudaStream_t stream) {
  static bool configured = false;  // per instantiation; done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_wgmma_kernel<T, KV>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes)));
    configured = true;
  }
  static const int sms = [] {
    int dev = 0, n = 0;
    IGNIS_CUDA_CHECK(cudaGetDevice(&dev));
    IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  const int items = a.num_tiles * a.num_kv_heads * a.num_splits;  // one block per SM, persistent
  const int cap = attention_wgmma_max_blocks();
  const int blocks = std::min(items, cap > 0 ? std::min(cap, sms) : sms);
  launch_pdl(paged_attention_wgmma_kernel<T, KV>, dim3(blocks), dim3(kThreads), kSmemBytes, stream, a);
}

}  // namespace
}  // namespace ignis::kernels
