// FP8 GEMV (kernels/fp8_gemv.h): y (m, n) = W8A8 product of kernels/fp8.h for m = 1..8; the tensor-core
// kernel (fp8_gemv.cu has the checks, the CUDA-core fallback and the dispatch).
//
// Design. The weight tile of one block is 16 output channels; it is the A operand (16 x 32, e4m3)
// of mma.sync.m16n8k32.row.col.f32.e4m3.e4m3.f32, loaded straight from global memory into
// registers; x (batch padded to 8 with zeros) is the B operand (32 x 8). The A fragment of lane
// (g = lane / 4, t = lane % 4) holds rows g and g + 8 and the k slots {4t..4t+3, 16+4t..16+4t+3} of
// each; its B fragment holds the same k slots of column (batch row) g. A dot product does not depend
// on the order of k, so inside each 64-byte group of k the slots are assigned to bytes such that a
// lane's 16 contiguous bytes [16t, 16t + 16) of a row are its slots for two k steps:
//   k step s (0, 1): slot 4t + e <-> byte 16t + 8s + e,  slot 16 + 4t + e <-> byte 16t + 8s + 4 + e,
// so per group a lane issues one 16-byte load for row g, one for row g + 8 (ld.global.nc
// .L1::no_allocate: the weights are read once) and one 16-byte load of x row g at the same offset
// (L1-cached: x is shared by every warp), and runs two mma: A = {lo.x, hi.x, lo.y, hi.y} with
// B = {x.x, x.y}, then A = {lo.z, hi.z, lo.w, hi.w} with B = {x.z, x.w}. The 4 lanes of a row cover
// its 64 bytes; a warp load instruction covers 8 rows x 64 bytes, every 32-byte sector fully used.
// Split-k: the 8 warps of a block share the tile's k range (contiguous runs of groups, 4 groups =
// 8 weight loads of 16 bytes in flight per lane per iteration), and their 16 x 8 partial tiles
// are summed through 4 KB of shared memory. Each group's two mma start from zero and the group sum
// is added in fp32 on the CUDA cores (the tensor core's own accumulation of long k runs is narrower
// than fp32); with block scales the group sum is scaled by sx[b][kb] * sw[nb][kb] there, with channel
// scales the fp32 total is scaled once in the epilogue ((sum * sx[b]) * sw[j], the reference's order).
// PDL: the first 4 groups of weights are loaded before griddepcontrol.wait; x and its scales after.
//
// Predicted bandwidth (H200: 132 SMs, ~1.98 GHz, copy 4.2 TB/s). Streaming at the
// copy rate means 4.2e12 / 132 / 1.98e9 = 16 bytes per SM cycle, i.e. one warp group unit (1 KB of
// weights) per 64 SM cycles. One unit costs a lane 3 LDG.128, 2 HMMA and 4-10 FADD/FFMA plus ~6
// integer / predicate instructions: ~20 warp instructions per 64 cycles against 256 issue slots
// (4 schedulers), under 10%; the two m16n8k32 per 64 cycles are far below the tensor rate. So the
// kernel is bound by bytes in flight: Little's law at ~600-700 ns loaded DRAM latency needs
// ~2.6-3 MB in flight over the GPU (20-23 KB per SM); each warp has 4 KB in flight and an SM holds
// 2-3 blocks (16-24 warps), 64-96 KB. Grid ceil(n / 16) blocks: 6144x4096 -> 384, 4096x4096 -> 256
// (1.9 per SM, all resident at once), 28672x4096 -> 1792, 4096x14336 -> 256 (28 groups per warp).
// Time = bytes / BW + fixed costs: the first bytes' DRAM latency (~0.6-0.8 us, hidden behind the
// kernel before when that one triggers PDL early, as add_rmsnorm / silu_mul / quantize_rows_fp8 do;
// exposed when GEMVs run back to back), the split-k reduction (~0.2 us) and the last wave's tail
// (28672x4096: 6.8 waves of 2 blocks per SM). Predicted at batch 1, in a decode step / back to back:
// 4096x4096 (16.8 MB, 4.0 us of streaming) ~91% / ~85%, 6144x4096 ~93% / ~89%, 4096x14336 and
// 28672x4096 ~95% / ~93% of the copy bandwidth.
// Measured (H200, 2026-12-01, ignis_gemm_bench back to back, m = 1): 6144x4096 9.71 us (61.6% of copy),
// 4096x4096 6.96 us (57.3%), 28672x4096 31.97 us (87.3%), 4096x14336 17.12 us (81.5%): the short shapes miss
// the prediction by ~3 us each (first-load latency, tail, reduction). 8 groups in flight per lane with
// 4-warp blocks for 6144 x 4096 measured slower (7.59 / 9.98 / 18.35 us) and was not kept (docs/PERF.md).
// ptxas (sm_90a, CUDA 13.0, __launch_bounds__(256, 2)): 96 registers with channel scales, 112 with
// block scales, 4 KB shared memory, no spills: 2 blocks (16 warps, 64 KB of loads in flight) per SM.
// The CUDA-core fallback: 40 registers, no spills.
#pragma once
#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/common.cuh"
#include "kernels/fp8_gemv.h"
#include "kernels/gemv_epilogue.cuh"
#include "kernels/pdl.cuh"

