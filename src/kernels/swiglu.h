// ignis kernels: SwiGLU on the output of the fused gate_up projection.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"

namespace ignis::kernels {

// gate_up (n, 2*inter): columns [0, inter) = gate_proj, [inter, 2*inter) = up_proj.
// out (n, inter) = silu(gate) * up, computed in fp32, rounded once to dtype.
void silu_mul(DType dtype, const void* gate_up, void* out, int n, int inter, cudaStream_t stream);

}  // namespace ignis::kernels
