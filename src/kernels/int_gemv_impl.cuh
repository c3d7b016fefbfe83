// Integer weight-only GEMV (kernels/int_gemv.h), the kernel template; int_gemv4.cu / int_gemv8.cu
// instantiate it for 4 and 8 bits, gemv_mma.cu for dense bf16 / fp16 weights ("16 bits": the same
// fragments with the weights' own pairs as the A registers, no scales; kernels/gemv.h gemv_mma).
//
// Design (as fp8_gemv.cu, with integer codes). A block owns 16 output channels (the A operand of
// mma.sync.m16n8k16 with bf16 / fp16 inputs, fp32 accumulators); x, batch rows padded to a multiple
// of 8 with zeros, is the B operand, kNt column tiles of 8 rows. A lane (g = lane / 4, t = lane % 4)
// holds A rows g, g + 8 at mma k slots {2t, 2t+1, 2t+8, 2t+9} and B column g at the same slots. A
// dot product does not depend on the order of k, so each mma k slot is mapped to a natural column
// such that a lane's 16 contiguous bytes of a row are its codes for several k steps: in a unit of
// U columns (U = 128 for 4 bits, 64 for 8 bits: 64 bytes of codes per row), lane t reads row bytes
// [16t, 16t + 16) = columns [tU/4, (t+1)U/4), and at k step s (U / 16 steps) slot 2t + e <-> column
// tU/4 + 4s + e, slot 2t + 8 + e <-> column tU/4 + 4s + 2 + e (e = 0, 1). Its x is then the 8
// contiguous bytes at column tU/4 + 4s of row g of each column tile: B = {x pair 0, x pair 1}.
// Dequantization in registers: 4 bits: ((w >> 4j) & 0x000F000F) | M (one LOP3 after a shift) gives
// the pair (c_2j, c_2j+1) as (M + c) in the activation dtype (M = 128 in bf16, 1024 in fp16: the code
// lands in the mantissa), and one packed subtraction of (M + zero) leaves the integers c - zero,
// exact. 8 bits: PRMT builds the fp32 2^23 + c, an FADD subtracts 2^23 + zero, and a CVT packs the
// pair (|c - zero| <= 255: exact in bf16 and fp16). Each unit's k steps start from zero accumulators
// and the unit sum is scaled by the group's fp32 scale per output row on the CUDA cores.
// Split-k: the 8 warps of a block share the tile's units (contiguous runs), the partial tiles are
// summed through shared memory. Weights and their scales are loaded before griddepcontrol.wait.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "kernels/common.cuh"
#include "kernels/gemv_epilogue.cuh"
#include "kernels/pdl.cuh"

namespace ignis::kernels::int_gemv_detail {

constexpr int kWarps = 8;      // warps per block: the split-k of one tile
constexpr int kTileRows = 16;  // output channels per block (the mma's M)
static_assert(kTileRows == gemv_epilogue::kTile, "the epilogue policies' tile");

template <class T> struct Act;
template <> struct Act<__nv_bfloat16> {
  static constexpr uint32_t kMagic = 0x4300;  // 128.0: a 4-bit code in mantissa bits 0-3
  __device__ static uint32_t sub2(uint32_t a, uint32_t b) {
    __nv_bfloat162 r = __hsub2(*reinterpret_cast<__nv_bfloat162*>(&a), *reinterpret_cast<__nv_bfloat162*>(&b));
    return *reinterpret_cast<uint32_t*>(&r);
  }
  __device__ static uint32_t pack2(float lo, float hi) {
    __nv_bfloat162 r = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&r);
  }
  __device__ static void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                             uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
};
template <> struct Act<__half> {
  static constexpr uint32_t kMagic = 0x6400;  // 1024.0
  __device__ static uint32_t sub2(uint32_t a, uint32_t b) {
    __half2 r = __hsub2(*reinterpret_cast<__half2*>(&a), *reinterpret_cast<__half2*>(&b));
    return *reinterpret_cast<uint32_t*>(&r);
  }
  __device__ static uint32_t pack2(float lo, float hi) {
    __half2 r = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&r);
  }
  __device__ static void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                             uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
};