namespace ignis::kernels::fp8_gemv_detail {

constexpr int kWarps = 8;        // warps per block: the split-k of one tile
constexpr int kTileRows = 16;    // output channels per block (the mma's M)
constexpr int kGroupBytes = 64;  // k per group: two m16n8k32 steps

// The launch shape (as int_gemv_impl.cuh's GemvShape): warps per block, groups per warp and
// iteration (2 weight loads of 16 bytes each per lane), blocks per SM for __launch_bounds__, whether
// the kernel lets a PDL-launched successor be scheduled at its start. tools/probe/int_gemv_sweep.cu
// times other shapes against the default.
template <int W, int U, int MinBlocks, bool Trigger>
struct Fp8Shape {
  static constexpr int kWarps = W, kUnroll = U, kMinBlocks = MinBlocks;
  static constexpr bool kTrigger = Trigger;
};
using DefaultFp8Shape = Fp8Shape<kWarps, 4, 2, false>;

// d += A (16 x 32) . B (32 x 8), e4m3 inputs, fp32 accumulators (fragments: see the file header).
__device__ __forceinline__ void mma_e4m3(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  __trap();  // FP8 tensor cores need sm_89+ (the build targets sm_90a)
#endif
}

// One 64-byte k group: c = rows (g, g + 8) . x row g, from zero. lo / hi: 16 bytes of rows g / g + 8,
// xv: 16 bytes of x row g, all at the group's byte offset 16 t.
__device__ __forceinline__ void group_mma(float (&c)[4], const uint4& lo, const uint4& hi, const uint4& xv) {
  c[0] = c[1] = c[2] = c[3] = 0.0f;
  mma_e4m3(c, lo.x, hi.x, lo.y, hi.y, xv.x, xv.y);  // k step 0: bytes 16t + 0..7
  mma_e4m3(c, lo.z, hi.z, lo.w, hi.w, xv.z, xv.w);  // k step 1: bytes 16t + 8..15
}

// Where the kernel's x codes and their row scales come from (the XSrc of gemv_fp8_kernel): a policy
// with prepare(m, k) (after griddepcontrol.wait, reached by every thread), row(g, k) (where row g's codes
// start), load(row, off) (16 bytes of that row at byte offset off; the caller checks g < m and off < k),
// row_scale(b) (channel scaling) and block_scales() (the sx of block scaling; GlobalX only).
// GlobalX: the previous kernel's codes x8 (m, k) and scales sx in global memory (L1-cached: x is
// shared by every warp). The fused producers (fp8_gemv_fused.cu) quantize x into shared memory first.
struct GlobalX {
  const uint8_t* x;
  const float* sx;
  __device__ __forceinline__ void prepare(int, int) const {}
  __device__ __forceinline__ uint4 load(const uint8_t* row_base, size_t off) const {
    return __ldg(reinterpret_cast<const uint4*>(row_base + off));
  }
  __device__ __forceinline__ const uint8_t* row(int g, int k) const { return x + size_t(g) * k; }
  __device__ __forceinline__ float row_scale(int b) const { return sx[b]; }
  __device__ __forceinline__ const float* block_scales() const { return sx; }
};

using gemv_epilogue::RowsY;  // the output policies (Y): kernels/gemv_epilogue.cuh
static_assert(kTileRows == gemv_epilogue::kTile, "the epilogue policies' tile");

// grid (out.blocks(n)), block (32 * S::kWarps), dynamic shared memory as XSrc needs. Needs k % 16 == 0,
// x / w 16-byte aligned, m <= 8. x (m, k), w e4m3 with the rows Y names; sx, sw per kBlock
// (kernels/fp8.h); outputs per Y.
template <class TO, bool kBlock, class S = DefaultFp8Shape, class XSrc = GlobalX, class Y = RowsY<TO>>
__global__ void __launch_bounds__(32 * S::kWarps, S::kMinBlocks)
    gemv_fp8_kernel(XSrc xsrc, const uint8_t* __restrict__ w, const float* __restrict__ sw, Y out, int m, int n,
                    int k) {
  static_assert(!(kBlock && Y::kPairs), "row pairs take channel scaling only");
  constexpr int kWarps = S::kWarps, kUnroll = S::kUnroll;
  __shared__ float red[4][kWarps][32];  // the warps' partial tiles, by accumulator register
  if constexpr (S::kTrigger) pdl_launch_dependents();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int groups = (k + kGroupBytes - 1) / kGroupBytes;
  const int gb = warp * groups / kWarps, ge = (warp + 1) * groups / kWarps;  // this warp's groups
  const int rlo = out.row(g, n), rhi = out.row(g + 8, n);
  const bool lo_ok = rlo >= 0, hi_ok = rhi >= 0, x_ok = g < m;
  const uint8_t* wlo = w + size_t(lo_ok ? rlo : 0) * k + 16 * t;  // dereferenced only when lo_ok / hi_ok
  const uint8_t* whi = w + size_t(hi_ok ? rhi : 0) * k + 16 * t;
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  // Group gi holds this lane's 16 bytes when in the warp's range and inside the row (k % 16 == 0:
  // all 16 or none).
  auto has = [&](int gi) { return gi < ge && gi * kGroupBytes + 16 * t < k; };

  uint4 wl[kUnroll], wh[kUnroll];
  auto load_w = [&](int gi) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const bool in = has(gi + u);
      const size_t off = size_t(gi + u) * kGroupBytes;
      wl[u] = in && lo_ok ? load_stream(wlo + off) : zero;
      wh[u] = in && hi_ok ? load_stream(whi + off) : zero;
    }
  };
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  // The weights do not depend on the previous kernel: the first loads go out before waiting for it.
  load_w(gb);
  pdl_wait();  // x (or what it is computed from) and sx are the previous kernel's output
  xsrc.prepare(m, k);
  const uint8_t* xr = xsrc.row(x_ok ? g : 0, k) + 16 * t;  // read only when x_ok
  const int ldw = fp8_block_scale_ld(k);
  const float* swb = sw + size_t(blockIdx.x * kTileRows / 128) * ldw;  // kBlock (RowsY): the tile's row of 128x128 block scales
  for (int gi = gb; gi < ge; gi += kUnroll) {
    if (gi != gb) load_w(gi);
    uint4 xv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      xv[u] = has(gi + u) && x_ok ? xsrc.load(xr, size_t(gi + u) * kGroupBytes) : zero;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (gi + u >= ge) break;  // warp-uniform: the mma needs every lane
      float c[4];
      group_mma(c, wl[u], wh[u], xv[u]);
      if constexpr (kBlock) {
        const float* sx = xsrc.block_scales();
        const int kb = (gi + u) * kGroupBytes / kFp8Group;
        const float s = swb[kb];
        const float s0 = 2 * t < m ? sx[size_t(kb) * m + 2 * t] * s : 0.0f;
        const float s1 = 2 * t + 1 < m ? sx[size_t(kb) * m + 2 * t + 1] * s : 0.0f;
        acc[0] = fmaf(c[0], s0, acc[0]);  // (row g, batch 2t)
        acc[1] = fmaf(c[1], s1, acc[1]);  // (row g, batch 2t + 1)
        acc[2] = fmaf(c[2], s0, acc[2]);  // (row g + 8, batch 2t)
        acc[3] = fmaf(c[3], s1, acc[3]);  // (row g + 8, batch 2t + 1)
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[i] += c[i];
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) red[i][warp][lane] = acc[i];
  __syncthreads();
  if (threadIdx.x < kTileRows * 8) {
    // Output (tile row r, batch b) sits in lane (r % 8) * 4 + b / 2, register (r / 8) * 2 + b % 2.
    const int r = threadIdx.x & 15, b = threadIdx.x >> 4;
    const int src = (r & 7) * 4 + (b >> 1), reg = (r >> 3) * 2 + (b & 1);
    float s = 0.0f;
#pragma unroll
    for (int wi = 0; wi < kWarps; ++wi) s += red[reg][wi][src];
    const int row = out.row(r, n);
    const bool ok = b < m && row >= 0;
    if constexpr (!kBlock)
      if (ok) s = s * xsrc.row_scale(b) * sw[row];
    out.store(r, b, row, ok, s, n);
  }
}

// The tensor-core kernel's launch (k % 16 == 0, x / w 16-byte aligned).
template <class TO, bool kBlock, class S = DefaultFp8Shape, class XSrc = GlobalX, class Y = RowsY<TO>>
void launch_fp8_tiles(XSrc xsrc, size_t smem, const uint8_t* w, const float* sw, Y out, int m, int n, int k,
                      cudaStream_t s, bool pdl) {
  launch_pdl(pdl, gemv_fp8_kernel<TO, kBlock, S, XSrc, Y>, dim3(out.blocks(n)),
             dim3(32 * S::kWarps), smem, s, xsrc, w, sw, out, m, n, k);
}

}  // namespace ignis::kernels::fp8_gemv_detail
