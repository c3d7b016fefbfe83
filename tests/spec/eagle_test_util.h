// Writes an EAGLE head folder as the reference saves EAGLE-1/2 heads (config.json: a LlamaConfig
// with "bias"; model.safetensors: fc.weight, fc.bias, layers.0.* without input_layernorm), and a
// tiny target folder with real weight files (the loader reads the target's embeddings / lm_head),
// for the EAGLE tests.
#pragma once
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace ignis::testing {

struct EagleHeadSpec {
  int hidden = 0, vocab = 0, heads = 4, kv_heads = 2, head_dim = 0, intermediate = 64, layers = 1;
  bool bias = true;             // "bias" in config.json and fc.bias written
  bool write_bias_key = true;   // false: config.json has no "bias" (EAGLE's default: true)
  bool input_norm0 = false;     // layers.0.input_layernorm.weight (EAGLE-1/2 heads have none)
  bool final_norm = false;      // norm.weight
  bool embed = true;            // embed_tokens.weight (ignored by the loader)
  std::string prefix;           // "" or "model."
  // Pass-through: fc = [noise | I] and small attention / MLP outputs, so the head's output is
  // close to the feature it was given (the draft predicts what the target's own state predicts).
  // Otherwise every weight is random.
  bool pass_through = false;
  float scale = 0.05f;
  uint64_t seed = 7;
  std::vector<std::string> skip;                           // tensor names (without prefix) left out
  std::vector<std::pair<std::string, std::vector<int64_t>>> reshape;  // tensors written with another shape
  std::vector<std::string> extra;                          // extra tensors (shape [hidden])
  std::string config_json;                                 // non-empty: config.json's text as given
  bool write_weights = true;
};

inline std::vector<uint8_t> eagle_f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline void write_eagle_head(const std::filesystem::path& dir, const EagleHeadSpec& s) {
  std::filesystem::create_directories(dir);
  const int hd = s.head_dim > 0 ? s.head_dim : s.hidden / s.heads;
  {
    std::ofstream cfg(dir / "config.json");
    if (!s.config_json.empty()) {
      cfg << s.config_json;
    } else {
      cfg << "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": " << s.hidden
          << ", \"intermediate_size\": " << s.intermediate << ", \"num_attention_heads\": " << s.heads
          << ", \"num_key_value_heads\": " << s.kv_heads << ", \"head_dim\": " << hd
          << ", \"num_hidden_layers\": " << s.layers << ", \"vocab_size\": " << s.vocab
          << ", \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"max_position_embeddings\": 2048, "
             "\"torch_dtype\": \"float32\", \"hidden_act\": \"silu\", \"bos_token_id\": 1, \"eos_token_id\": 2";
      if (s.write_bias_key) cfg << ", \"bias\": " << (s.bias ? "true" : "false");
      cfg << "}";
    }
  }
  if (!s.write_weights) return;
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t H = s.hidden, I = s.intermediate, Q = int64_t(s.heads) * hd, KV = int64_t(s.kv_heads) * hd;
  std::vector<SafetensorsWriteTensor> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float stddev, float mean = 0.0f,
                 bool identity_right = false) {
    for (const auto& k : s.skip)
      if (k == name) return;
    for (const auto& [n, sh] : s.reshape)
      if (n == name) shape = sh;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = mean + stddev * nd(rng);
    if (identity_right && shape.size() == 2 && shape[1] == 2 * shape[0])
      for (int64_t i = 0; i < shape[0]; ++i) v[size_t(i * shape[1] + shape[0] + i)] += 1.0f;
    ts.push_back({s.prefix + name, DType::F32, std::move(shape), eagle_f32_bytes(v)});
  };
  const float sh = 1.0f / std::sqrt(float(H));
  const float out_scale = s.pass_through ? s.scale : sh;
  add("fc.weight", {H, 2 * H}, s.pass_through ? s.scale * sh : 1.0f / std::sqrt(float(2 * H)), 0.0f, s.pass_through);
  if (s.bias) add("fc.bias", {H}, s.pass_through ? 0.0f : 0.1f);
  if (s.embed) add("embed_tokens.weight", {s.vocab, H}, 1.0f);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    if (l > 0 || s.input_norm0) add(p + "input_layernorm.weight", {H}, 0.1f, 1.0f);
    add(p + "self_attn.q_proj.weight", {Q, H}, sh);
    add(p + "self_attn.k_proj.weight", {KV, H}, sh);
    add(p + "self_attn.v_proj.weight", {KV, H}, sh);
    add(p + "self_attn.o_proj.weight", {H, Q}, out_scale / std::sqrt(float(Q)));
    add(p + "post_attention_layernorm.weight", {H}, 0.1f, 1.0f);
    add(p + "mlp.gate_proj.weight", {I, H}, sh);
    add(p + "mlp.up_proj.weight", {I, H}, sh);
    add(p + "mlp.down_proj.weight", {H, I}, out_scale / std::sqrt(float(I)));
  }
  if (s.final_norm) add("norm.weight", {H}, 0.1f, 1.0f);
  for (const auto& e : s.extra) add(e, {H}, 1.0f);
  write_safetensors((dir / "model.safetensors").string(), ts);
}

// A tiny Llama target folder with real weights (seeded): config.json + model.safetensors.
inline void write_tiny_target(const std::filesystem::path& dir, uint64_t seed = 11, int vocab = 96, int hidden = 32,
                              bool tied = false) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "config.json") << "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                                          "\"vocab_size\": "
                                       << vocab << ", \"hidden_size\": " << hidden
                                       << ", \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
                                          "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                                          "\"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-5, "
                                          "\"rope_theta\": 10000.0, \"hidden_act\": \"silu\", \"tie_word_embeddings\": "
                                       << (tied ? "true" : "false")
                                       << ", \"torch_dtype\": \"float32\", \"bos_token_id\": 1, \"eos_token_id\": 2}";
  }
  const ModelConfig cfg = load_model_config(dir);
  const WeightStore ws = WeightStore::load(dir, cfg, LoadFormat::Dummy, seed);
  std::vector<SafetensorsWriteTensor> ts;
  for (const auto& [name, t] : ws.all()) {
    std::vector<uint8_t> b(t.nbytes);
    std::memcpy(b.data(), t.data, t.nbytes);
    ts.push_back({name, t.dtype, t.shape, std::move(b)});
  }
  write_safetensors((dir / "model.safetensors").string(), ts);
}

}  // namespace ignis::testing
