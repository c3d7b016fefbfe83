// Writes a Medusa heads folder as the reference saves it (config.json with medusa_num_heads /
// medusa_num_layers / base_model_name_or_path, medusa_lm_head.safetensors with
// "{i}.{j}.linear.weight|bias" and "{i}.{L}.weight"), for the Medusa tests.
#pragma once
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace ignis::testing {

struct MedusaHeadsSpec {
  int hidden = 0, vocab = 0, heads = 2, layers = 1;
  // Each head's final linear (vocab, hidden): this matrix (e.g. the target's lm_head, as Medusa
  // initializes it) plus noise of `lm_noise`; empty: random N(0, 1) / sqrt(hidden).
  std::vector<float> lm_head;
  float lm_noise = 0;
  float block_scale = 0.05f;  // ResBlock weights and biases: N(0, block_scale^2)
  uint64_t seed = 1;
  std::string prefix;  // "" (medusa_lm_head.pt's keys) or "medusa_head."
  bool write_config = true;
  std::string config_json;  // non-empty: config.json's text as given
  std::vector<std::string> skip;  // tensor names (without prefix) left out
  bool shared_lm_head = false;    // "ignis_shared_lm_head": no final linears (the target's lm_head)
};

inline std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The weights written, for references: [head][layer] W (hidden, hidden), bias (hidden); [head] lm.
struct MedusaHeadsWeights {
  std::vector<std::vector<std::vector<float>>> w, b;
  std::vector<std::vector<float>> lm;
};

inline MedusaHeadsWeights write_medusa_heads(const std::filesystem::path& dir, const MedusaHeadsSpec& s) {
  std::filesystem::create_directories(dir);
  if (s.write_config) {
    std::ofstream cfg(dir / "config.json");
    if (!s.config_json.empty()) cfg << s.config_json;
    else
      cfg << "{\"medusa_num_heads\": " << s.heads << ", \"medusa_num_layers\": " << s.layers
          << ", \"base_model_name_or_path\": \"test\"" << (s.shared_lm_head ? ", \"ignis_shared_lm_head\": true" : "")
          << "}";
  }
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  MedusaHeadsWeights out;
  std::vector<SafetensorsWriteTensor> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    for (const auto& k : s.skip)
      if (k == name) return;
    ts.push_back({s.prefix + name, DType::F32, std::move(shape), f32_bytes(v)});
  };
  const int64_t H = s.hidden, V = s.vocab;
  for (int i = 0; i < s.heads; ++i) {
    out.w.emplace_back();
    out.b.emplace_back();
    for (int j = 0; j < s.layers; ++j) {
      std::vector<float> w(static_cast<size_t>(H * H)), b(static_cast<size_t>(H));
      for (float& x : w) x = s.block_scale * nd(rng);
      for (float& x : b) x = s.block_scale * nd(rng);
      add(std::to_string(i) + "." + std::to_string(j) + ".linear.weight", {H, H}, w);
      add(std::to_string(i) + "." + std::to_string(j) + ".linear.bias", {H}, b);
      out.w.back().push_back(w);
      out.b.back().push_back(b);
    }
    if (s.shared_lm_head) continue;
    std::vector<float> lm(static_cast<size_t>(V * H));
    for (size_t k = 0; k < lm.size(); ++k)
      lm[k] = s.lm_head.empty() ? nd(rng) / std::sqrt(float(H)) : s.lm_head[k] + s.lm_noise * nd(rng);
    add(std::to_string(i) + "." + std::to_string(s.layers) + ".weight", {V, H}, lm);
    out.lm.push_back(lm);
  }
  write_safetensors((dir / "medusa_lm_head.safetensors").string(), ts);
  return out;
}

}  // namespace ignis::testing
