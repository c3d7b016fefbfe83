// ignis kernels: fused residual-add + RMSNorm.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// For each output row i (n rows), with r = rows ? rows[i] : i:
//   if add:  residual[r] += round_dtype(add[r] + add_bias)   (residual (*, hidden) fp32, add (*, hidden)
//            of dtype, add_bias (hidden) of dtype or null: o_proj bias)
//   out[i] = weight * round_dtype(residual[r] * rsqrt(mean(residual[r]^2) + eps))   (out (n, hidden) of dtype)
// `rows` (n, distinct) gathers rows (final norm of the logit rows only).
// Matches Hugging Face LlamaRMSNorm: normalized value cast to the dtype, then times weight.
void add_rmsnorm(DType dtype, float* residual, const void* add, const void* add_bias, const void* weight, void* out,
                 const int32_t* rows, int n, int hidden, float eps, cudaStream_t stream);

}  // namespace ignis::kernels
