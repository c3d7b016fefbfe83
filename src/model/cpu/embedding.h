// ignis model/cpu: token embedding gather (reference op).
#pragma once
#include <cstdint>

namespace ignis::cpu {

// out (n_tokens, dim) = table[tokens[i], :]; table (vocab, dim) fp32.
// Throws Error for a token id outside [0, vocab).
void embedding(float* out, const float* table, const int32_t* tokens, int n_tokens, int vocab, int dim);

}  // namespace ignis::cpu
