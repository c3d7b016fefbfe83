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
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"

namespace ignis::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = kMmaAttentionRows;  // query rows per pass = 16 per warp
constexpr int kChunk = 64;                // keys per shared-memory chunk
static_assert(kRows == kWarps * 16, "one m16 tile of rows per warp");
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

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

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most one of this thread's committed groups is still in flight.
__device__ __forceinline__ void cp_async_wait_all_but_one() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
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

template <class T, int D>
__global__ void __launch_bounds__(kThreads) paged_attention_mma_kernel(PagedAttentionArgs a) {
  constexpr int SD = D + 8;          // shared row pitch in elements: +16 bytes against ldmatrix bank conflicts
  constexpr int VEC = D / 8;         // 16-byte vectors per row
  constexpr int KSTEPS = D / 16;     // k-steps of S = Q K^T
  constexpr int NT_S = kChunk / 8;   // n-tiles (8 keys) of S
  constexpr int NT_O = D / 8;        // n-tiles (8 dims) of O
  extern __shared__ __align__(16) unsigned char smem_raw[];  // mma_smem_bytes(D)
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
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < NT_S; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
        float base[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
          base[i] = mx[i] == -INFINITY ? 0.0f : mx[i];  // nothing visible yet: p = alpha = 0
          const float alpha = fast_exp2(m[i] - base[i]);
          m[i] = mx[i];
          l[i] *= alpha;
#pragma unroll
          for (int t = 0; t < NT_O; ++t) {
            o[t][2 * i] *= alpha;
            o[t][2 * i + 1] *= alpha;
          }
        }
#pragma unroll
        for (int j = 0; j < NT_S; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float p = fast_exp2(s[j][e] - base[e >> 1]);
            s[j][e] = p;
            l[e >> 1] += p;
          }
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

    if (active) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int r = warp * 16 + g + 8 * i;
        if (r >= rows) continue;
        const int rr = r0 + r;
        const int t = tile.token_begin + rr / G, h = kvh * G + rr % G;
        if (S == 1) {
          T* out = static_cast<T*>(a.out) + size_t(t) * a.out_stride + size_t(h) * D;
          const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
#pragma unroll
          for (int n = 0; n < NT_O; ++n)
            *reinterpret_cast<uint32_t*>(out + n * 8 + 2 * qd) = pack2<T>(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
        } else {
          // workspace: acc (num_tokens, num_heads, S, D) then (m, l) (num_tokens, num_heads, S, 2)
          const size_t part = (size_t(t) * a.num_heads + h) * S + split;
          float* pa = a.workspace + part * D;
#pragma unroll
          for (int n = 0; n < NT_O; ++n)
            *reinterpret_cast<float2*>(pa + n * 8 + 2 * qd) = make_float2(o[n][2 * i], o[n][2 * i + 1]);
          if (qd == 0) {
            float* ml = a.workspace + size_t(a.num_tokens) * a.num_heads * S * D + part * 2;
            ml[0] = m[i] * kLn2;  // log2 domain -> natural log (the combine kernel uses exp)
            ml[1] = l[i];
          }
        }
      }
    }
  }
}

// Q, K and V tiles with a 16-byte pad per row.
constexpr size_t mma_smem_bytes(int D) { return size_t(kRows + 2 * kChunk) * (D + 8) * 2; }

template <class T, int D>
void launch(const PagedAttentionArgs& a, cudaStream_t stream) {
  constexpr size_t smem = mma_smem_bytes(D);
  static_assert(smem <= 227 * 1024, "shared memory");
  static bool configured = false;  // per instantiation; done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(paged_attention_mma_kernel<T, D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    configured = true;
  }
  dim3 grid(a.num_tiles, a.num_kv_heads, a.num_splits);
  paged_attention_mma_kernel<T, D><<<grid, kThreads, smem, stream>>>(a);
  IGNIS_CUDA_LAUNCH_CHECK("paged_attention_mma_kernel");
}

bool aligned(const void* p, size_t n) { return reinterpret_cast<uintptr_t>(p) % n == 0; }

}  // namespace

bool attention_mma_shape_supported(int gqa, int head_dim, DType dtype) {
  return (dtype == DType::BF16 || dtype == DType::F16) && (head_dim == 64 || head_dim == 128) && gqa >= 1 &&
         gqa <= 32;
}

bool paged_attention_mma(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0) return false;
  if (!attention_mma_shape_supported(a.num_heads / a.num_kv_heads, a.head_dim, a.dtype)) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0 || !aligned(a.k_cache, 16) || !aligned(a.v_cache, 16) ||
      !aligned(a.out, 4) || a.out_stride % 2 != 0 || (a.num_splits > 1 && !aligned(a.workspace, 8)))
    return false;
  if (a.dtype == DType::BF16) {
    if (a.head_dim == 64) launch<__nv_bfloat16, 64>(a, stream);
    else launch<__nv_bfloat16, 128>(a, stream);
  } else {
    if (a.head_dim == 64) launch<__half, 64>(a, stream);
    else launch<__half, 128>(a, stream);
  }
  return true;
}

}  // namespace ignis::kernels
