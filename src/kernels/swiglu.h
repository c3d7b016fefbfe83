// ignis kernels: SwiGLU on the output of the fused gate_up projection.
#pragma once
#include <cuda_runtime_api.h>

#include "core/dtype.h"
#include "kernels/fp8.h"

namespace ignis::kernels {

// gate_up (n, 2*inter): columns [0, inter) = gate_proj, [inter, 2*inter) = up_proj.
// out (n, inter) = silu(gate) * up, computed in fp32, rounded once to dtype.
// fp8 (optional, kernels/fp8.h): also (or, with out null, only) writes out's values as e4m3 codes
// fp8.data (n, inter) with their scales; then one block per row (the row amax is a block reduction),
// the row in registers for F16/BF16 with inter % 8 == 0 and inter <= 32768. Calls
// pdl_launch_dependents() at its start (a PDL-launched GEMV may stream its weights meanwhile).
void silu_mul(DType dtype, const void* gate_up, void* out, int n, int inter, cudaStream_t stream,
              const Fp8Out& fp8 = {});

}  // namespace ignis::kernels