__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// The two A registers of one row at k step s: pair (e = 0, 1) and pair (e = 2, 3) as c - zero.
// zq: the zero as the dequantizer needs it (4 bits: (M + z) in both halves; 8 bits: the fp32 2^23 + z).
template <class T, int kBits>
__device__ __forceinline__ void dequant_step(const uint4& v, int s, uint32_t zq, uint32_t& p01, uint32_t& p23) {
  if constexpr (kBits == 16) {  // dense weights of the activation dtype: the pairs as they are stored
    (void)zq;
    p01 = word(v, 2 * s);
    p23 = word(v, 2 * s + 1);
  } else if constexpr (kBits == 4) {
    const uint32_t w = word(v, s >> 1);
    const int j = (s & 1) * 2;  // pairs j and j + 1 of the word
    constexpr uint32_t kM2 = Act<T>::kMagic * 0x10001u;
    p01 = Act<T>::sub2(((w >> (4 * j)) & 0x000F000Fu) | kM2, zq);
    p23 = Act<T>::sub2(((w >> (4 * j + 4)) & 0x000F000Fu) | kM2, zq);
  } else {
    const uint32_t w = word(v, s);
    const float z = __uint_as_float(zq);
    auto f = [&](int e) { return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7540u | e)) - z; };
    p01 = Act<T>::pack2(f(0), f(1));
    p23 = Act<T>::pack2(f(2), f(3));
  }
}

template <int kBits>
__device__ __forceinline__ uint32_t zero_operand(uint32_t meta, uint32_t magic) {
  const uint32_t z = (meta >> 16) & 0xFFu;
  if constexpr (kBits == 4) return (magic | z) * 0x10001u;
  else return __float_as_uint(8388608.0f + float(z));
}

__device__ __forceinline__ float meta_scale(uint32_t meta) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(meta & 0xFFFFu)));
}

// The launch shape of one instantiation: warps per block (the split-k of a tile), units per warp
// and iteration (each unit is 2 x 16 bytes of weights per lane), the blocks per SM that
// __launch_bounds__ asks registers for, whether the next iteration's weights are loaded before the
// current one is computed (two register sets), and whether the kernel lets a PDL-launched successor
// be scheduled at its start. tools/probe/int_gemv_sweep.cu times other shapes against the default.
template <int W, int U, int MinBlocks, bool Prefetch, bool Trigger>
struct GemvShape {
  static constexpr int kWarps = W, kUnroll = U, kMinBlocks = MinBlocks;
  static constexpr bool kPrefetch = Prefetch, kTrigger = Trigger;
};
// The defaults, from tools/probe/int_gemv_sweep.cu on an H100 (2026-12-07, 8B projections, m = 1, back to
// back with PDL; docs/PERF.md): 4 bits at 1-8 rows let the successor launch early (the four projections
// 68.7 -> 61.8 us); 8 bits at 1-8 rows take 16-warp blocks of 2 units per iteration (101.6 -> 90.1 us).
// Prefetching a second register set, 4-warp blocks and more blocks per SM were slower or equal.
// 16 bits (dense, kernels/gemv.h gemv_mma): 16 warps at every row count, so that a row's sum does not
// depend on how many rows share the launch (the warps' split of the units is the only order that could
// change; units per iteration and blocks per SM do not reorder a sum). From the probe (H100, 2026-12-07,
// m = 1, qkv + o + gate_up + down): 16, 2, 2 152.5 us against 165.3 for 8, 4, 2 + trigger; 16 rows 165.3
// against 182.6.
template <int kBits, int kNt>
using DefaultShape = std::conditional_t<
    kBits == 16, GemvShape<16, kNt <= 2 ? 2 : 1, kNt <= 2 ? 2 : 1, false, false>,
    std::conditional_t<kNt == 1, std::conditional_t<kBits == 4, GemvShape<8, 4, 2, false, true>,
                                                    GemvShape<16, 2, 2, false, false>>,
                       GemvShape<kWarps, kNt <= 2 ? 4 : 2, kNt <= 2 ? 2 : 1, false, false>>>;

