#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fill.h"

#include <algorithm>

namespace ignis::kernels {

namespace {

// splitmix64 finalizer: a well-mixed 64-bit hash of the element index and seed
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class T>
__global__ void fill_uniform_kernel(T* __restrict__ p, size_t n, float scale, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint32_t r = uint32_t(mix64(seed * 0x9e3779b97f4a7c15ull + i) >> 40);  // 24 random bits
    p[i] = from_f<T>(scale * (float(r) * (2.0f / 16777216.0f) - 1.0f));
  }
}

}  // namespace

void fill_uniform(DType dtype, void* p, size_t n, float scale, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  const int blocks = int(std::min<size_t>((n + 255) / 256, 4096));
  IGNIS_DISPATCH_FLOAT(dtype, T, { fill_uniform_kernel<T><<<blocks, 256, 0, stream>>>(static_cast<T*>(p), n, scale, seed); });
  IGNIS_CUDA_LAUNCH_CHECK("fill_uniform_kernel");
}

}  // namespace ignis::kernels
