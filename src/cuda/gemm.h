// ignis cuda: GEMM through cuBLASLt for linear layers, y = x . w^T with fp32 accumulation.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"

namespace ignis::cuda {

// What CudaModel's GEMM tuning times per shape: cuBLASLt's first candidates, timed runs each.
constexpr int kGemmTuneAlgos = 16, kGemmTuneIters = 2;

class Gemm {
 public:
  explicit Gemm(size_t workspace_bytes = 32u << 20);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // y (m, n) = x (m, k) . w (n, k)^T, all row-major. x and w of dtype `in` (F32, F16, BF16);
  // y of dtype `out` (= in, or F32). fp32 accumulation; F32 inputs use true fp32 (no TF32).
  // The algorithm of each (in, out, m, n, k) is chosen once (cuBLASLt's heuristic, or the fastest
  // candidate if tune() timed the shape) and kept, so the call is capturable in a CUDA graph
  // after its first (eager) use.
  void matmul(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k, cudaStream_t stream);

  struct AlgoTime {
    cublasLtMatmulAlgo_t algo;
    float ms;  // mean of the timed runs
  };
  // Times the first `max_algos` candidates of cuBLASLt's heuristic for this shape (one warm-up
  // and `iters` timed runs each, y overwritten), fastest first; [0] of the heuristic order is what
  // matmul() uses untuned. Synchronizes `stream`; not while it is being captured.
  std::vector<AlgoTime> time_algos(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k,
                                   int max_algos, int iters, cudaStream_t stream);
  // time_algos(max_algos, iters) for this exact shape, then the 4 fastest and the heuristic's first
  // choice re-timed in 5 interleaved rounds of 2 runs; if the fastest beats the heuristic's choice
  // by more than 2%, matmul() uses it for this (in, out, m, n, k) from now on.
  // Returns the heuristic's and the kept algorithm's times (ms).
  std::pair<float, float> tune(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k,
                               int max_algos, int iters, cudaStream_t stream);

  // The algorithm matmul() uses for this shape (its plan made if needed), and a given one to use
  // from now on if cuBLASLt accepts it for the shape and the workspace (false, unchanged, if not).
  // For the tuning cache (gemm_cache.h).
  cublasLtMatmulAlgo_t algo(DType in, DType out, int m, int n, int k);
  bool use_algo(DType in, DType out, int m, int n, int k, const cublasLtMatmulAlgo_t& algo);
  // What a tuned choice depends on besides the shape: cuBLASLt's version and the workspace size.
  std::string library_key() const;

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  Plan& plan(DType in, DType out, int m, int n, int k);
  void destroy(Plan& p);
  void run(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* x, const void* w, void* y,
           cudaStream_t stream);  // launch(), throwing on failure
  cublasStatus_t launch(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* x, const void* w, void* y,
                        cudaStream_t stream);
  float time_algo(const Plan& p, const cublasLtMatmulAlgo_t& algo, const void* x, const void* w, void* y, int iters,
                  cudaStream_t stream);  // mean ms of `iters` runs

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int, int, int, int, int>, Plan> plans_;
};

}  // namespace ignis::cuda
