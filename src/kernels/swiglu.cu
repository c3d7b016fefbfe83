#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/pdl.cuh"
#include "kernels/swiglu.h"

#include <algorithm>
#include <cstdint>

namespace ignis::kernels {

namespace {

// VEC values of T in one aligned load / store (16 bytes when VEC * sizeof(T) == 16).
template <class T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

// grid (ceil(inter / (VEC * blockDim.x)), min(n, 65535)), rows strided by gridDim.y: no 64-bit
// division per element. gate_up (n, 2 * inter) -> out (n, inter).
template <class T, int VEC>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int n, int inter) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int col = (blockIdx.x * blockDim.x + threadIdx.x) * VEC;
  if (col >= inter) return;
  for (int row = blockIdx.y; row < n; row += gridDim.y) {
    const T* g = gate_up + size_t(row) * 2 * inter + col;
    const Pack<T, VEC> gv = *reinterpret_cast<const Pack<T, VEC>*>(g);
    const Pack<T, VEC> uv = *reinterpret_cast<const Pack<T, VEC>*>(g + inter);
    Pack<T, VEC> o;
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      const float x = to_f(gv.v[i]);
      o.v[i] = from_f<T>(x / (1.0f + expf(-x)) * to_f(uv.v[i]));
    }
    *reinterpret_cast<Pack<T, VEC>*>(out + size_t(row) * inter + col) = o;
  }
}

template <class T, int VEC>
void launch(const void* gate_up, void* out, int n, int inter, cudaStream_t stream) {
  const int threads = 128;
  const dim3 grid((inter / VEC + threads - 1) / threads, std::min(n, 65535));
  silu_mul_kernel<T, VEC><<<grid, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), n, inter);
}

}  // namespace

void silu_mul(DType dtype, const void* gate_up, void* out, int n, int inter, cudaStream_t stream) {
  if (n <= 0 || inter <= 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    constexpr int kVec = 16 / int(sizeof(T));  // 8 halves or 4 floats per 16 bytes
    const bool vec = inter % kVec == 0 && aligned16(gate_up) && aligned16(out);
    if (vec)
      launch<T, kVec>(gate_up, out, n, inter, stream);
    else
      launch<T, 1>(gate_up, out, n, inter, stream);
  });
  IGNIS_CUDA_LAUNCH_CHECK("silu_mul_kernel");
}

}  // namespace ignis::kernels
