#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/pdl.cuh"
#include "kernels/rmsnorm.h"

namespace ignis::kernels {

template <class T>
__global__ void add_rmsnorm_kernel(float* __restrict__ residual, const T* __restrict__ add, const T* __restrict__ bias,
                                   const T* __restrict__ weight, T* __restrict__ out,
                                   const int32_t* __restrict__ rows, int hidden, float eps) {
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
  T* o = out + size_t(i) * hidden;
  // Each thread re-reads only the elements it wrote itself: no barrier needed.
  for (int j = threadIdx.x; j < hidden; j += blockDim.x)
    o[j] = from_f<T>(to_f(weight[j]) * round_to<T>(x[j] * inv));
}

void add_rmsnorm(DType dtype, float* residual, const void* add, const void* add_bias, const void* weight, void* out,
                 const int32_t* rows, int n, int hidden, float eps, cudaStream_t stream) {
  if (n <= 0) return;
  const int threads = hidden >= 2048 ? 512 : (hidden >= 512 ? 256 : 128);
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    add_rmsnorm_kernel<T><<<n, threads, 0, stream>>>(residual, static_cast<const T*>(add), static_cast<const T*>(add_bias),
                                                     static_cast<const T*>(weight), static_cast<T*>(out),
                                                     rows, hidden, eps);
  });
  IGNIS_CUDA_LAUNCH_CHECK("add_rmsnorm_kernel");
}

}  // namespace ignis::kernels
