#include <cstdint>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/gemv.h"
#include "kernels/pdl.cuh"

namespace ignis::kernels {

namespace {

constexpr int kWarps = 8;   // rows (warps) per block
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane

// grid (ceil(n / kWarps)), block (32 * kWarps). Warp w of block b computes row b * kWarps + w of y
// for all M inputs: lanes stride over k in 16-byte vectors (8 values).
template <class T, class TO, int M>
__global__ void __launch_bounds__(32 * kWarps) gemv_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                           TO* __restrict__ y, int n, int k) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (row >= n) {
    pdl_wait();  // exit only after the previous kernel, like every other warp
    return;
  }
  const int kv = k / 8;  // 16-byte vectors per row
  const uint4* wr = reinterpret_cast<const uint4*>(w + size_t(row) * k);
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  // The weights do not depend on the previous kernel: the first loads are issued before waiting
  // for it (PDL), so the weight stream starts while it finishes.
  uint4 wv[kUnroll];
  if (lane + 32 * (kUnroll - 1) < kv)
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = load_stream(wr + lane + 32 * u);
  pdl_wait();  // x is the previous kernel's output
  int v = lane;
  for (; v + 32 * (kUnroll - 1) < kv; v += 32 * kUnroll) {
    if (v != lane)
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) wv[u] = load_stream(wr + v + 32 * u);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float wf[8];
      unpack8<T>(wv[u], wf);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        float xf[8];
        unpack8<T>(__ldg(xr + size_t(m) * kv + v + 32 * u), xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[m] = fmaf(wf[i], xf[i], acc[m]);
      }
    }
  }
  for (; v < kv; v += 32) {
    float wf[8];
    unpack8<T>(load_stream(wr + v), wf);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float xf[8];
      unpack8<T>(__ldg(xr + size_t(m) * kv + v), xf);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[m] = fmaf(wf[i], xf[i], acc[m]);
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float s = warp_sum(acc[m]);
    if (lane == 0) y[size_t(m) * n + row] = from_f<TO>(s);
  }
}

template <class T, class TO, int M>
void launch_m(const T* x, const T* w, TO* y, int n, int k, cudaStream_t s, bool pdl) {
  launch_pdl(pdl, gemv_kernel<T, TO, M>, dim3((n + kWarps - 1) / kWarps), dim3(32 * kWarps), 0, s, x, w, y, n, k);
}

template <class T, class TO>
void launch(const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t s, bool pdl) {
  const T* xp = static_cast<const T*>(x);
  const T* wp = static_cast<const T*>(w);
  TO* yp = static_cast<TO*>(y);
  switch (m) {
    case 1: launch_m<T, TO, 1>(xp, wp, yp, n, k, s, pdl); break;
    case 2: launch_m<T, TO, 2>(xp, wp, yp, n, k, s, pdl); break;
    case 3: launch_m<T, TO, 3>(xp, wp, yp, n, k, s, pdl); break;
    default: launch_m<T, TO, 4>(xp, wp, yp, n, k, s, pdl); break;
  }
}

}  // namespace

bool gemv_supported(DType in, DType out, const void* x, const void* w, int m, int k) {
  return m >= 1 && m <= kGemvMaxM && (in == DType::BF16 || in == DType::F16) && (out == in || out == DType::F32) &&
         k % 8 == 0 && aligned16(x) && aligned16(w);
}

void gemv(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream,
          bool pdl) {
  IGNIS_KCHECK(gemv_supported(in, out, x, w, m, k), "gemv: unsupported case (m 1-4, f16/bf16, k % 8 == 0, aligned)");
  if (n <= 0) return;
  IGNIS_DISPATCH_HALF(in, T, {
    if (out == DType::F32)
      launch<T, float>(x, w, y, m, n, k, stream, pdl);
    else
      launch<T, T>(x, w, y, m, n, k, stream, pdl);
  });
  IGNIS_CUDA_LAUNCH_CHECK("gemv_kernel");
}

}  // namespace ignis::kernels
