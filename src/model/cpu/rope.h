// ignis model/cpu: rotary position embedding (reference op), Hugging Face convention:
// rotate_half pairs element i with element i + head_dim/2 (not adjacent pairs).
// Frequencies follow transformers' modeling_rope_utils for rope_type default, linear
// and llama3, computed in fp32 like transformers does.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace ignis::cpu {

// inv_freq (head_dim / 2): 1 / theta^(2i / head_dim), then scaled per `scaling`.
std::vector<float> rope_inv_freq(int head_dim, float theta, const RopeScaling& scaling);

// Rotates x (n_tokens, n_heads, head_dim) in place; token t is at position positions[t].
// For i < head_dim/2 with angle a = positions[t] * inv_freq[i]:
//   x'[i]        = x[i] cos a - x[i + h/2] sin a
//   x'[i + h/2]  = x[i + h/2] cos a + x[i] sin a
void rope_apply(float* x, const int32_t* positions, int n_tokens, int n_heads, int head_dim, const float* inv_freq);

}  // namespace ignis::cpu
