// ignis model: the Hugging Face config.json / generation_config.json of a model folder.
// Reads both the classic hub form (rope_theta, rope_scaling, torch_dtype,
// use_sliding_window) and the transformers 5.x form (rope_parameters, dtype).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/scheme.h"

namespace ignis {

enum class Arch { Llama, Mistral, Qwen2 };

struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  float factor = 1.0f;
  // llama3 only
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

// A model whose first layer reads fc(concat(embed(token), feature)) instead of embed(token), with
// `feature` a hidden state given per token (BatchSeq::features): how an EAGLE draft head (Li et al.
// 2024, SafeAILab/EAGLE; spec/eagle.h) runs as a one-layer Llama over the target's hidden states.
// Only the EAGLE loader sets it; a Hugging Face config.json never does.
struct FeatureFusion {
  bool enabled = false;
  bool fc_bias = false;          // "model.fc.bias" (hidden_size) beside "model.fc.weight" (hidden_size, 2 * hidden_size)
  bool first_input_norm = true;  // layer 0 applies its input_layernorm (EAGLE-1/2 heads: no, and have none)
  bool final_norm = true;        // "model.norm.weight" before lm_head (EAGLE-1/2 heads: no)
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string architecture;  // "LlamaForCausalLM", ...
  int vocab_size = 0;
  int hidden_size = 0;          // dim
  int intermediate_size = 0;    // ffn hidden
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;             // hidden_size / num_heads unless config says otherwise
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v bias (Qwen2: always true)
  bool o_proj_bias = false;     // o_proj bias too (Llama with attention_bias: true; never Qwen2)
  int sliding_window = 0;       // 0 = full attention
  DType dtype = DType::BF16;    // torch_dtype / dtype
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;
  // How the projections are stored: config.json quantization_config, else hf_quant_config.json
  // (ModelOpt), else none; --quantization fp8 sets Method::OnLoad (runtime/model_loader).
  QuantConfig quant;
  FeatureFusion fusion;

  int q_size() const { return num_heads * head_dim; }
  int kv_size() const { return num_kv_heads * head_dim; }
  // Parameter count (embedding and lm_head counted once if tied).
  int64_t num_params() const;
  // Bytes of K+V for one token over all layers with the given KV element type.
  int64_t kv_bytes_per_token(DType kv_dtype) const;
};

struct GenerationConfig {
  std::vector<int> eos_token_ids;
  std::optional<int> bos_token_id;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k, max_new_tokens;
  std::optional<bool> do_sample;
};

// Parses <dir>/config.json (and <dir>/hf_quant_config.json when config.json has no
// quantization_config); throws Error naming the file and the field on missing or absurd values.
ModelConfig load_model_config(const std::filesystem::path& dir);
ModelConfig parse_model_config(const std::string& json_text, const std::string& file_name_for_errors);
GenerationConfig parse_generation_config(const std::string& json_text, const std::string& file_name_for_errors);
// "LlamaForCausalLM" -> Arch; false for an unsupported architecture.
bool parse_arch(const std::string& name, Arch* out);
const char* arch_name(Arch a);  // "llama", "mistral", "qwen2"
// Sanity limits enforced by the parser (anything larger is rejected as absurd).
namespace config_limits {
inline constexpr int64_t kMaxVocab = int64_t(1) << 22;       // 4M tokens
inline constexpr int64_t kMaxHidden = int64_t(1) << 16;      // 65536
inline constexpr int64_t kMaxIntermediate = int64_t(1) << 19;
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxHeadDim = 1024;
inline constexpr int64_t kMaxPositions = int64_t(1) << 24;   // 16M
}  // namespace config_limits
// Parses <dir>/generation_config.json if present (else defaults).
GenerationConfig load_generation_config(const std::filesystem::path& dir);

}  // namespace ignis
