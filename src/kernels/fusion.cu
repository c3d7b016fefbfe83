#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fusion.h"

namespace ignis::kernels {

template <class T>
__global__ void fusion_concat_kernel(const int32_t* __restrict__ tokens, const T* __restrict__ table, int vocab,
                                     int hidden, const float* __restrict__ features, T* __restrict__ out) {
  const int row = blockIdx.x;
  const int tok = tokens[row];
  T* o = out + size_t(row) * 2 * hidden;
  const float* f = features + size_t(row) * hidden;
  const bool ok = tok >= 0 && tok < vocab;
  const T* e = table + size_t(ok ? tok : 0) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    o[i] = ok ? e[i] : from_f<T>(0.0f);
    o[hidden + i] = from_f<T>(f[i]);
  }
}

template <class T>
__global__ void fusion_bias_residual_kernel(const float* y, const T* __restrict__ bias, int hidden, float* residual,
                                            T* __restrict__ x) {
  const size_t base = size_t(blockIdx.x) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    const T v = from_f<T>(y[base + i] + (bias ? to_f(bias[i]) : 0.0f));
    x[base + i] = v;
    residual[base + i] = to_f(v);
  }
}

template <class T>
__global__ void add_gather_rows_kernel(float* __restrict__ residual, const T* __restrict__ add,
                                       const int32_t* __restrict__ rows, int hidden, T* __restrict__ out) {
  const int i = blockIdx.x;
  const size_t r = size_t(rows[i]) * hidden;
  T* o = out + size_t(i) * hidden;
  for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
    const float v = residual[r + j] + to_f(add[r + j]);
    residual[r + j] = v;
    o[j] = from_f<T>(v);
  }
}

void fusion_concat(DType dtype, const int32_t* tokens, int n, const void* table, int vocab, int hidden,
                   const float* features, void* out, cudaStream_t stream) {
  if (n <= 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    fusion_concat_kernel<T><<<n, 256, 0, stream>>>(tokens, static_cast<const T*>(table), vocab, hidden, features,
                                                   static_cast<T*>(out));
  });
  IGNIS_CUDA_LAUNCH_CHECK("fusion_concat_kernel");
}

void fusion_bias_residual(DType dtype, const float* y, const void* bias, int n, int hidden, float* residual, void* x,
                          cudaStream_t stream) {
  if (n <= 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    fusion_bias_residual_kernel<T><<<n, 256, 0, stream>>>(y, static_cast<const T*>(bias), hidden, residual,
                                                          static_cast<T*>(x));
  });
  IGNIS_CUDA_LAUNCH_CHECK("fusion_bias_residual_kernel");
}

void add_gather_rows(DType dtype, float* residual, const void* add, const int32_t* rows, int n, int hidden, void* out,
                     cudaStream_t stream) {
  if (n <= 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    add_gather_rows_kernel<T><<<n, 256, 0, stream>>>(residual, static_cast<const T*>(add), rows, hidden,
                                                     static_cast<T*>(out));
  });
  IGNIS_CUDA_LAUNCH_CHECK("add_gather_rows_kernel");
}

}  // namespace ignis::kernels
