// Integer weight-only GEMM (kernels/int_gemm.h), the kernel template; int_gemm4.cu / int_gemm8.cu
// instantiate it for 4 and 8 bits.
//
// Design. A block is two warpgroups (256 threads) and owns 128 output channels (each warpgroup 64:
// the M of wgmma.m64nNk16) and kN = 32 or 64 rows of x (the N), over a contiguous range of k units
// (a unit = the GEMV's: 128 columns for 4 bits, 64 for 8 bits, 64 bytes of codes per row; split-k
// over blocks when the output tiles alone do not fill the GPU twice). Per unit, a 4-stage cp.async
// ring brings into shared memory: the 128 rows' codes (8 KB), their group metadata (512 B) and the
// unit's x tile (kN rows, 128-byte-swizzled K-major, the wgmma B operand). Each lane then reads the
// 16 bytes of its rows g and g + 8 (the A fragment rows of mma.m16n8k16 and of wgmma's register A),
// dequantizes them with the GEMV's dequant_step (kernels/int_gemv_impl.cuh) into the integers
// (code - zero) of every k step, and the warpgroup runs U / 16 wgmma with A from registers, from zero
// accumulators; the unit's sums are scaled by the group scale in fp32 as in the GEMV.
// The GEMV's layout gives lane t the natural columns tU/4 + 4s + e at mma k slots 2t + e, 2t + 8 + e
// (see int_gemv_impl.cuh); the x tile is staged to match: the pair of columns (c, c + 1) of a unit
// is copied (cp.async, 4 bytes) to k position 16 s + 2 t' (+ 8 for the pair e = 2, 3), so the weights
// keep one layout for the GEMV and the GEMM.
// Split-k: each split writes its fp32 partial tile to the workspace; the last block of a tile (a
// counter per tile, atomicAdd after __threadfence) adds the partials in split order and writes y, and
// resets the counter: deterministic, and the workspace stays zero for the next call.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

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
constexpr int kStages = 4;           // cp.async ring depth: 3 units in flight while one is computed
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
  static constexpr size_t kSmem = 1024 + size_t(kStages) * kStage;
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
  auto load_x = [&](int i) {  // unit ub + i's x tile, each column pair at its mma k position
    unsigned char* sx = stage(i);
    const int u = ub + i;
    constexpr int kPairsRow = kCols / 2, kQuarter = kCols / 4;
#pragma unroll 4
    for (int p = tid; p < kN * kPairsRow; p += kThreads) {
      const int r = p / kPairsRow, c = 2 * (p % kPairsRow);
      const int tq = c / kQuarter, rem = c % kQuarter;
      const int kpos = 16 * (rem >> 2) + 2 * tq + ((rem & 2) ? 8 : 0);
      const bool ok = b0 + r < m;
      cp_async4_zfill(sx + swz128(r, kpos >> 3, L::kXHalf) + (kpos & 7) * 2,
                      x + size_t(ok ? b0 + r : 0) * k + size_t(u) * kCols + c, ok);
    }
  };

  float acc[kN / 8][4], part[kN / 8][4];
#pragma unroll
  for (int j = 0; j < kN / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = part[j][e] = 0.0f;
  // The codes do not depend on the previous kernel: they are requested before waiting for it (PDL).
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i)
    if (i < nu) load_w(i);
  pdl_wait();  // x is the previous kernel's output
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (i < nu) load_x(i);
    cp_async_commit();  // group i: unit i's x (and, in group 0, the first codes)
  }
  const int rl = (warp >> 2) * 64 + (warp & 3) * 16 + g;  // this lane's row g in the block tile; rl + 8: row g + 8
  for (int i = 0; i < nu; ++i) {
    cp_async_wait_group<kStages - 2>();  // unit i has landed (this thread's copies)
    wgmma::fence_proxy_async();          // visible to wgmma's operand reads
    __syncthreads();                     // everyone's copies; stage i - 1 is free again
    if (i + kStages - 1 < nu) {
      load_w(i + kStages - 1);
      load_x(i + kStages - 1);
    }
    cp_async_commit();
    const unsigned char* st = stage(i);
    const unsigned char* sw = st + L::kXBytes;
    const uint4 wl = *reinterpret_cast<const uint4*>(sw + rl * 64 + 16 * t);
    const uint4 wh = *reinterpret_cast<const uint4*>(sw + (rl + 8) * 64 + 16 * t);
    const uint32_t ml = *reinterpret_cast<const uint32_t*>(sw + L::kWBytes + rl * 4);
    const uint32_t mh = *reinterpret_cast<const uint32_t*>(sw + L::kWBytes + (rl + 8) * 4);
    const uint32_t zl = zero_operand<kBits>(ml, Act<T>::kMagic), zh = zero_operand<kBits>(mh, Act<T>::kMagic);
    uint32_t a[kSteps][4];
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      dequant_step<T, kBits>(wl, s, zl, a[s][0], a[s][2]);  // row g: slots 2t.., 2t+8..
      dequant_step<T, kBits>(wh, s, zh, a[s][1], a[s][3]);  // row g + 8
    }
    const uint64_t desc = wgmma::desc_sw128(smem_addr(st), 16, 1024);
    wgmma::fence();
#pragma unroll
    for (int s = 0; s < kSteps; ++s)
      wgmma::mma_m64nNk16_rs_kmajor<T, kN>(part, a[s], desc + ((uint32_t((s >> 2) * L::kXHalf) + (s & 3) * 32) >> 4),
                                          s > 0 ? 1 : 0);
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::pin(part);
    wgmma::pin(a);
    const float sl = meta_scale(ml), sh = meta_scale(mh);
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
      acc[j][0] = fmaf(part[j][0], sl, acc[j][0]);  // (row g, x row 8j + 2t)
      acc[j][1] = fmaf(part[j][1], sl, acc[j][1]);  // (row g, x row 8j + 2t + 1)
      acc[j][2] = fmaf(part[j][2], sh, acc[j][2]);  // (row g + 8, ...)
      acc[j][3] = fmaf(part[j][3], sh, acc[j][3]);
    }
  }
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
