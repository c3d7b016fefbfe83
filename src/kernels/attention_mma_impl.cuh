// ignis kernels (internal to attention_mma.cu / attention_mma_fp8.cu, which instantiate it for a cache
// of the compute dtype and for FP8 codes): tensor-core paged attention (FlashAttention-2 style) for
// bf16/fp16, head_dim 64 or 128.
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
// tiles of <= 16 rows (head_dim 128). decode_pass / decode_pass_fp8: attention_mma_decode.cuh.
//
// FP8 cache (KV = kv_fp8): the copies bring the chunk's codes (half the bytes) into staging tiles Kst /
// Vst, and every thread converts its share into the T tiles Ks / Vs the fragments are read from
// (each code once per block, not once per warp: the 4 warps share the chunk); two more block barriers
// per chunk. K(c+1)'s codes load during S(c), softmax and P V(c), V(c)'s during S(c).
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with 16-bit A/B): g = lane / 4, q = lane % 4.
//   A (16x16, row): a0 (g, 2q..2q+1), a1 (g+8, 2q..), a2 (g, 2q+8..), a3 (g+8, 2q+8..)
//   B (16x8, col):  b0 (k = 2q..2q+1, n = g), b1 (k = 2q+8.., n = g)
//   C (16x8 f32):   c0,c1 (g, 2q..2q+1), c2,c3 (g+8, 2q..2q+1)
// So each thread holds rows g and g + 8 of its warp's 16 rows.#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "kernels/attention_mma.h"
#include "kernels/attention_mma_decode.cuh"
#include "kernels/attention_wgmma.h"
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/kv_fp8.cuh"
#include "kernels/mma_util.cuh"

namespace ignis::kernels {
namespace {

// Q, K and V tiles with a 16-byte pad per row.
__host__ __device__ constexpr size_t mma_smem_bytes(int D) { return size_t(kRows + 2 * kChunk) * (D + 8) * 2; }
// The main kernel's shared memory: Q, K, V tiles (+ the staging tiles of codes for an FP8 cache), and
// at least the decode path's (which it may take).
template <class KV, int D> __host__ __device__ constexpr size_t mma_kernel_smem_bytes() {
  const size_t own = mma_smem_bytes(D) + (kIsFp8<KV> ? size_t(2) * kChunk * D : 0);
  const size_t dec = decode_smem_bytes_for<KV, D>();
  return own > dec ? own : dec;
}

template <class T, class KV, int D>
__global__ void __launch_bounds__(kThreads) paged_attention_mma_kernel(PagedAttentionArgs a) {
  constexpr bool kFp8 = kIsFp8<KV>;
  constexpr int SD = D + 8;          // shared row pitch in elements: +16 bytes against ldmatrix bank conflicts
  constexpr int VEC = D / 8;         // 16-byte vectors per row of Q
  constexpr int KVEC = 16 / int(sizeof(KV));  // cache elements per 16-byte vector
  constexpr int VECK = D / KVEC;              // 16-byte vectors per cached row
  constexpr int KSTEPS = D / 16;     // k-steps of S = Q K^T
  constexpr int NT_S = kChunk / 8;   // n-tiles (8 keys) of S
  constexpr int NT_O = D / 8;        // n-tiles (8 dims) of O
  extern __shared__ __align__(16) unsigned char smem_raw[];  // mma_kernel_smem_bytes<KV, D>()
  T* Qs = reinterpret_cast<T*>(smem_raw);   // (kRows, D) this pass's query rows
  T* Ks = Qs + kRows * SD;                  // (kChunk, D) keys of the current chunk
  T* Vs = Ks + kChunk * SD;                 // (kChunk, D) values of the current chunk
  // FP8: the chunk's codes land in Kst / Vst (kChunk, D) and are converted into Ks / Vs
  unsigned char* Kst = reinterpret_cast<unsigned char*>(Vs + kChunk * SD);
  unsigned char* Vst = Kst + kChunk * D;
  void* Kdst = kFp8 ? static_cast<void*>(Kst) : static_cast<void*>(Ks);  // where copies of K land
  void* Vdst = kFp8 ? static_cast<void*>(Vst) : static_cast<void*>(Vs);
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
    decode_tile<T, KV, D>(a, tile, smem_raw);
    return;
  }
  const int pos_first = a.positions[tile.token_begin];
  const KeyRange keys = split_key_range(pos_first, tile.num_tokens, a.sliding_window, split, S, kChunk, a.split_keys);
  const int kb = keys.begin, ke = keys.end;
  const int num_chunks = ke > kb ? (ke - kb + kChunk - 1) / kChunk : 0;