// grid (out.blocks(n)), block (32 * S::kWarps). k % U == 0, group % U == 0, m <= 8 * kNt.
// kBits = 16: q holds dense weights (n, k) of dtype T (U = 32 columns, no scales: meta and group unused).
// Y: the tile's weight rows and the epilogue (kernels/gemv_epilogue.cuh; pairs with one column tile only).
template <class T, int kBits, int kNt, class S, class TO = T, class Y = gemv_epilogue::RowsY<TO>>
__global__ void __launch_bounds__(32 * S::kWarps, S::kMinBlocks)
    gemv_int_kernel(const T* __restrict__ x, const uint32_t* __restrict__ q, const uint32_t* __restrict__ meta,
                    Y out, int m, int n, int k, int group) {
  static_assert(!Y::kPairs || kNt == 1, "row-pair epilogues: one column tile (8 rows of x)");
  constexpr bool kDense = kBits == 16;
  constexpr int kW = S::kWarps, kU = S::kUnroll;
  constexpr int kUnit = kBits == 4 ? 128 : kBits == 8 ? 64 : 32;  // columns per unit: 64 bytes per row
  constexpr int kSteps = kUnit / 16;           // mma k steps per unit
  // the warps' partial tiles, by accumulator register, kRedNt column tiles per round (32 KB at most)
  constexpr int kRedNt = kNt < 8192 / (4 * kW * 32) ? kNt : 8192 / (4 * kW * 32);
  static_assert(kRedNt >= 1 && kNt % kRedNt == 0, "reduction rounds");
  __shared__ float red[kRedNt * 4][kW][32];
  if constexpr (S::kTrigger) pdl_launch_dependents();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int units = k / kUnit;
  const int ub = warp * units / kW, ue = (warp + 1) * units / kW;  // this warp's units
  const int rlo = out.row(g, n), rhi = out.row(g + 8, n);  // weight rows of tile rows g, g + 8
  const bool lo_ok = rlo >= 0, hi_ok = rhi >= 0;
  const int words_row = k * kBits / 32;
  const uint32_t* wlo = q + size_t(lo_ok ? rlo : 0) * words_row + 4 * t;  // dereferenced only when lo_ok / hi_ok
  const uint32_t* whi = q + size_t(hi_ok ? rhi : 0) * words_row + 4 * t;
  const int unit_words = kUnit * kBits / 32;  // 16
  const uint4 zero4 = make_uint4(0u, 0u, 0u, 0u);

  struct Regs {  // one iteration's weights and group metadata
    uint4 wl[kU], wh[kU];
    uint32_t ml[kU], mh[kU];
  };
  auto load_w = [&](Regs& r, int u0) {
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int ui = u0 + u;
      const bool in = ui < ue;
      const size_t off = size_t(ui) * unit_words;
      r.wl[u] = in && lo_ok ? load_stream(wlo + off) : zero4;
      r.wh[u] = in && hi_ok ? load_stream(whi + off) : zero4;
      if constexpr (kDense) {
        r.ml[u] = r.mh[u] = 0u;
      } else {
        const size_t mrow = size_t(ui) * kUnit / group * n;
        r.ml[u] = in && lo_ok ? __ldg(meta + mrow + rlo) : 0u;
        r.mh[u] = in && hi_ok ? __ldg(meta + mrow + rhi) : 0u;
      }
    }
  };
  float acc[kNt][4];
#pragma unroll
  for (int c = 0; c < kNt; ++c) acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = 0.0f;
  const T* xr = x + size_t(g) * k + t * (kUnit / 4);  // column tile c: + 8 c rows; only rows < m
  auto compute = [&](const Regs& r, int u0) {
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int ui = u0 + u;
      if (ui >= ue) break;  // warp-uniform: the mma needs every lane
      const uint32_t zl = kDense ? 0u : zero_operand<kBits>(r.ml[u], Act<T>::kMagic);
      const uint32_t zh = kDense ? 0u : zero_operand<kBits>(r.mh[u], Act<T>::kMagic);
      float c[kNt][4];
#pragma unroll
      for (int ct = 0; ct < kNt; ++ct) c[ct][0] = c[ct][1] = c[ct][2] = c[ct][3] = 0.0f;
#pragma unroll
      for (int s2 = 0; s2 < kSteps; s2 += 2) {  // two k steps share one 16-byte x load per tile
        uint4 xv[kNt];
#pragma unroll
        for (int ct = 0; ct < kNt; ++ct)
          xv[ct] = g + 8 * ct < m ? __ldg(reinterpret_cast<const uint4*>(xr + size_t(8 * ct) * k + size_t(ui) * kUnit +
                                                                          4 * s2))
                                  : zero4;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          uint32_t a0, a1, a2, a3;
          dequant_step<T, kBits>(r.wl[u], s2 + h, zl, a0, a2);  // row g: slots 2t.., 2t+8..
          dequant_step<T, kBits>(r.wh[u], s2 + h, zh, a1, a3);  // row g + 8
#pragma unroll
          for (int ct = 0; ct < kNt; ++ct)
            Act<T>::mma(c[ct], a0, a1, a2, a3, h ? xv[ct].z : xv[ct].x, h ? xv[ct].w : xv[ct].y);
        }
      }
      const float sl = kDense ? 1.0f : meta_scale(r.ml[u]), sh = kDense ? 1.0f : meta_scale(r.mh[u]);
