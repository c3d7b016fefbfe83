// Integer weight-only GEMM (kernels/int_gemm.h), the kernel template; int_gemm4.cu / int_gemm8.cu
// instantiate it for 4 and 8 bits.
//
// Design. A block is two warpgroups (256 threads) and owns 128 output channels (each warpgroup 64:
// the M of wgmma.m64nNk16) and kN = 32 or 64 rows of x (the N), over a contiguous range of k units
// (a unit = the GEMV's: 128 columns for 4 bits, 64 for 8 bits, 64 bytes of codes per row; split-k
// over blocks when the output tiles alone do not fill the GPU twice). Per unit, a cp.async ring of
// kStages brings into shared memory the 128 rows' codes (8 KB), their group metadata (512 B) and the
// unit's x tile (kN rows in natural column order, 16-byte copies, 128-byte-swizzled K-major: the wgmma
// B operand). Each lane reads the 16 bytes of its rows g and g + 8, dequantizes them with the GEMV's
// dequant_step (kernels/int_gemv_impl.cuh) into the exact integers (code - zero) and stores them at
// their natural columns in its warpgroup's A tile (shared memory, 128-byte swizzle, two buffers); the
// warpgroup then runs U / 16 wgmma with A and B from shared memory, from zero accumulators, while the
// next unit is staged and dequantized, and the unit's sums are scaled by the group scale in fp32 as in
// the GEMV. Nothing reads or writes a register of a wgmma in flight (ptxas would serialize them).
// Split-k: each split writes its fp32 partial tile to the workspace; the last block of a tile (a
// counter per tile, atomicAdd after __threadfence) adds the partials in split order and writes y, and
// resets the counter: deterministic, and the workspace stays zero for the next call.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/int_gemv_impl.cuh"
#include "kernels/mma_util.cuh"
#include "kernels/pdl.cuh"
#include "kernels/wgmma.cuh"

