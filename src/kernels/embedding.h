// ignis kernels: token embedding gather into the fp32 residual stream.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// residual (n, hidden) fp32 = table[tokens[i]] ; table (vocab, hidden) of `dtype`.
// Token ids outside [0, vocab) give a zero row (callers validate ids on the host first).
void embedding(DType dtype, const int32_t* tokens, int n, const void* table, int vocab, int hidden,
               float* residual, cudaStream_t stream);

}  // namespace ignis::kernels
