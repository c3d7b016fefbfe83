#include "model/cpu/matmul.h"

#include <cblas.h>

#include <cstdint>

namespace ignis::cpu {

void linear(float* y, const float* x, const float* w, const float* bias, int m, int n, int k) {
  if (m <= 0 || n <= 0) return;
  if (m == 1)  // decode of one token: OpenBLAS's gemv is several times faster than a 1-row gemm
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
  if (bias) {
    for (int i = 0; i < m; ++i) {
      float* yi = y + int64_t(i) * n;
      for (int j = 0; j < n; ++j) yi[j] += bias[j];
    }
  }
}

}  // namespace ignis::cpu
