#include "model/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "model/cpu/parallel.h"

namespace ignis::cpu {

namespace {

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Multiply-adds below which one thread does the whole product (a pool wake-up costs ~10 us).
constexpr int64_t kParallelMacs = int64_t{1} << 15;
// Output columns per chunk at least (keeps each chunk's sgemm efficient).
constexpr int64_t kMinColumns = 32;

void linear_cols(float* y, const float* x, const float* w, int m, int n, int k, int64_t j0, int64_t j1) {
  const int cols = static_cast<int>(j1 - j0);
  const float* wj = w + j0 * k;
  if (m == 1)  // decode of one token: OpenBLAS's gemv is several times faster than a 1-row gemm
    cblas_sgemv(CblasRowMajor, CblasNoTrans, cols, k, 1.0f, wj, k, x, 1, 0.0f, y + j0, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, cols, k, 1.0f, x, k, wj, k, 0.0f, y + j0, n);
}

}  // namespace

void linear(float* y, const float* x, const float* w, const float* bias, int m, int n, int k) {
  if (m <= 0 || n <= 0) return;
  blas_single_threaded();
  const int64_t macs = int64_t(m) * n * k;
  if (macs < kParallelMacs) {
    linear_cols(y, x, w, m, n, k, 0, n);
  } else {
    const int64_t grain = std::max<int64_t>(kMinColumns, kParallelMacs / (int64_t(m) * std::max(k, 1)));
    parallel_for(n, grain, [&](int64_t j0, int64_t j1) { linear_cols(y, x, w, m, n, k, j0, j1); });
  }
  if (bias) {
    for (int i = 0; i < m; ++i) {
      float* yi = y + int64_t(i) * n;
      for (int j = 0; j < n; ++j) yi[j] += bias[j];
    }
  }
}

}  // namespace ignis::cpu
