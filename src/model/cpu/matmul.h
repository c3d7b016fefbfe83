// ignis model/cpu: the linear layer y = x W^T (+ b) with W stored as Hugging Face does,
// [out_features, in_features] row-major (reference op, OpenBLAS sgemm).
#pragma once

namespace ignis::cpu {

// y (m, n) = x (m, k) . w (n, k)^T + bias (n) (bias may be null).
void linear(float* y, const float* x, const float* w, const float* bias, int m, int n, int k);

}  // namespace ignis::cpu
