// ignis cuda: GEMM through cuBLASLt for linear layers, y = x . w^T with fp32 accumulation.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "core/dtype.h"
#include "cuda/device_buffer.h"

namespace ignis::cuda {

class Gemm {
 public:
  explicit Gemm(size_t workspace_bytes = 32u << 20);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // y (m, n) = x (m, k) . w (n, k)^T, all row-major. x and w of dtype `in` (F32, F16, BF16);
  // y of dtype `out` (= in, or F32). fp32 accumulation; F32 inputs use true fp32 (no TF32).
  // The algorithm of each (in, out, m, n, k) is chosen once by cuBLASLt's heuristic and kept,
  // so the call is capturable in a CUDA graph after its first (eager) use.
  void matmul(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream);

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  const Plan& plan(DType in, DType out, int m, int n, int k);

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int, int, int, int, int>, Plan> plans_;
};

}  // namespace ignis::cuda