#pragma unroll
      for (int ct = 0; ct < kNt; ++ct) {
        acc[ct][0] = fmaf(c[ct][0], sl, acc[ct][0]);  // (row g, batch 8ct + 2t)
        acc[ct][1] = fmaf(c[ct][1], sl, acc[ct][1]);  // (row g, batch 8ct + 2t + 1)
        acc[ct][2] = fmaf(c[ct][2], sh, acc[ct][2]);  // (row g + 8, batch 8ct + 2t)
        acc[ct][3] = fmaf(c[ct][3], sh, acc[ct][3]);  // (row g + 8, batch 8ct + 2t + 1)
      }
    }
  };
  if constexpr (S::kPrefetch) {
    // Two register sets in turn (a runtime index would put them in local memory): the loads of
    // the next iteration are in flight while this one is dequantized.
    Regs ra, rb;
    load_w(ra, ub);  // the weights do not depend on the previous kernel
    pdl_wait();      // x is the previous kernel's output
    for (int u0 = ub; u0 < ue; u0 += 2 * kU) {
      if (u0 + kU < ue) load_w(rb, u0 + kU);
      compute(ra, u0);
      if (u0 + kU >= ue) break;
      if (u0 + 2 * kU < ue) load_w(ra, u0 + 2 * kU);
      compute(rb, u0 + kU);
    }
  } else {
    Regs r;
    load_w(r, ub);  // the weights do not depend on the previous kernel
    pdl_wait();     // x is the previous kernel's output
    for (int u0 = ub; u0 < ue; u0 += kU) {
      if (u0 != ub) load_w(r, u0);
      compute(r, u0);
    }
  }
#pragma unroll
  for (int c0 = 0; c0 < kNt; c0 += kRedNt) {
    if (c0 > 0) __syncthreads();  // the previous round's sums are read
#pragma unroll
    for (int ct = 0; ct < kRedNt; ++ct)
#pragma unroll
      for (int i = 0; i < 4; ++i) red[ct * 4 + i][warp][lane] = acc[c0 + ct][i];
    __syncthreads();
    for (int idx = threadIdx.x; idx < kTileRows * 8 * kRedNt; idx += 32 * kW) {
      // Output (tile row r, batch b = 8 ct + bb) sits in lane (r % 8) * 4 + bb / 2, register (r / 8) * 2 + bb % 2.
      const int r = idx & 15, bl = idx >> 4, ct = bl >> 3, bb = bl & 7, b = 8 * c0 + bl;
      const int src = (r & 7) * 4 + (bb >> 1), reg = ct * 4 + (r >> 3) * 2 + (bb & 1);
      float s = 0.0f;
#pragma unroll
      for (int wi = 0; wi < kW; ++wi) s += red[reg][wi][src];
      const int row = out.row(r, n);
      out.store(r, b, row, b < m && row >= 0, s, n);  // kNt == 1 for pairs: warps 0-3 whole
    }
  }
}

// w (n, k) = (code - zero) * scale, one thread per 8 columns (one 4-bit word or two 8-bit words), one
// 16-byte store each (w 16-byte aligned, k % 8 == 0).
template <class T, int kBits>
__global__ void dequantize_int_kernel(const uint32_t* __restrict__ q, const uint32_t* __restrict__ meta,
                                      T* __restrict__ w, int n, int k, int group) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;  // index of 8 columns
  const size_t per_row = size_t(k) / 8;
  if (i >= size_t(n) * per_row) return;
  const int row = int(i / per_row), col = int(i % per_row) * 8;
  const uint32_t md = meta[size_t(col / group) * n + row];
  const float s = meta_scale(md);
  const int z = int((md >> 16) & 0xFFu);
  int codes[8];
  if constexpr (kBits == 4) {
    const uint32_t wd = q[size_t(row) * per_row + col / 8];
    constexpr int kPos[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // nibble of column c: [c0, c2, c4, c6, c1, c3, c5, c7]
#pragma unroll
    for (int c = 0; c < 8; ++c) codes[c] = int((wd >> (4 * kPos[c])) & 0xFu);
  } else {
    const uint32_t* wp = q + size_t(row) * (k / 4) + col / 4;
#pragma unroll
    for (int c = 0; c < 8; ++c) codes[c] = int((wp[c / 4] >> (8 * (c % 4))) & 0xFFu);
  }
  alignas(16) T out[8];
#pragma unroll
  for (int c = 0; c < 8; ++c) out[c] = from_f<T>(float(codes[c] - z) * s);
  *reinterpret_cast<uint4*>(w + size_t(row) * k + col) = *reinterpret_cast<const uint4*>(out);  // one 16-byte store
}