  const T* q = static_cast<const T*>(a.q);
  const KV* kc = static_cast<const KV*>(a.k_cache);
  const KV* vc = static_cast<const KV*>(a.v_cache);
  const int32_t* bt = a.block_tables + size_t(tile.seq) * a.bt_stride;
  const size_t tok_stride = size_t(a.num_kv_heads) * D;
  const size_t head_off = size_t(kvh) * D;
  const float scale_log2 = a.scale * kLog2e;  // (with an FP8 cache, k_scale is in a.scale: paged_attention)

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
  // Every thread: its share of chunk c's rows of `src` into `dst` (one commit group): the T tile (rows SD
  // apart), or for an FP8 cache the staging tile of codes (rows D bytes apart).
  auto issue_chunk = [&](void* dst, const KV* src, int c) {
    const int32_t* sl = slots[c & 1];
    static_assert(kChunk * VECK % kThreads == 0, "whole copy rounds");
#pragma unroll
    for (int it = 0; it < kChunk * VECK / kThreads; ++it) {
      const int i = tid + it * kThreads;
      const int key = i / VECK, v = i % VECK;
      void* d;
      if constexpr (kFp8) d = static_cast<unsigned char*>(dst) + key * D + v * 16;
      else d = static_cast<T*>(dst) + key * SD + v * 8;
      const int slot = sl[key];
      if (slot >= 0) cp_async16(d, src + size_t(slot) * tok_stride + head_off + v * KVEC);
      else *reinterpret_cast<uint4*>(d) = make_uint4(0u, 0u, 0u, 0u);  // (FP8: code 0 = 0.0, never NaN)
    }
    cp_async_commit();
  };
  // FP8, every thread: its share of a chunk of codes (kChunk, D) -> the T tile (kChunk, SD), each row's
  // 16-code vector v into two 16-byte stores (the halves in the order (v >> 2) & 1 first: a quarter
  // warp's stores then cover all banks).
  auto convert = [&](T* dst, const unsigned char* st) {
    static_assert(kChunk * VECK % kThreads == 0, "whole conversion rounds");
#pragma unroll
    for (int it = 0; it < kChunk * VECK / kThreads; ++it) {
      const int i = tid + it * kThreads;
      const int key = i / VECK, v = i % VECK;
      uint4 lo, hi;
      e4m3x16_to<T>(*reinterpret_cast<const uint4*>(st + key * D + v * 16), lo, hi);
      T* d = dst + key * SD + v * 16;
      const bool swap = (v >> 2) & 1;
      *reinterpret_cast<uint4*>(d + (swap ? 8 : 0)) = swap ? hi : lo;
      *reinterpret_cast<uint4*>(d + (swap ? 0 : 8)) = swap ? lo : hi;
    }
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
    if (num_chunks > 0) issue_chunk(Kdst, kc, 0);
    // lane's ldmatrix row address for the A fragments of this warp's 16 rows:
    // matrices (rows +0..7, dims +0..7), (rows +8..15, +0..7), (+0..7, +8..15), (+8..15, +8..15)
    const uint32_t q_addr = smem_addr(Qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * SD + (lane >> 4) * 8);

    const bool active = warp * 16 < rows;  // warp-uniform: has at least one real row
    // rows g and g + 8 of this warp: visible keys p with lo <= p <= hi (padding rows: none)
    int hi[2], lo[2];
    TreeRow tr[2];  // and their tree masks
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int r = warp * 16 + g + 8 * i;
      hi[i] = r < rows ? pos_first + (r0 + r) / G : -1;
      lo[i] = a.sliding_window > 0 ? hi[i] - a.sliding_window + 1 : INT_MIN;
      tr[i] = tree_row(a.tree_begin, a.tree_mask, a.tree_words, tile.token_begin + (r0 + r) / G, r < rows);
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
      issue_chunk(Vdst, vc, c);      // V(c) in flight during S(c)
      cp_async_wait_all_but_one();   // K(c) landed
      __syncthreads();
      if constexpr (kFp8) {
        convert(Ks, Kst);  // (Ks: S(c-1) is done, there were barriers since)
        __syncthreads();   // Ks complete, Kst free
        if (c + 1 < num_chunks) issue_chunk(Kst, kc, c + 1);  // K(c+1)'s codes in flight during S + softmax + PV
        else cp_async_commit();                               // (empty group: keeps the wait count uniform)
      }
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
      if constexpr (!kFp8) {
        __syncthreads();  // everyone is done with Ks
        if (c + 1 < num_chunks) issue_chunk(Kdst, kc, c + 1);  // K(c+1) in flight during softmax + PV
        else cp_async_commit();                                // (empty group: keeps the wait count uniform)
      }
      if (active) {
        const uint64_t vb = uint64_t(valid_bits[c & 1][0]) | (uint64_t(valid_bits[c & 1][1]) << 32);
        const bool all_visible = vb == ~uint64_t(0) && k0 + kChunk - 1 <= min(hi[0], hi[1]) &&
                                 (a.sliding_window <= 0 || max(lo[0], lo[1]) <= k0) &&
                                 k0 + kChunk - 1 < min(tr[0].begin, tr[1].begin);
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
              const bool ok = ((vb >> kk) & 1u) && p <= hi[e >> 1] && p >= lo[e >> 1] && tree_visible(tr[e >> 1], p);
              s[j][e] = ok ? s[j][e] * scale_log2 : -INFINITY;
            }
        }
        online_softmax(s, m, l, o);
      }
      cp_async_wait_all_but_one();  // V(c) landed
      __syncthreads();
      if constexpr (kFp8) {
        convert(Vs, Vst);  // (Vs: P V(c-1) is done)
        __syncthreads();
      }
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
template <class T, class KV, int D>
__global__ void __launch_bounds__(kThreads, 4) paged_attention_decode_kernel(PagedAttentionArgs a, int skip_large) {
  extern __shared__ __align__(16) unsigned char smem_raw[];  // decode_smem_bytes_for<KV, D>()
  const AttentionTile tile = a.tiles[blockIdx.x];
  if (tile.num_tokens <= 0) {  // a padding tile: its token's (m, l) pairs of this split say "empty"
    mark_padding_split(a, tile, blockIdx.y, blockIdx.z, gridDim.z);
    return;
  }
  if (skip_large && tile.num_tokens * (a.num_heads / a.num_kv_heads) > kDecodeTileRows) return;
  decode_tile<T, KV, D>(a, tile, smem_raw);
}

template <class T, class KV, int D>
void launch(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream) {
  constexpr size_t dsmem = decode_smem_bytes_for<KV, D>(), smem = mma_kernel_smem_bytes<KV, D>();
  static_assert(smem <= 227 * 1024, "shared memory");
  static bool configured = false;  // per instantiation (both kernels); done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_mma_kernel<T, KV, D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_decode_kernel<T, KV, D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(dsmem)));
    // all 228 KB as shared memory: 4 blocks of 57 KB per SM with head_dim 128
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_decode_kernel<T, KV, D>,
                                          cudaFuncAttributePreferredSharedMemoryCarveout, 100));
    configured = true;
  }
  dim3 grid(a.num_tiles, a.num_kv_heads, a.num_splits);
  // Tiles averaging <= 16 rows (decode steps, including CUDA-graph padding tiles of one token):
  // the decode kernel. Otherwise the main kernel, which still takes decode_pass for tiles of <= 16 rows.
  if (attention_mma_decode_only(a)) {
    paged_attention_decode_kernel<T, KV, D><<<grid, kThreads, dsmem, stream>>>(a, 0);
    IGNIS_CUDA_LAUNCH_CHECK("paged_attention_decode_kernel");
  } else if (D == 128 && wgmma_prefill) {
    // Hopper: the wgmma kernel for the prefill tiles, then the decode kernel for the decode tiles
    // (each kernel's blocks for the other's tiles return at once).
    launch_paged_attention_wgmma(a, stream);
    if (a.num_small_tiles != 0) {
      paged_attention_decode_kernel<T, KV, D><<<grid, kThreads, dsmem, stream>>>(a, 1);
      IGNIS_CUDA_LAUNCH_CHECK("paged_attention_decode_kernel");
    }
  } else {
    paged_attention_mma_kernel<T, KV, D><<<grid, kThreads, smem, stream>>>(a);
    IGNIS_CUDA_LAUNCH_CHECK("paged_attention_mma_kernel");
  }
}

}  // namespace
}  // namespace ignis::kernels
