#include <string>

#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_quant.cuh"
#include "kernels/fp8_quantize.h"
#include "kernels/pdl.cuh"

namespace ignis::kernels {

void check_fp8_out(const Fp8Out& q, int rows, int cols, const char* who) {
  const std::string w = std::string(who) + ": FP8 output ";
  IGNIS_KCHECK(q.data != nullptr && q.scale != nullptr, w + "needs data and scale pointers");
  IGNIS_KCHECK(q.group == 0 || q.group == kFp8Group,
               w + "group " + std::to_string(q.group) + " (0 or " + std::to_string(kFp8Group) + " only)");
  IGNIS_KCHECK(q.scale_ld == 0 || q.scale_ld >= rows,
               w + "scale_ld " + std::to_string(q.scale_ld) + " below the row count " + std::to_string(rows));
  IGNIS_KCHECK(cols > 0, w + "with " + std::to_string(cols) + " columns");
}

namespace {

// grid (m), block (32 * ceil(nv / V / 32)): row blockIdx.x in registers, V vectors of 8 per thread.
template <class T, int V>
__global__ void __launch_bounds__(1024)
    quantize_rows_vec_kernel(const T* __restrict__ x, int64_t ld, int m, int k, Fp8Out q) {
  pdl_launch_dependents();  // a PDL-launched GEMV may start streaming its weights
  const int row = blockIdx.x, nv = k / 8;
  const uint4* xr = reinterpret_cast<const uint4*>(x + row * ld);
  float v[V][8];
#pragma unroll
  for (int u = 0; u < V; ++u) {
    const int j = threadIdx.x + u * blockDim.x;
    if (j < nv) unpack8<T>(xr[j], v[u]);
  }
  fp8_write_row_vec<V>(v, nv, row, k, m, q);
}

// grid (m), any k / ld / alignment.
template <class T>
__global__ void quantize_rows_kernel(const T* __restrict__ x, int64_t ld, int m, int k, Fp8Out q) {
  pdl_launch_dependents();
  const T* xr = x + blockIdx.x * ld;
  fp8_write_row_strided([&](int j) { return to_f(xr[j]); }, blockIdx.x, k, m, q);
}

template <class T, int V>
void launch_vec(const void* x, int64_t ld, int m, int k, const Fp8Out& q, cudaStream_t s) {
  const int nv = k / 8, threads = ((nv + V - 1) / V + 31) / 32 * 32;
  quantize_rows_vec_kernel<T, V><<<m, threads, 0, s>>>(static_cast<const T*>(x), ld, m, k, q);
}

}  // namespace

void quantize_rows_fp8(DType dtype, const void* x, int64_t ld, int m, int k, const Fp8Out& q, cudaStream_t stream) {
  if (m <= 0) return;
  check_fp8_out(q, m, k, "quantize_rows_fp8");
  IGNIS_KCHECK(ld >= k, "quantize_rows_fp8: ld " + std::to_string(ld) + " < k " + std::to_string(k));
  const bool half = dtype == DType::BF16 || dtype == DType::F16;
  const int nv = k / 8;
  if (half && k % 8 == 0 && ld % 8 == 0 && nv <= 4 * 1024 && aligned16(x) && uintptr_t(q.data) % 8 == 0) {
    IGNIS_DISPATCH_HALF(dtype, T, {
      if (nv <= 1024)
        launch_vec<T, 1>(x, ld, m, k, q, stream);
      else if (nv <= 2048)
        launch_vec<T, 2>(x, ld, m, k, q, stream);
      else
        launch_vec<T, 4>(x, ld, m, k, q, stream);
    });
    IGNIS_CUDA_LAUNCH_CHECK("quantize_rows_vec_kernel");
    return;
  }
  const int threads = k >= 2048 ? 512 : (k >= 512 ? 256 : 128);
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    quantize_rows_kernel<T><<<m, threads, 0, stream>>>(static_cast<const T*>(x), ld, m, k, q);
  });
  IGNIS_CUDA_LAUNCH_CHECK("quantize_rows_kernel");
}

}  // namespace ignis::kernels
