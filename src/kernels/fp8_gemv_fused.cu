// FP8 GEMV with its producer fused in (kernels/fp8_gemv.h gemv_fp8_fused): the x source that quantizes
// rows of a dtype tensor into shared memory before gemv_fp8_kernel's product.
//
// Why: at batch 1 the producer of o's FP8 input (quantize_rows_fp8 after the attention) is one block
// per row, since the row's dynamic scale needs the row's amax: 2-5 us of one SM per layer and launch,
// while the GEMV's weights do not depend on it. Here every block of the GEMV issues its first weight
// loads, waits for the previous kernel, then computes the row amax and the codes itself from
// L2-resident data (the attention output's 8 KB at batch 1) while those loads are in flight. In a
// decode graph it measured no faster than the producer kernel, whose latency PDL already hides behind
// the GEMV's first loads (docs/PERF.md 2026-12-07, sixth session); it stays as an option.
//
// Bits: the scale and the codes are fp8_quant.cuh's (fp8_dynamic_scale of the block amax, fp8_pack8
// with the IEEE reciprocal): the same codes and scales as quantize_rows_fp8, so the same product.
#include <cuda_fp8.h>

#include <cstdint>
#include <string>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_gemv_impl.cuh"
#include "kernels/fp8_quant.cuh"

namespace ignis::kernels {

namespace {

using namespace fp8_gemv_detail;

// x computed by the block into dynamic shared memory: codes (m, k) then the m row scales.
template <class T>
struct FusedX {
  const T* src;
  int64_t ld;
  const float* static_scale;
  int scale_offset;  // m * k: the row scales follow the codes in the shared memory

  __device__ __forceinline__ static uint8_t* codes() {
    extern __shared__ uint4 fused_smem[];
    return reinterpret_cast<uint8_t*>(fused_smem);
  }
  // Values 8 j .. 8 j + 7 of row b.
  __device__ __forceinline__ void value8(int b, int j, float (&v)[8]) const {
    unpack8<T>(reinterpret_cast<const uint4*>(src + size_t(b) * ld)[j], v);
  }
  __device__ __forceinline__ void prepare(int m, int k) const {
    const int nv = k / 8;
    uint2* out = reinterpret_cast<uint2*>(codes());
    for (int b = 0; b < m; ++b) {
      float s;
      if (static_scale) {
        s = *static_scale;
      } else {
        float a = 0.0f;
        for (int j = threadIdx.x; j < nv; j += blockDim.x) {
          float v[8];
          value8(b, j, v);
          a = fmaxf(a, amax8(v));
        }
        s = fp8_dynamic_scale(block_max(a));  // block_max: every thread gets it (it syncs the block)
      }
      const float inv = __frcp_rn(s);
      for (int j = threadIdx.x; j < nv; j += blockDim.x) {
        float v[8];
        value8(b, j, v);  // again (L1 / L2 hits): cheaper than holding k / 256 values per thread
        out[size_t(b) * nv + j] = fp8_pack8(v, inv);
      }
      if (threadIdx.x == 0) reinterpret_cast<float*>(codes() + scale_offset)[b] = s;
    }
    __syncthreads();  // the codes and scales before any warp's product reads them
  }
  __device__ __forceinline__ const uint8_t* row(int g, int k) const { return codes() + size_t(g) * k; }
  __device__ __forceinline__ uint4 load(const uint8_t* row_base, size_t off) const {
    return *reinterpret_cast<const uint4*>(row_base + off);
  }
  __device__ __forceinline__ float row_scale(int b) const {
    return reinterpret_cast<const float*>(codes() + scale_offset)[b];
  }
  __device__ __forceinline__ const float* block_scales() const { return nullptr; }  // channel scaling only
};

template <class T>
void launch(const Fp8FusedX& x, const void* w8, const float* sw, void* y, int m, int n, int k, cudaStream_t s,
            bool pdl) {
  FusedX<T> xs{static_cast<const T*>(x.src), x.ld, x.static_scale, m * k};
  const size_t smem = size_t(m) * k + sizeof(float) * kFp8FusedMaxM;
  launch_fp8_tiles<T, false, DefaultFp8Shape, FusedX<T>>(xs, smem, static_cast<const uint8_t*>(w8), sw,
                                                           RowsY<T>{static_cast<T*>(y)}, m, n, k, s, pdl);
}

}  // namespace

bool gemv_fp8_fused_supported(DType dtype, const Fp8FusedX& x, const void* w8, int m, int k) {
  return (dtype == DType::BF16 || dtype == DType::F16) && m >= 1 && m <= kFp8FusedMaxM && k > 0 && k % 16 == 0 &&
         size_t(m) * k <= size_t(kFp8FusedMaxSmem) && aligned16(x.src) && x.ld % 8 == 0 && x.ld >= k &&
         aligned16(w8);
}

void gemv_fp8_fused(DType dtype, const Fp8FusedX& x, const void* w8, const float* sw, void* y, int m, int n, int k,
                    cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemv_fp8_fused_supported(dtype, x, w8, m, k),
               "gemv_fp8_fused: unsupported case (m " + std::to_string(m) + ", k " + std::to_string(k) + ", ld " +
                   std::to_string(x.ld) + ")");
  if (n <= 0) return;
  IGNIS_DISPATCH_HALF(dtype, T, { launch<T>(x, w8, sw, y, m, n, k, stream, pdl); });
  IGNIS_CUDA_LAUNCH_CHECK("gemv_fp8_kernel (fused producer)");
}

}  // namespace ignis::kernels