namespace ignis::kernels::int_gemm_detail {

using int_gemv_detail::Act;
using int_gemv_detail::dequant_step;
using int_gemv_detail::meta_scale;
using int_gemv_detail::zero_operand;

constexpr int kRows = 128;           // output channels per block: two warpgroups of 64
constexpr int kThreads = 256;
constexpr int kStages = 5;           // cp.async ring depth: one stage computed, one read by the previous wgmma
constexpr int kAhead = kStages - 2;  // units in flight
constexpr int kCounterSlots = 1024;  // workspace floats holding the tile counters (tiles < 2 x SMs when split)

constexpr int unit_cols(int bits) { return bits == 4 ? 128 : 64; }
constexpr int tile_n(int m) { return m <= 32 ? 32 : 64; }

template <int kBits, int kN>
struct Layout {
  static constexpr int kCols = unit_cols(kBits);
  static constexpr int kSteps = kCols / 16;
  static constexpr int kXHalf = kN * 128;  // one 64-column half of the x tile: kN swizzled 128-byte rows
  static constexpr int kXBytes = (kCols / 64) * kXHalf;
  static constexpr int kWBytes = kRows * 64;  // 64 bytes of codes per row and unit
  static constexpr int kMBytes = kRows * 4;
  static constexpr int kStage = (kXBytes + kWBytes + kMBytes + 1023) / 1024 * 1024;
  static constexpr int kAHalf = 64 * 128;              // one 64-column half of a warpgroup's A tile
  static constexpr int kABytes = (kCols / 64) * kAHalf;  // a warpgroup's dequantized 64 x kCols tile
  // the ring, then the A tiles: [warpgroup][buffer]
  static constexpr size_t kSmem = 1024 + size_t(kStages) * kStage + size_t(2 * 2) * kABytes;
};

using wgmma::swz128;

// grid (ceil(n / 128), ceil(m / kN), splits), block 256, dynamic shared memory Layout::kSmem.
template <class T, int kBits, int kN>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_int_kernel(const T* __restrict__ x, const uint32_t* __restrict__ q, const uint32_t* __restrict__ meta,
                    T* __restrict__ y, float* __restrict__ ws, int m, int n, int k, int group) {
  using L = Layout<kBits, kN>;
  constexpr int kCols = L::kCols, kSteps = L::kSteps, kUnitWords = 16;
  extern __shared__ unsigned char smem_raw[];
  __shared__ int last_block;
  unsigned char* base = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = blockIdx.x * kRows, b0 = blockIdx.y * kN;
  const int splits = gridDim.z, split = blockIdx.z;
  const int units = k / kCols;
  const int ub = split * units / splits, nu = (split + 1) * units / splits - ub;
  const size_t words_row = size_t(k) * kBits / 32;

  auto stage = [&](int i) { return base + (i % kStages) * L::kStage; };
  auto load_w = [&](int i) {  // unit ub + i's codes and metadata
    unsigned char* sw = stage(i) + L::kXBytes;
    const int u = ub + i;
#pragma unroll
    for (int c = tid; c < kRows * 4; c += kThreads) {
      const int r = c >> 2, j = c & 3;
      const bool ok = row0 + r < n;
      cp_async16_zfill(sw + r * 64 + j * 16, q + size_t(ok ? row0 + r : 0) * words_row + size_t(u) * kUnitWords + 4 * j,
                       ok);
    }
    if (tid < kRows) {
      const bool ok = row0 + tid < n;
      cp_async4_zfill(sw + L::kWBytes + tid * 4, meta + size_t(u) * kCols / group * n + (ok ? row0 + tid : 0), ok);
    }
  };
  // This thread's x copies: 16-byte chunks (8 columns) v of rows r0 + kRowStep j; the chunk and the
  // swizzle (r % 8 is the same for every j) do not change from unit to unit.
  constexpr int kChunksRow = kCols / 8, kRowStep = kThreads / kChunksRow, kPasses = kN / kRowStep;
  static_assert(kThreads % kChunksRow == 0 && kN % kRowStep == 0 && kRowStep % 8 == 0, "whole rows per pass");
  const int xr0 = tid / kChunksRow, xv = tid % kChunksRow;
  const uint32_t xs0 = swz128(xr0, xv, L::kXHalf);  // + kRowStep * 128 j
  uint32_t xok = 0;                                 // bit j: row b0 + r0 + kRowStep j is a row of x
#pragma unroll
  for (int j = 0; j < kPasses; ++j) xok |= (b0 + xr0 + kRowStep * j < m ? 1u : 0u) << j;
  const T* xg = x + size_t(b0 + xr0) * k + 8 * xv;  // + kRowStep j rows + the unit's columns
  auto load_x = [&](int i) {  // unit ub + i's x tile (kN rows, K-major, 128-byte swizzle)
    unsigned char* sx = stage(i);
    const size_t col = size_t(ub + i) * kCols;
#pragma unroll
    for (int j = 0; j < kPasses; ++j) {
      const bool ok = (xok >> j) & 1u;
      cp_async16_zfill(sx + xs0 + kRowStep * 128 * j, ok ? xg + size_t(kRowStep * j) * k + col : x, ok);
    }
  };

  float acc[kN / 8][4], part[kN / 8][4];
#pragma unroll
  for (int j = 0; j < kN / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
  // The codes do not depend on the previous kernel: they are requested before waiting for it (PDL).
#pragma unroll
  for (int i = 0; i < kAhead; ++i)
    if (i < nu) load_w(i);
  pdl_wait();  // x is the previous kernel's output
#pragma unroll
  for (int i = 0; i < kAhead; ++i) {
    if (i < nu) load_x(i);
    cp_async_commit();  // group i: unit i's x (and, in group 0, the first codes)
  }
  const int wg = warp >> 2;
  const int rw = (warp & 3) * 16 + g;  // this lane's row g in its warpgroup's 64; rw + 8: row g + 8
  const int rl = wg * 64 + rw;         // ... in the block's 128
  unsigned char* a_tiles = base + size_t(kStages) * L::kStage + size_t(wg) * 2 * L::kABytes;
  auto accumulate = [&](float sl, float sh) {
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
      acc[j][0] = fmaf(part[j][0], sl, acc[j][0]);  // (row g, x row 8j + 2t)
      acc[j][1] = fmaf(part[j][1], sl, acc[j][1]);  // (row g, x row 8j + 2t + 1)
      acc[j][2] = fmaf(part[j][2], sh, acc[j][2]);  // (row g + 8, ...)
      acc[j][3] = fmaf(part[j][3], sh, acc[j][3]);
    }
  };
  // Unit i: its codes dequantized (exact integers code - zero) into the warpgroup's A tile i & 1 in
  // shared memory at their natural columns while unit i - 1's wgmma run; then the wait for those (wait<0>:
  // nothing reads or defines a register of a wgmma in flight, so ptxas keeps them asynchronous), their
  // sums scaled into acc in fp32, and unit i's kSteps wgmma (A and x from shared memory) issued into
  // part. A stage and an A tile are rewritten only after the wgmma that read them (unit i - 2) completed
  // in both warpgroups (the barrier at the top follows that wait).
  float sprev_l = 0.0f, sprev_h = 0.0f;
  for (int i = 0; i < nu; ++i) {
    cp_async_wait_group<kAhead - 1>();  // unit i has landed (this thread's copies)
    wgmma::fence_proxy_async();         // visible to wgmma's operand reads
    __syncthreads();                    // everyone's copies; the wgmma of unit i - 2 are done: its buffers are free
    if (i + kAhead < nu) {
      load_w(i + kAhead);
      load_x(i + kAhead);
    }
    cp_async_commit();
    const unsigned char* st = stage(i);
    const unsigned char* sw = st + L::kXBytes;
    const uint4 wl = *reinterpret_cast<const uint4*>(sw + rl * 64 + 16 * t);
    const uint4 wh = *reinterpret_cast<const uint4*>(sw + (rl + 8) * 64 + 16 * t);
    const uint32_t ml = *reinterpret_cast<const uint32_t*>(sw + L::kWBytes + rl * 4);
    const uint32_t mh = *reinterpret_cast<const uint32_t*>(sw + L::kWBytes + (rl + 8) * 4);
    const uint32_t zl = zero_operand<kBits>(ml, Act<T>::kMagic), zh = zero_operand<kBits>(mh, Act<T>::kMagic);
    unsigned char* at = a_tiles + (i & 1) * L::kABytes;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {  // lane t's natural columns t kCols / 4 + 4 s .. + 3: 8 bytes per row
      uint32_t p0, p1, p2, p3;
      dequant_step<T, kBits>(wl, s, zl, p0, p2);  // row g: columns c, c + 1 | c + 2, c + 3
      dequant_step<T, kBits>(wh, s, zh, p1, p3);  // row g + 8
      const int c = t * (kCols / 4) + 4 * s;
      const uint32_t off = swz128(rw, c >> 3, L::kAHalf) + (c & 7) * 2;
      *reinterpret_cast<uint2*>(at + off) = make_uint2(p0, p2);
      *reinterpret_cast<uint2*>(at + off + 8 * 128) = make_uint2(p1, p3);  // row + 8: the same swizzle
    }
    wgmma::fence_proxy_async();           // the A tile, visible to wgmma
    wgmma::named_barrier_sync(1 + wg, 128);  // the warpgroup's four warps wrote it
    wgmma::wait<0>();                     // unit i - 1's group
    wgmma::pin(part);
    if (i > 0) accumulate(sprev_l, sprev_h);
    sprev_l = meta_scale(ml);
    sprev_h = meta_scale(mh);
    const uint64_t da = wgmma::desc_sw128(smem_addr(at), 16, 1024), dx = wgmma::desc_sw128(smem_addr(st), 16, 1024);
    wgmma::fence();
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const uint32_t ka = ((s >> 2) * L::kAHalf + (s & 3) * 32) >> 4, kx = ((s >> 2) * L::kXHalf + (s & 3) * 32) >> 4;
      wgmma::mma_m64nNk16_ss_kmajor<T, kN>(part, da + ka, dx + kx, s > 0 ? 1 : 0);
    }
    wgmma::commit();
  }
  wgmma::wait<0>();
  wgmma::pin(part);
  if (nu > 0) accumulate(sprev_l, sprev_h);
  cp_async_wait_group<0>();

