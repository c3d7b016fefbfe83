#include "model/cpu/embedding.h"

#include <cstring>

#include "core/error.h"

namespace ignis::cpu {

void embedding(float* out, const float* table, const int32_t* tokens, int n_tokens, int vocab, int dim) {
  for (int i = 0; i < n_tokens; ++i) {
    int32_t t = tokens[i];
    IGNIS_CHECK(t >= 0 && t < vocab, "embedding: token id {} at index {} is outside the vocabulary [0, {})", t, i,
                vocab);
    std::memcpy(out + int64_t(i) * dim, table + int64_t(t) * dim, sizeof(float) * size_t(dim));
  }
}

}  // namespace ignis::cpu
