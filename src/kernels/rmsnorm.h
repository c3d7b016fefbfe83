// ignis kernels: fused residual-add + RMSNorm.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/fp8.h"

namespace ignis::kernels {

// For each output row i (n rows), with r = rows ? rows[i] : i:
//   if add:  residual[r] += round_dtype(add[r] + add_bias)   (residual (*, hidden) fp32, add (*, hidden)
//            of dtype, add_bias (hidden) of dtype or null: o_proj bias)
//   out[i] = weight * round_dtype(residual[r] * rsqrt(mean(residual[r]^2) + eps))   (out (n, hidden) of dtype)
// `rows` (n, distinct) gathers rows (final norm of the logit rows only).
// Matches Hugging Face LlamaRMSNorm: normalized value cast to the dtype, then times weight.
// fp8 (optional, kernels/fp8.h): also (or, with out null, only) writes the value out[i] gets, as e4m3
// codes fp8.data (n, hidden) with its scales (per row, or per 128 columns: the row amax is one more
// block reduction). Calls pdl_launch_dependents() at its start (a PDL-launched GEMV may then stream
// its weights while this kernel runs).
void add_rmsnorm(DType dtype, float* residual, const void* add, const void* add_bias, const void* weight, void* out,
                 const int32_t* rows, int n, int hidden, float eps, cudaStream_t stream, const Fp8Out& fp8 = {});

}  // namespace ignis::kernels
