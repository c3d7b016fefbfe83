// ignis kernels: Medusa's ResBlock (x <- x + SiLU(W x + b)) around a GEMM, on the device copy of
// Medusa heads (cuda/medusa_heads.h). The residual stream stays fp32 (the host reference's
// arithmetic); the GEMMs read its rounding to the compute dtype.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"

namespace ignis::kernels {

// x32 (n, hidden) = h (n, hidden) and x (n, hidden) of `dtype` = its rounding: a head's input.
void medusa_input(DType dtype, const float* h, int n, int hidden, float* x32, void* x, cudaStream_t stream);

// y (n, hidden) fp32 the GEMM's W x, bias (hidden) fp32: t = y + bias, x32 += t * sigmoid(t),
// x (n, hidden) of `dtype` = round(x32).
void medusa_resblock(DType dtype, const float* y, const float* bias, int n, int hidden, float* x32, void* x,
                     cudaStream_t stream);

}  // namespace ignis::kernels
