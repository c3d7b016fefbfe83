// ignis model/cpu: RMSNorm and fused residual-add + RMSNorm (reference ops), as
// Hugging Face LlamaRMSNorm computes them in fp32: w * (x * rsqrt(mean(x^2) + eps)).
#pragma once

namespace ignis::cpu {

// out (n_rows, dim) = rmsnorm(x (n_rows, dim)) * w (dim). out may alias x.
void rmsnorm(float* out, const float* x, const float* w, int n_rows, int dim, float eps);

// residual (n_rows, dim) += x (n_rows, dim); out (n_rows, dim) = rmsnorm(residual) * w.
// out may alias x (not residual).
void add_rmsnorm(float* out, float* residual, const float* x, const float* w, int n_rows, int dim, float eps);

}  // namespace ignis::cpu
