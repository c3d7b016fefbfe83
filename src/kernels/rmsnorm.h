// ignis kernels: fused residual-add + RMSNorm.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// For each output row i (n rows), with r = rows ? rows[i] : i:
//   if add:  residual[r] += add[r]            (residual (*, hidden) fp32, add (*, hidden) of dtype)
//   out[i] = weight * round_dtype(residual[r] * rsqrt(mean(residual[r]^2) + eps))   (out (n, hidden) of dtype)
// `rows` (n) gathers rows (final norm of the logit rows only); with rows, add must be null.
// Matches Hugging Face LlamaRMSNorm: normalized value cast to the dtype, then times weight.
void add_rmsnorm(DType dtype, float* residual, const void* add, const void* weight, void* out,
                 const int32_t* rows, int n, int hidden, float eps, cudaStream_t stream);

}  // namespace ignis::kernels
