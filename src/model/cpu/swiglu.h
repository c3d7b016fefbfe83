// ignis model/cpu: SwiGLU activation of the Llama MLP (reference op).
#pragma once
#include <cstdint>

namespace ignis::cpu {

// gate_up (n_rows, 2 * inter) holds [gate | up] per row (gate_proj and up_proj fused);
// out (n_rows, inter) = silu(gate) * up, silu(x) = x / (1 + exp(-x)).
void swiglu(float* out, const float* gate_up, int n_rows, int inter);

}  // namespace ignis::cpu