  const int rbase = row0 + rl;
  auto each = [&](auto&& f) {
#pragma unroll
    for (int j = 0; j < kN / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = rbase + 8 * (e >> 1), b = b0 + 8 * j + 2 * t + (e & 1);
        if (row < n && b < m) f(acc[j][e], size_t(b) * n + row);
      }
  };
  if (splits == 1) {
    each([&](float v, size_t o) { y[o] = from_f<T>(v); });
    return;
  }
  uint32_t* counters = reinterpret_cast<uint32_t*>(ws);
  float* parts = ws + kCounterSlots;
  const size_t plane = size_t(m) * n;
  each([&](float v, size_t o) { parts[size_t(split) * plane + o] = v; });
  __threadfence();
  __syncthreads();
  const int tile = blockIdx.y * gridDim.x + blockIdx.x;
  if (tid == 0) last_block = atomicAdd(counters + tile, 1u) == uint32_t(splits - 1);
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  each([&](float, size_t o) {
    float s = 0.0f;
    for (int sp = 0; sp < splits; ++sp) s += __ldcg(parts + size_t(sp) * plane + o);
    y[o] = from_f<T>(s);
  });
  if (tid == 0) counters[tile] = 0u;
}

// Splits of k for this call: enough blocks to fill `num_sms` twice, at least 2 units per split.
inline int gemm_splits(int m, int n, int k, int bits, int num_sms) {
  const int tiles = (n + kRows - 1) / kRows * ((m + tile_n(m) - 1) / tile_n(m));
  const int target = 2 * std::max(num_sms, 1);
  if (tiles >= target || tiles > kCounterSlots) return 1;
  const int units = k / unit_cols(bits);
  return std::max(1, std::min({(target + tiles - 1) / tiles, units / 2, 16}));
}

