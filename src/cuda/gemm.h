// ignis cuda: GEMM through cuBLASLt for linear layers, y = x . w^T with fp32 accumulation; dense
// (F32 / F16 / BF16) or FP8 e4m3 with scales (the W8A8 product of kernels/fp8.h).
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
#include "kernels/fp8.h"

namespace ignis::cuda {

// What CudaModel's GEMM tuning times per shape: cuBLASLt's first candidates, timed runs each.
constexpr int kGemmTuneAlgos = 16, kGemmTuneIters = 2;

// What a GEMM plan depends on besides its shape.
struct GemmType {
  DType in = DType::BF16;   // x and w: F32, F16, BF16, or F8_E4M3 (then with scales)
  DType out = DType::BF16;  // y: = in or F32 for the dense types; F32 / F16 / BF16 for F8_E4M3
  kernels::Fp8Scaling scaling = kernels::Fp8Scaling::Channel;  // F8_E4M3 only
  bool fp8() const { return in == DType::F8_E4M3; }
  // The tuning cache's `in` field (gemm_cache.h): int(in) for the dense types (so files written
  // before FP8 stay valid), int(in) + 256 * (1 + int(scaling)) for FP8.
  int cache_code() const;
  static GemmType from_cache_code(int code, int out);
  bool operator==(const GemmType&) const = default;
};

// The operands of one call: x (m, k), w (n, k), y (m, n), row-major; sx / sw: the FP8 scales
// (kernels/fp8.h layouts; null for the dense types).
struct GemmOperands {
  const void* x = nullptr;
  const void* w = nullptr;
  void* y = nullptr;
  const float* sx = nullptr;
  const float* sw = nullptr;
};

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

  // The FP8 product: y (m, n) = (x8 (m, k) . w8 (n, k)^T) * scales, x8 / w8 e4m3, scales per
  // `scaling` (Channel: sx (m), sw (n); Block: sx (ceil(k / 128), m), sw (ceil(n / 128),
  // kernels::fp8_block_scale_ld(k))), y of dtype `out` (F32, F16, BF16), fp32 accumulation.
  // n and k multiples of 16; x8, w8, y (and the Block scales) 16-byte aligned. cuBLASLt's "TN"
  // layout with A = w8 (scale mode OUTER_VEC_32F / BLK128x128_32F) and B = x8 (OUTER_VEC_32F /
  // VEC128_32F). m not a multiple of 16 runs on m rounded up to 16 through the plan's own zeroed
  // buffers (x8 and sx copied in, y copied out: three more copies on the stream). Same plan cache,
  // tuning and graph-capture rules as matmul().
  void matmul_fp8(const void* x8, const float* sx, const void* w8, const float* sw, void* y, DType out, int m, int n,
                  int k, kernels::Fp8Scaling scaling, cudaStream_t stream);

  struct AlgoTime {
    cublasLtMatmulAlgo_t algo;
    float ms;  // mean of the timed runs
  };
  // Times the first `max_algos` candidates of cuBLASLt's heuristic for this shape (one warm-up
  // and `iters` timed runs each, y overwritten), fastest first; [0] of the heuristic order is what
  // matmul() uses untuned. Synchronizes `stream`; not while it is being captured.
  std::vector<AlgoTime> time_algos(const GemmType& type, const GemmOperands& ops, int m, int n, int k, int max_algos,
                                   int iters, cudaStream_t stream);
  std::vector<AlgoTime> time_algos(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k,
                                   int max_algos, int iters, cudaStream_t stream);
  // time_algos(max_algos, iters) for this exact shape, then the 4 fastest and the heuristic's first
  // choice re-timed in 5 interleaved rounds of 2 runs; if the fastest beats the heuristic's choice
  // by more than 2%, matmul() (matmul_fp8()) uses it for this (type, m, n, k) from now on.
  // Returns the heuristic's and the kept algorithm's times (ms).
  std::pair<float, float> tune(const GemmType& type, const GemmOperands& ops, int m, int n, int k, int max_algos,
                               int iters, cudaStream_t stream);
  std::pair<float, float> tune(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k,
                               int max_algos, int iters, cudaStream_t stream);

  // The algorithm matmul() uses for this shape (its plan made if needed), and a given one to use
  // from now on if cuBLASLt accepts it for the shape and the workspace (false, unchanged, if not).
  // For the tuning cache (gemm_cache.h).
  cublasLtMatmulAlgo_t algo(const GemmType& type, int m, int n, int k);
  bool use_algo(const GemmType& type, int m, int n, int k, const cublasLtMatmulAlgo_t& algo);
  cublasLtMatmulAlgo_t algo(DType in, DType out, int m, int n, int k) { return algo(GemmType{in, out}, m, n, k); }
  bool use_algo(DType in, DType out, int m, int n, int k, const cublasLtMatmulAlgo_t& a) {
    return use_algo(GemmType{in, out}, m, n, k, a);
  }
  // What a tuned choice depends on besides the shape: cuBLASLt's version and the workspace size.
  std::string library_key() const;

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    GemmType type;
    int m = 0, n = 0, k = 0;  // the caller's shape
    int rows = 0;             // rows cuBLASLt runs on: m, or (FP8) m rounded up to 16 through the buffers below
    DeviceBuffer xpad, sxpad, ypad;  // FP8 with rows > m: (rows, k) codes, x scales, (rows, n) y; zeroed
  };
  Plan& plan(const GemmType& type, int m, int n, int k);
  void destroy(Plan& p);
  void run(Plan& p, const cublasLtMatmulAlgo_t& algo, const GemmOperands& o,
           cudaStream_t stream);  // launch(), throwing on failure
  // One product with `algo`; FP8: sets the plan's scale pointers and does the padding copies.
  cublasStatus_t launch(Plan& p, const cublasLtMatmulAlgo_t& algo, const GemmOperands& o, cudaStream_t stream);
  float time_algo(Plan& p, const cublasLtMatmulAlgo_t& algo, const GemmOperands& o, int iters,
                  cudaStream_t stream);  // mean ms of `iters` runs

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int, int, int, int, int>, Plan> plans_;
};

}  // namespace ignis::cuda
