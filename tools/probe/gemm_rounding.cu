// Probe: how far from an fp64 reference is cuBLASLt's bf16 GEMM (fp32 compute) for the 8B projection
// shapes at 64 rows, per candidate algorithm (split-K count and reduction scheme printed), against the
// bound of one bf16 rounding of the output. Standalone (nvcc gemm_rounding.cu -lcublasLt); issue 16 item 7.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#define CK(x) do { auto e_ = (x); if (e_ != 0) { std::printf("error %d at %s:%d\n", int(e_), __FILE__, __LINE__); std::exit(1); } } while (0)

static float bf(float x) { return __bfloat162float(__float2bfloat16(x)); }

int main() {
  cublasLtHandle_t h;
  CK(cublasLtCreate(&h));
  const size_t ws_bytes = 32u << 20;
  void* ws;
  CK(cudaMalloc(&ws, ws_bytes));
  struct Shape { int m, n, k; const char* name; };
  Shape shapes[] = {{64, 6144, 4096, "qkv"}, {64, 4096, 4096, "o"}, {64, 28672, 4096, "gate_up"}, {64, 4096, 14336, "down"}};
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto s : shapes) {
    std::vector<__nv_bfloat16> x(size_t(s.m) * s.k), w(size_t(s.n) * s.k);
    std::vector<float> xf(x.size()), wf(w.size());
    for (size_t i = 0; i < x.size(); ++i) { x[i] = __float2bfloat16(nd(rng)); xf[i] = __bfloat162float(x[i]); }
    for (size_t i = 0; i < w.size(); ++i) { w[i] = __float2bfloat16(0.02f * nd(rng)); wf[i] = __bfloat162float(w[i]); }
    // fp64 reference on the first 512 output columns
    const int nc = 512;
    std::vector<double> ref(size_t(s.m) * nc);
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < nc; ++j) {
        double a = 0;
        for (int t = 0; t < s.k; ++t) a += double(xf[size_t(i) * s.k + t]) * wf[size_t(j) * s.k + t];
        ref[size_t(i) * nc + j] = a;
      }
    double rn = 0, bfe = 0;
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < nc; ++j) {
        double r = ref[size_t(i) * nc + j];
        rn += r * r;
        double e = bf(float(r)) - r;
        bfe += e * e;
      }
    void *dx, *dw, *dy;
    CK(cudaMalloc(&dx, x.size() * 2)); CK(cudaMalloc(&dw, w.size() * 2)); CK(cudaMalloc(&dy, size_t(s.m) * s.n * 2));
    CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
    cublasLtMatmulDesc_t op;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtMatrixLayout_t la, lb, lc;
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, s.m, s.k));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, s.n, s.m, s.n));
    for (int restrict_red = 0; restrict_red < 2; ++restrict_red) {
      cublasLtMatmulPreference_t pref;
      CK(cublasLtMatmulPreferenceCreate(&pref));
      uint64_t wsb = ws_bytes;
      CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb)));
      if (restrict_red) {
        uint32_t mask = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
        CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &mask, sizeof(mask)));
      }
      cublasLtMatmulHeuristicResult_t res[8];
      int found = 0;
      CK(cublasLtMatmulAlgoGetHeuristic(h, op, la, lb, lc, lc, pref, 8, res, &found));
      for (int a = 0; a < found && a < 4; ++a) {
        int splitk = 0, red = 0;
        size_t sz;
        cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &sz);
        cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof(red), &sz);
        float alpha = 1, beta = 0;
        CK(cublasLtMatmul(h, op, &alpha, dw, la, dx, lb, &beta, dy, lc, dy, lc, &res[a].algo, ws, ws_bytes, 0));
        CK(cudaDeviceSynchronize());
        std::vector<__nv_bfloat16> y(size_t(s.m) * s.n);
        CK(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost));
        double en = 0;
        for (int i = 0; i < s.m; ++i)
          for (int j = 0; j < nc; ++j) {
            double e = double(__bfloat162float(y[size_t(i) * s.n + j])) - ref[size_t(i) * nc + j];
            en += e * e;
          }
        std::printf("%-8s %s algo%d splitK %2d reduction %d  rel_err %.3e  (one bf16 rounding: %.3e)\n", s.name,
                    restrict_red ? "restricted" : "heuristic ", a, splitk, red, std::sqrt(en / rn), std::sqrt(bfe / rn));
      }
      cublasLtMatmulPreferenceDestroy(pref);
    }
    cudaFree(dx); cudaFree(dw); cudaFree(dy);
  }
  return 0;
}