template <class T, int kBits, int kN>
void launch_gemm(const void* x, const uint32_t* q, const uint32_t* meta, void* y, float* ws, int m, int n, int k,
                 int group, int splits, cudaStream_t s, bool pdl) {
  using L = Layout<kBits, kN>;
  static bool configured = false;  // per instantiation; done before any graph capture (warm-up step)
  if (!configured) {
    IGNIS_CUDA_CHECK(cudaFuncSetAttribute(gemm_int_kernel<T, kBits, kN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(L::kSmem)));
    configured = true;
  }
  const dim3 grid((n + kRows - 1) / kRows, (m + kN - 1) / kN, splits);
  launch_pdl(pdl, gemm_int_kernel<T, kBits, kN>, grid, dim3(kThreads), L::kSmem, s, static_cast<const T*>(x), q, meta,
             static_cast<T*>(y), ws, m, n, k, group);
}

template <class T, int kBits>
void launch_gemm_any(const void* x, const uint32_t* q, const uint32_t* meta, void* y, float* ws, int m, int n, int k,
                     int group, int splits, cudaStream_t s, bool pdl) {
  if (tile_n(m) == 32) launch_gemm<T, kBits, 32>(x, q, meta, y, ws, m, n, k, group, splits, s, pdl);
  else launch_gemm<T, kBits, 64>(x, q, meta, y, ws, m, n, k, group, splits, s, pdl);
}

}  // namespace ignis::kernels::int_gemm_detail
