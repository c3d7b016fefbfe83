#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_quant.cuh"
#include "kernels/pdl.cuh"
#include "kernels/swiglu.h"

#include <algorithm>
#include <cstdint>

namespace ignis::kernels {

namespace {

// silu(g) * u in fp32 (the caller rounds it to the activation dtype).
__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.0f + expf(-g)) * u; }

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
      o.v[i] = from_f<T>(silu_times(x, to_f(uv.v[i])));
    }
    *reinterpret_cast<Pack<T, VEC>*>(out + size_t(row) * inter + col) = o;
  }
}

// FP8 output: grid (n), block (32 * ceil(inter / 8 / V / 32)); row blockIdx.x in registers, V
// vectors of 8 per thread. out (n, inter) may be null.
template <class T, int V>
__global__ void __launch_bounds__(1024)
    silu_mul_fp8_vec_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int n, int inter, Fp8Out q) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int row = blockIdx.x, nv = inter / 8;
  const uint4* g = reinterpret_cast<const uint4*>(gate_up + size_t(row) * 2 * inter);
  const uint4* up = g + nv;
  uint4* o = reinterpret_cast<uint4*>(out + size_t(row) * inter);
  float v[V][8];
#pragma unroll
  for (int u = 0; u < V; ++u) {
    const int j = threadIdx.x + u * blockDim.x;
    if (j >= nv) continue;
    float gf[8], uf[8];
    unpack8<T>(g[j], gf);
    unpack8<T>(up[j], uf);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[u][e] = round_to<T>(silu_times(gf[e], uf[e]));  // out's values
    if (out) o[j] = pack8<T>(v[u]);
  }
  fp8_write_row_vec<V>(v, nv, row, inter, n, q);
}

// FP8 output, any dtype / inter / alignment: grid (n), strided over the row (values computed twice).
template <class T>
__global__ void silu_mul_fp8_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int n, int inter, Fp8Out q) {
  pdl_launch_dependents();
  const int row = blockIdx.x;
  const T* g = gate_up + size_t(row) * 2 * inter;
  auto value = [&](int j) { return round_to<T>(silu_times(to_f(g[j]), to_f(g[inter + j]))); };
  if (out)
    for (int j = threadIdx.x; j < inter; j += blockDim.x) out[size_t(row) * inter + j] = from_f<T>(value(j));
  fp8_write_row_strided(value, row, inter, n, q);
}

template <class T, int V>
void launch_fp8_vec(const void* gate_up, void* out, int n, int inter, const Fp8Out& q, cudaStream_t stream) {
  const int nv = inter / 8, threads = ((nv + V - 1) / V + 31) / 32 * 32;
  silu_mul_fp8_vec_kernel<T, V><<<n, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), n,
                                                           inter, q);
}

template <class T, int VEC>
void launch(const void* gate_up, void* out, int n, int inter, cudaStream_t stream) {
  const int threads = 128;
  const dim3 grid((inter / VEC + threads - 1) / threads, std::min(n, 65535));
  silu_mul_kernel<T, VEC><<<grid, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), n, inter);
}

}  // namespace

void silu_mul(DType dtype, const void* gate_up, void* out, int n, int inter, cudaStream_t stream, const Fp8Out& fp8) {
  if (n <= 0 || inter <= 0) return;
  if (fp8) {
    check_fp8_out(fp8, n, inter, "silu_mul");
    const int nv = inter / 8;
    if ((dtype == DType::BF16 || dtype == DType::F16) && inter % 8 == 0 && nv <= 4 * 1024 && aligned16(gate_up) &&
        aligned16(out) && uintptr_t(fp8.data) % 8 == 0) {
      IGNIS_DISPATCH_HALF(dtype, T, {
        if (nv <= 1024)
          launch_fp8_vec<T, 1>(gate_up, out, n, inter, fp8, stream);
        else if (nv <= 2048)
          launch_fp8_vec<T, 2>(gate_up, out, n, inter, fp8, stream);
        else
          launch_fp8_vec<T, 4>(gate_up, out, n, inter, fp8, stream);
      });
      IGNIS_CUDA_LAUNCH_CHECK("silu_mul_fp8_vec_kernel");
      return;
    }
    const int threads = inter >= 2048 ? 512 : (inter >= 512 ? 256 : 128);
    IGNIS_DISPATCH_FLOAT(dtype, T, {
      silu_mul_fp8_kernel<T><<<n, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), n,
                                                         inter, fp8);
    });
    IGNIS_CUDA_LAUNCH_CHECK("silu_mul_fp8_kernel");
    return;
  }
  IGNIS_KCHECK(out != nullptr, "silu_mul: neither a dtype nor an FP8 output");
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
