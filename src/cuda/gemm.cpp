#include "cuda/gemm.h"

#include "core/error.h"

namespace ignis::cuda {
namespace {

#define IGNIS_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                             \
    cublasStatus_t st_ = (call);                                                                   \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      IGNIS_FAIL("cuBLASLt error at {}:{}: {} failed: {} ({})", __FILE__, __LINE__, #call,         \
                 cublasLtGetStatusString(st_), cublasLtGetStatusName(st_));                        \
  } while (0)

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: IGNIS_FAIL("gemm: unsupported dtype {}", dtype_name(t));
  }
}

}  // namespace

Gemm::Gemm(size_t workspace_bytes) : workspace_(workspace_bytes, "cuBLASLt workspace") {
  IGNIS_CUBLAS_CHECK(cublasLtCreate(&handle_));
}

Gemm::~Gemm() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.op);
  }
  if (handle_) cublasLtDestroy(handle_);
}

const Gemm::Plan& Gemm::plan(DType in, DType out, int m, int n, int k) {
  auto key = std::make_tuple(int(in), int(out), m, n, k);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  IGNIS_CHECK(out == in || out == DType::F32, "gemm: output dtype {} with input {}", dtype_name(out), dtype_name(in));
  Plan p;
  const cudaDataType_t ti = cuda_type(in), to = cuda_type(out);
  IGNIS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  IGNIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  IGNIS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  // Column-major view: w (n, k) row-major is (k, n) col-major, used transposed; x (m, k)
  // row-major is (k, m) col-major; y (m, n) row-major is (n, m) col-major.
  IGNIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, ti, k, n, k));
  IGNIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, ti, k, m, k));
  IGNIS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, to, n, m, n));
  cublasLtMatmulPreference_t pref = nullptr;
  IGNIS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = workspace_.bytes();
  IGNIS_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.c, p.c, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.op);
    IGNIS_FAIL("gemm: cuBLASLt has no algorithm for {} x {} x {} ({} -> {}): {}", m, n, k, dtype_name(in),
               dtype_name(out), cublasLtGetStatusString(st));
  }
  p.algo = res.algo;
  return plans_.emplace(key, p).first->second;
}

void Gemm::matmul(DType in, DType out, const void* x, const void* w, void* y, int m, int n, int k,
                  cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  const Plan& p = plan(in, out, m, n, k);
  const float alpha = 1.0f, beta = 0.0f;
  IGNIS_CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                    workspace_.get(), workspace_.bytes(), stream));
}

}  // namespace ignis::cuda
