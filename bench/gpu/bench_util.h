// Helpers shared by the GPU kernel benchmarks (bench/gpu): random bf16 fill, event timing, and the
// dense bf16 GEMM rate measured in the same process (the tensor-core ceiling figures are compared with).
#pragma once
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
#include "cuda/gemm.h"
#include "kernels/cuda_check.h"

namespace ignis::bench {

// Fills a device buffer of bf16 with values uniform in [-r, r] (a random 4M-element pattern, repeated).
inline void fill_bf16(cuda::DeviceBuffer& b, float r, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-r, r);
  std::vector<uint16_t> pat(size_t(1) << 22);
  for (auto& x : pat) x = f32_to_bf16(d(rng));
  const size_t n = b.bytes() / 2;
  for (size_t off = 0; off < n; off += pat.size()) {
    const size_t k = std::min(pat.size(), n - off);
    IGNIS_CUDA_CHECK(cudaMemcpy(b.as<uint16_t>() + off, pat.data(), k * 2, cudaMemcpyHostToDevice));
  }
}

// Mean milliseconds of one call of f over `iters` calls on the default stream (CUDA events).
template <class F>
double time_ms(int iters, F&& f) {
  cudaEvent_t e0, e1;
  IGNIS_CUDA_CHECK(cudaEventCreate(&e0));
  IGNIS_CUDA_CHECK(cudaEventCreate(&e1));
  IGNIS_CUDA_CHECK(cudaEventRecord(e0, nullptr));
  for (int i = 0; i < iters; ++i) f();
  IGNIS_CUDA_CHECK(cudaEventRecord(e1, nullptr));
  IGNIS_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  IGNIS_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  IGNIS_CUDA_CHECK(cudaEventDestroy(e0));
  IGNIS_CUDA_CHECK(cudaEventDestroy(e1));
  return double(ms) / iters;
}

// Dense bf16 GEMM rate of this device now (cuBLASLt, 8192^3, fp32 accumulation, random data), TFLOP/s.
inline double gemm_tflops(int iters) {
  constexpr int n = 8192;
  cuda::DeviceBuffer x(size_t(n) * n * 2, "gemm x"), w(size_t(n) * n * 2, "gemm w"), y(size_t(n) * n * 2, "gemm y");
  fill_bf16(x, 1.0f, 4);
  fill_bf16(w, 1.0f, 5);
  cuda::Gemm gemm;
  for (int i = 0; i < 3; ++i) gemm.matmul(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), n, n, n, nullptr);
  const double ms = time_ms(iters, [&] {
    gemm.matmul(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), n, n, n, nullptr);
  });
  return 2.0 * n * n * double(n) / (ms * 1e-3) / 1e12;
}

}  // namespace ignis::bench
