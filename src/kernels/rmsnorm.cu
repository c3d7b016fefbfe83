#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_quant.cuh"
#include "kernels/pdl.cuh"
#include "kernels/rmsnorm.h"

#include <algorithm>
#include <cstdint>

namespace ignis::kernels {

template <class T>
__global__ void add_rmsnorm_kernel(float* __restrict__ residual, const T* __restrict__ add, const T* __restrict__ bias,
                                   const T* __restrict__ weight, T* __restrict__ out,
                                   const int32_t* __restrict__ rows, int hidden, float eps, Fp8Out q) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int i = blockIdx.x;
  const int r = rows ? rows[i] : i;
  float* x = residual + size_t(r) * hidden;
  float ss = 0.0f;
  if (add) {
    const T* a = add + size_t(r) * hidden;
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
      float v = x[j] + (bias ? round_to<T>(to_f(a[j]) + to_f(bias[j])) : to_f(a[j]));
      x[j] = v;
      ss += v * v;
    }
  } else {
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
      float v = x[j];
      ss += v * v;
    }
  }
  const float inv = rsqrtf(block_sum(ss) / float(hidden) + eps);
  // Each thread re-reads only the elements it wrote itself: no barrier needed.
  if (out) {
    T* o = out + size_t(i) * hidden;
    for (int j = threadIdx.x; j < hidden; j += blockDim.x)
      o[j] = from_f<T>(to_f(weight[j]) * round_to<T>(x[j] * inv));
  }
  // The FP8 writer reads elements other threads wrote: visible, block_sum's barriers come after
  // every write of the residual.
  if (q.data)
    fp8_write_row_strided([&](int j) { return round_to<T>(to_f(weight[j]) * round_to<T>(x[j] * inv)); }, i, hidden,
                          int(gridDim.x), q);
}

// The same for 16-bit T with hidden % 8 == 0 and hidden <= 8 * V * blockDim.x: each thread keeps
// its V vectors of 8 values in registers (one 32-byte fp32 residual load, one 16-byte load of the
// addend, and of the weight, which is fetched before the block reduction), so a row costs one
// round trip to memory instead of a strided loop and a re-read. Same fp32 arithmetic as above.
template <class T, int V>
__global__ void __launch_bounds__(1024)
    add_rmsnorm_vec_kernel(float* __restrict__ residual, const T* __restrict__ add, const T* __restrict__ bias,
                           const T* __restrict__ weight, T* __restrict__ out, const int32_t* __restrict__ rows,
                           int hidden, float eps, Fp8Out q) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int i = blockIdx.x;
  const int r = rows ? rows[i] : i;
  const int nv = hidden / 8;
  float4* x = reinterpret_cast<float4*>(residual + size_t(r) * hidden);
  float v[V][8];
  uint4 wv[V];
  float ss = 0.0f;
#pragma unroll
  for (int u = 0; u < V; ++u) {
    const int j = threadIdx.x + u * blockDim.x;
    if (j >= nv) continue;
    const float4 x0 = x[2 * j], x1 = x[2 * j + 1];
    v[u][0] = x0.x, v[u][1] = x0.y, v[u][2] = x0.z, v[u][3] = x0.w;
    v[u][4] = x1.x, v[u][5] = x1.y, v[u][6] = x1.z, v[u][7] = x1.w;
    wv[u] = reinterpret_cast<const uint4*>(weight)[j];
    if (add) {
      float a[8];
      unpack8<T>(reinterpret_cast<const uint4*>(add + size_t(r) * hidden)[j], a);
      if (bias) {
        float b[8];
        unpack8<T>(reinterpret_cast<const uint4*>(bias)[j], b);
#pragma unroll
        for (int e = 0; e < 8; ++e) a[e] = round_to<T>(a[e] + b[e]);
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) v[u][e] += a[e];
      x[2 * j] = make_float4(v[u][0], v[u][1], v[u][2], v[u][3]);
      x[2 * j + 1] = make_float4(v[u][4], v[u][5], v[u][6], v[u][7]);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += v[u][e] * v[u][e];
  }
  const float inv = rsqrtf(block_sum(ss) / float(hidden) + eps);
  uint4* o = reinterpret_cast<uint4*>(out + size_t(i) * hidden);
#pragma unroll
  for (int u = 0; u < V; ++u) {
    const int j = threadIdx.x + u * blockDim.x;
    if (j >= nv) continue;
    float w[8];
    unpack8<T>(wv[u], w);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[u][e] = round_to<T>(w[e] * round_to<T>(v[u][e] * inv));  // out's values
    if (out) o[j] = pack8<T>(v[u]);
  }
  if (q.data) fp8_write_row_vec<V>(v, nv, i, hidden, int(gridDim.x), q);
}

void add_rmsnorm(DType dtype, float* residual, const void* add, const void* add_bias, const void* weight, void* out,
                 const int32_t* rows, int n, int hidden, float eps, cudaStream_t stream, const Fp8Out& fp8) {
  if (n <= 0) return;
  if (fp8) check_fp8_out(fp8, n, hidden, "add_rmsnorm");
  IGNIS_KCHECK(out || fp8, "add_rmsnorm: neither a dtype nor an FP8 output");
  const int nv = hidden / 8;
  if ((dtype == DType::BF16 || dtype == DType::F16) && hidden > 0 && hidden % 8 == 0 && nv <= 2 * 1024 &&
      aligned16(residual) && aligned16(add) && aligned16(add_bias) && aligned16(weight) && aligned16(out) &&
      uintptr_t(fp8.data) % 8 == 0) {
    const bool one = nv <= 1024;  // one vector of 8 per thread, else two
    const int threads = ((one ? nv : (nv + 1) / 2) + 31) / 32 * 32;
    IGNIS_DISPATCH_HALF(dtype, T, {
      auto kernel = one ? add_rmsnorm_vec_kernel<T, 1> : add_rmsnorm_vec_kernel<T, 2>;
      kernel<<<n, threads, 0, stream>>>(residual, static_cast<const T*>(add), static_cast<const T*>(add_bias),
                                        static_cast<const T*>(weight), static_cast<T*>(out), rows, hidden, eps, fp8);
    });
    IGNIS_CUDA_LAUNCH_CHECK("add_rmsnorm_vec_kernel");
    return;
  }
  const int threads = hidden >= 2048 ? 512 : (hidden >= 512 ? 256 : 128);
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    add_rmsnorm_kernel<T><<<n, threads, 0, stream>>>(residual, static_cast<const T*>(add), static_cast<const T*>(add_bias),
                                                     static_cast<const T*>(weight), static_cast<T*>(out),
                                                     rows, hidden, eps, fp8);
  });
  IGNIS_CUDA_LAUNCH_CHECK("add_rmsnorm_kernel");
}

}  // namespace ignis::kernels
