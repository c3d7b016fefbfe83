#include "model/cpu/rmsnorm.h"

#include <cmath>
#include <cstdint>

namespace ignis::cpu {

namespace {
inline void norm_row(float* out, const float* x, const float* w, int dim, float eps) {
  double ss = 0.0;
  for (int j = 0; j < dim; ++j) ss += double(x[j]) * double(x[j]);
  float var = float(ss / dim);
  float r = 1.0f / std::sqrt(var + eps);
  for (int j = 0; j < dim; ++j) out[j] = w[j] * (x[j] * r);
}
}  // namespace

void rmsnorm(float* out, const float* x, const float* w, int n_rows, int dim, float eps) {
  for (int i = 0; i < n_rows; ++i) norm_row(out + int64_t(i) * dim, x + int64_t(i) * dim, w, dim, eps);
}

void add_rmsnorm(float* out, float* residual, const float* x, const float* w, int n_rows, int dim, float eps) {
  for (int i = 0; i < n_rows; ++i) {
    float* r = residual + int64_t(i) * dim;
    const float* xi = x + int64_t(i) * dim;
    for (int j = 0; j < dim; ++j) r[j] += xi[j];
    norm_row(out + int64_t(i) * dim, r, w, dim, eps);
  }
}

}  // namespace ignis::cpu
