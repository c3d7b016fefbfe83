#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/medusa.h"

namespace ignis::kernels {

template <class T>
__global__ void medusa_input_kernel(const float* __restrict__ h, size_t n, float* __restrict__ x32, T* __restrict__ x) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float v = h[i];
    x32[i] = v;
    x[i] = from_f<T>(v);
  }
}

template <class T>
__global__ void medusa_resblock_kernel(const float* __restrict__ y, const float* __restrict__ bias, size_t n,
                                       int hidden, float* __restrict__ x32, T* __restrict__ x) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float t = y[i] + bias[i % size_t(hidden)];
    const float v = x32[i] + t / (1.0f + expf(-t));
    x32[i] = v;
    x[i] = from_f<T>(v);
  }
}

namespace {
int grid_for(size_t n) { return int(std::min<size_t>((n + 255) / 256, 4096)); }
}  // namespace

void medusa_input(DType dtype, const float* h, int n, int hidden, float* x32, void* x, cudaStream_t stream) {
  const size_t total = size_t(n) * size_t(hidden);
  if (total == 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    medusa_input_kernel<T><<<grid_for(total), 256, 0, stream>>>(h, total, x32, static_cast<T*>(x));
  });
  IGNIS_CUDA_LAUNCH_CHECK("medusa_input_kernel");
}

void medusa_resblock(DType dtype, const float* y, const float* bias, int n, int hidden, float* x32, void* x,
                     cudaStream_t stream) {
  const size_t total = size_t(n) * size_t(hidden);
  if (total == 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    medusa_resblock_kernel<T><<<grid_for(total), 256, 0, stream>>>(y, bias, total, hidden, x32, static_cast<T*>(x));
  });
  IGNIS_CUDA_LAUNCH_CHECK("medusa_resblock_kernel");
}

}  // namespace ignis::kernels
