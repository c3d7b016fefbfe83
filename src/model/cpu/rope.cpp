#include "model/cpu/rope.h"

#include <cmath>

#include "core/error.h"

namespace ignis::cpu {

std::vector<float> rope_inv_freq(int head_dim, float theta, const RopeScaling& s) {
  IGNIS_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim must be even and positive, got {}", head_dim);
  IGNIS_CHECK(theta > 0.0f, "rope: rope_theta must be positive, got {}", theta);
  const int half = head_dim / 2;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) {
    float e = float(2 * i) / float(head_dim);
    inv[i] = 1.0f / std::pow(theta, e);
  }
  switch (s.type) {
    case RopeScaling::Type::None:
      break;
    case RopeScaling::Type::Linear:
      IGNIS_CHECK(s.factor > 0.0f, "rope: linear scaling factor must be positive, got {}", s.factor);
      for (auto& f : inv) f = f / s.factor;
      break;
    case RopeScaling::Type::Llama3: {
      IGNIS_CHECK(s.factor > 0.0f && s.high_freq_factor != s.low_freq_factor && s.low_freq_factor > 0.0f &&
                      s.original_max_position_embeddings > 0,
                  "rope: invalid llama3 scaling (factor {}, low_freq_factor {}, high_freq_factor {}, "
                  "original_max_position_embeddings {})",
                  s.factor, s.low_freq_factor, s.high_freq_factor, s.original_max_position_embeddings);
      const float old_ctx = float(s.original_max_position_embeddings);
      const float low_wavelen = old_ctx / s.low_freq_factor;
      const float high_wavelen = old_ctx / s.high_freq_factor;
      const float two_pi = float(2.0 * M_PI);
      for (auto& f : inv) {
        float wavelen = two_pi / f;
        // Low frequencies (long wavelengths) are divided by factor, high ones kept,
        // the band in between interpolated smoothly.
        float scaled = wavelen > low_wavelen ? f / s.factor : f;
        bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        if (medium) {
          float smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          scaled = (1.0f - smooth) * scaled / s.factor + smooth * scaled;
        }
        f = scaled;
      }
      break;
    }
  }
  return inv;
}

void rope_apply(float* x, const int32_t* positions, int n_tokens, int n_heads, int head_dim, const float* inv_freq) {
  const int half = head_dim / 2;
  std::vector<float> cs(half), sn(half);
  for (int t = 0; t < n_tokens; ++t) {
    const float pos = float(positions[t]);
    for (int i = 0; i < half; ++i) {
      float a = pos * inv_freq[i];
      cs[i] = float(std::cos(double(a)));
      sn[i] = float(std::sin(double(a)));
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (int64_t(t) * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = b * cs[i] + a * sn[i];
      }
    }
  }
}

}  // namespace ignis::cpu
