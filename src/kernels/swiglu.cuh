// ignis kernels: the SwiGLU value shared by silu_mul (swiglu.cu) and the FP8 GEMV that computes its own
// input from gate_up (fp8_gemv_fused.cu): both must give the same bits.
#pragma once

namespace ignis::kernels {

// silu(g) * u in fp32 (the caller rounds it to the activation dtype).
__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.0f + expf(-g)) * u; }

}  // namespace ignis::kernels
