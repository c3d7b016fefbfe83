#include "model/cpu/swiglu.h"

#include <cmath>

namespace ignis::cpu {

void swiglu(float* out, const float* gate_up, int n_rows, int inter) {
  for (int i = 0; i < n_rows; ++i) {
    const float* g = gate_up + int64_t(i) * 2 * inter;
    const float* u = g + inter;
    float* o = out + int64_t(i) * inter;
    for (int j = 0; j < inter; ++j) {
      float s = g[j] / (1.0f + std::exp(-g[j]));
      o[j] = s * u[j];
    }
  }
}

}  // namespace ignis::cpu
