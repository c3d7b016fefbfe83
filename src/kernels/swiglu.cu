#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/swiglu.h"

#include <algorithm>

namespace ignis::kernels {

template <class T>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int n, int inter) {
  const size_t total = size_t(n) * inter;
  for (size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += size_t(gridDim.x) * blockDim.x) {
    const size_t row = idx / inter, col = idx % inter;
    const float g = to_f(gate_up[row * 2 * inter + col]);
    const float u = to_f(gate_up[row * 2 * inter + inter + col]);
    out[idx] = from_f<T>(g / (1.0f + expf(-g)) * u);
  }
}

void silu_mul(DType dtype, const void* gate_up, void* out, int n, int inter, cudaStream_t stream) {
  if (n <= 0) return;
  const size_t total = size_t(n) * inter;
  const int threads = 256;
  const int blocks = int(std::min<size_t>((total + threads - 1) / threads, 132 * 16));
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    silu_mul_kernel<T><<<blocks, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), n, inter);
  });
  IGNIS_CUDA_LAUNCH_CHECK("silu_mul_kernel");
}

}  // namespace ignis::kernels