template <class T, int kBits, int kNt, class S = DefaultShape<kBits, kNt>, class TO = T>
void launch_gemv_tiles(const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
                       int group, cudaStream_t s, bool pdl) {
  const gemv_epilogue::RowsY<TO> out{static_cast<TO*>(y)};
  launch_pdl(pdl, gemv_int_kernel<T, kBits, kNt, S, TO>, dim3(out.blocks(n)), dim3(32 * S::kWarps), 0, s,
             static_cast<const T*>(x), q, meta, out, m, n, k, group);
}

// The q/k/v projection of 1-8 rows with RoPE and the K/V write in the epilogue (gemv_epilogue::RopeY).
template <class T, int kBits, class KV>
void launch_gemv_rope(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k, int group,
                      cudaStream_t s, bool pdl) {
  using S = DefaultShape<kBits, 1>;
  using Y = gemv_epilogue::RopeY<T, KV>;
  const Y out = gemv_epilogue::rope_epilogue<T, KV>(a);
  const int n = gemv_epilogue::rope_epilogue_n(a);
  launch_pdl(pdl, gemv_int_kernel<T, kBits, 1, S, T, Y>, dim3(out.blocks(n)), dim3(32 * S::kWarps), 0, s,
             static_cast<const T*>(x), q, meta, out, a.n, n, k, group);
}

// launch_gemv_rope for a.dtype (BF16 / F16) and a.kv_dtype (that dtype or F8_E4M3).
template <int kBits>
void launch_gemv_rope_any(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k,
                          int group, cudaStream_t s, bool pdl) {
  const bool fp8_kv = a.kv_dtype == DType::F8_E4M3;
  if (a.dtype == DType::BF16) {
    if (fp8_kv) launch_gemv_rope<__nv_bfloat16, kBits, kv_fp8>(a, x, q, meta, k, group, s, pdl);
    else launch_gemv_rope<__nv_bfloat16, kBits, __nv_bfloat16>(a, x, q, meta, k, group, s, pdl);
  } else {
    if (fp8_kv) launch_gemv_rope<__half, kBits, kv_fp8>(a, x, q, meta, k, group, s, pdl);
    else launch_gemv_rope<__half, kBits, __half>(a, x, q, meta, k, group, s, pdl);
  }
}

// m rows on the column-tile count that takes them, each on its default shape; TO: y's dtype (16 bits: T or
// fp32; integer weights: T).
template <class T, int kBits, class TO = T>
void launch_gemv(const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k, int group,
                 cudaStream_t s, bool pdl) {
  if (m <= 8) launch_gemv_tiles<T, kBits, 1, DefaultShape<kBits, 1>, TO>(x, q, meta, y, m, n, k, group, s, pdl);
  else if (m <= 16) launch_gemv_tiles<T, kBits, 2, DefaultShape<kBits, 2>, TO>(x, q, meta, y, m, n, k, group, s, pdl);
  else if (m <= 32) launch_gemv_tiles<T, kBits, 4, DefaultShape<kBits, 4>, TO>(x, q, meta, y, m, n, k, group, s, pdl);
  else launch_gemv_tiles<T, kBits, 8, DefaultShape<kBits, 8>, TO>(x, q, meta, y, m, n, k, group, s, pdl);
}

template <class T, int kBits>
void launch_dequantize(const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int group, cudaStream_t s) {
  const size_t items = size_t(n) * (k / 8);
  const int threads = 256;
  dequantize_int_kernel<T, kBits><<<unsigned((items + threads - 1) / threads), threads, 0, s>>>(
      q, meta, static_cast<T*>(w), n, k, group);
}

}  // namespace ignis::kernels::int_gemv_detail
