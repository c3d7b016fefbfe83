// config.json / generation_config.json of a Hugging Face model folder, in the
// classic hub form and the transformers 5.x form. Strict: a missing, mistyped
// or absurd field is one Error naming the file and the field.
#include "model/config.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "model/json_util.h"
#include "quant/config.h"

namespace ignis {

namespace fs = std::filesystem;
using jsonf::Json;
namespace lim = config_limits;

bool parse_arch(const std::string& name, Arch* out) {
  if (name == "LlamaForCausalLM") { *out = Arch::Llama; return true; }
  if (name == "MistralForCausalLM") { *out = Arch::Mistral; return true; }
  if (name == "Qwen2ForCausalLM") { *out = Arch::Qwen2; return true; }
  return false;
}

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Llama: return "llama";
    case Arch::Mistral: return "mistral";
    case Arch::Qwen2: return "qwen2";
  }
  return "?";
}

int64_t ModelConfig::num_params() const {
  int64_t h = hidden_size, q = q_size(), kv = kv_size(), ff = intermediate_size;
  int64_t per_layer = h * q + 2 * h * kv + q * h  // q, k, v, o
                      + 3 * h * ff                // gate, up, down
                      + 2 * h;                    // two RMSNorm weights
  if (attention_bias) per_layer += q + 2 * kv;
  if (o_proj_bias) per_layer += h;
  int64_t n = int64_t(vocab_size) * h + int64_t(num_layers) * per_layer + h;
  if (!tie_word_embeddings) n += int64_t(vocab_size) * h;
  return n;
}

int64_t ModelConfig::kv_bytes_per_token(DType kv_dtype) const {
  return 2 * int64_t(num_layers) * kv_size() * int64_t(dtype_size(kv_dtype));
}

namespace {

// Parses one rope scaling / rope_parameters object into `rs`; `field` is its
// name for messages ("rope_scaling" or "rope_parameters").
void parse_rope_object(const Json& o, const std::string& file, const std::string& field, RopeScaling* rs) {
  IGNIS_CHECK(o.is_object(), "{}: field '{}' must be an object, got {}", file, field, jsonf::type_name(o));
  std::string type;
  if (auto t = jsonf::opt_string(o, "rope_type", file)) type = *t;
  else if (auto t2 = jsonf::opt_string(o, "type", file)) type = *t2;
  else type = "default";
  auto sub = [&](const char* k) { return field + "." + k; };
  auto req_float = [&](const char* k, double lo, double hi) {
    const Json* j = jsonf::find(o, k);
    IGNIS_CHECK(j, "{}: missing required field '{}' (rope_type {})", file, sub(k), type);
    return float(jsonf::get_float(*j, file, sub(k), lo, hi));
  };
  if (type == "default") {
    rs->type = RopeScaling::Type::None;
  } else if (type == "linear") {
    rs->type = RopeScaling::Type::Linear;
    rs->factor = req_float("factor", 1e-3, 1e6);
  } else if (type == "llama3") {
    rs->type = RopeScaling::Type::Llama3;
    rs->factor = req_float("factor", 1e-3, 1e6);
    rs->low_freq_factor = req_float("low_freq_factor", 1e-6, 1e6);
    rs->high_freq_factor = req_float("high_freq_factor", 1e-6, 1e6);
    IGNIS_CHECK(rs->high_freq_factor > rs->low_freq_factor,
                "{}: field '{}' = {} must be larger than {} = {}", file, sub("high_freq_factor"),
                rs->high_freq_factor, sub("low_freq_factor"), rs->low_freq_factor);
    const Json* om = jsonf::find(o, "original_max_position_embeddings");
    IGNIS_CHECK(om, "{}: missing required field '{}' (rope_type llama3)", file,
                sub("original_max_position_embeddings"));
    rs->original_max_position_embeddings =
        int(jsonf::get_int(*om, file, sub("original_max_position_embeddings"), 1, lim::kMaxPositions));
  } else {
    IGNIS_FAIL("{}: field '{}': unsupported rope type '{}' (supported: default, linear, llama3)", file,
               field + ".rope_type", type);
  }
}

void parse_sliding_window(const Json& j, const std::string& file, ModelConfig* c) {
  auto window = jsonf::opt_int(j, "sliding_window", file, 0, lim::kMaxPositions);
  if (c->arch == Arch::Mistral) {
    // MistralConfig's default is 4096 when the key is absent; null means no window.
    const bool present = j.is_object() && j.contains("sliding_window");
    c->sliding_window = int(present ? window.value_or(0) : 4096);
    return;
  }
  if (c->arch == Arch::Llama) {
    // Llama has no sliding window; a stray field is ignored like transformers does.
    c->sliding_window = 0;
    return;
  }
  // Qwen2: 5.x writes layer_types; the hub form has use_sliding_window (default
  // false: Qwen2.5 ships sliding_window with use_sliding_window false = no window)
  // and max_window_layers (layers >= it use the window).
  int n_sliding = 0;
  if (const Json* lt = jsonf::find(j, "layer_types")) {
    IGNIS_CHECK(lt->is_array() && int64_t(lt->size()) == c->num_layers,
                "{}: field 'layer_types' must be an array of {} strings (num_hidden_layers)", file, c->num_layers);
    for (size_t i = 0; i < lt->size(); i++) {
      std::string t = jsonf::get_string((*lt)[i], file, fmt::format("layer_types[{}]", i));
      if (t == "sliding_attention") n_sliding++;
      else IGNIS_CHECK(t == "full_attention", "{}: field 'layer_types[{}]': unknown layer type '{}'", file, i, t);
    }
  } else {
    bool use = jsonf::opt_bool(j, "use_sliding_window", file).value_or(false);
    if (use && window && *window > 0) {
      int64_t mwl = jsonf::opt_int(j, "max_window_layers", file, 0, lim::kMaxLayers).value_or(28);  // Qwen2Config default
      n_sliding = int(std::max<int64_t>(0, c->num_layers - mwl));
    }
  }
  if (n_sliding == 0) {
    c->sliding_window = 0;
    return;
  }
  IGNIS_CHECK(n_sliding == c->num_layers,
              "{}: field 'max_window_layers'/'layer_types': {} of {} layers use a sliding window; mixed per-layer "
              "windows are not supported",
              file, n_sliding, c->num_layers);
  IGNIS_CHECK(window && *window > 0, "{}: field 'sliding_window' must be set when layers use sliding attention", file);
  c->sliding_window = int(*window);
}

std::vector<int> parse_token_ids(const Json& obj, const char* key, const std::string& file, int64_t max_id) {
  std::vector<int> ids;
  const Json* j = jsonf::find(obj, key);
  if (!j) return ids;
  if (j->is_array()) {
    IGNIS_CHECK(j->size() <= 1024, "{}: field '{}' has {} entries (at most 1024)", file, key, j->size());
    for (size_t i = 0; i < j->size(); i++)
      ids.push_back(int(jsonf::get_int((*j)[i], file, fmt::format("{}[{}]", key, i), 0, max_id)));
  } else {
    ids.push_back(int(jsonf::get_int(*j, file, key, 0, max_id)));
  }
  return ids;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& file) {
  Json j = jsonf::parse(json_text, file);
  IGNIS_CHECK(j.is_object(), "{}: top level must be a JSON object, got {}", file, jsonf::type_name(j));
  ModelConfig c;

  // Architecture: "architectures": ["LlamaForCausalLM"], else model_type.
  if (const Json* a = jsonf::find(j, "architectures")) {
    IGNIS_CHECK(a->is_array() && !a->empty(), "{}: field 'architectures' must be a non-empty array", file);
    c.architecture = jsonf::get_string((*a)[0], file, "architectures[0]");
    IGNIS_CHECK(parse_arch(c.architecture, &c.arch),
                "{}: field 'architectures': unsupported architecture '{}' (supported: LlamaForCausalLM, "
                "MistralForCausalLM, Qwen2ForCausalLM)",
                file, c.architecture);
  } else if (auto mt = jsonf::opt_string(j, "model_type", file)) {
    if (*mt == "llama") c.arch = Arch::Llama, c.architecture = "LlamaForCausalLM";
    else if (*mt == "mistral") c.arch = Arch::Mistral, c.architecture = "MistralForCausalLM";
    else if (*mt == "qwen2") c.arch = Arch::Qwen2, c.architecture = "Qwen2ForCausalLM";
    else IGNIS_FAIL("{}: field 'model_type': unsupported model type '{}' (supported: llama, mistral, qwen2)", file, *mt);
  } else {
    IGNIS_FAIL("{}: missing required field 'architectures'", file);
  }

  c.vocab_size = int(jsonf::req_int(j, "vocab_size", file, 1, lim::kMaxVocab));
  c.hidden_size = int(jsonf::req_int(j, "hidden_size", file, 1, lim::kMaxHidden));
  c.intermediate_size = int(jsonf::req_int(j, "intermediate_size", file, 1, lim::kMaxIntermediate));
  c.num_layers = int(jsonf::req_int(j, "num_hidden_layers", file, 1, lim::kMaxLayers));
  c.num_heads = int(jsonf::req_int(j, "num_attention_heads", file, 1, lim::kMaxHeads));
  c.num_kv_heads = int(jsonf::opt_int(j, "num_key_value_heads", file, 1, lim::kMaxHeads).value_or(c.num_heads));
  IGNIS_CHECK(c.num_heads % c.num_kv_heads == 0,
              "{}: field 'num_key_value_heads' = {} must divide num_attention_heads = {}", file, c.num_kv_heads,
              c.num_heads);
  if (auto hd = jsonf::opt_int(j, "head_dim", file, 1, lim::kMaxHeadDim)) {
    c.head_dim = int(*hd);
  } else {
    IGNIS_CHECK(c.hidden_size % c.num_heads == 0,
                "{}: field 'num_attention_heads' = {} must divide hidden_size = {} (or set head_dim)", file,
                c.num_heads, c.hidden_size);
    c.head_dim = c.hidden_size / c.num_heads;
    IGNIS_CHECK(c.head_dim <= lim::kMaxHeadDim, "{}: head_dim = hidden_size / num_attention_heads = {} is too large",
                file, c.head_dim);
  }
  IGNIS_CHECK(c.head_dim % 2 == 0, "{}: field 'head_dim' = {} must be even (rotary embedding)", file, c.head_dim);
  c.max_position_embeddings = int(jsonf::req_int(j, "max_position_embeddings", file, 1, lim::kMaxPositions));
  // Defaults below are those of transformers' LlamaConfig / MistralConfig / Qwen2Config.
  c.rms_norm_eps = float(jsonf::opt_float(j, "rms_norm_eps", file, 1e-12, 0.1).value_or(1e-6));

  if (auto act = jsonf::opt_string(j, "hidden_act", file))
    IGNIS_CHECK(*act == "silu", "{}: field 'hidden_act': unsupported activation '{}' (only silu)", file, *act);
  if (auto mlp_bias = jsonf::opt_bool(j, "mlp_bias", file))
    IGNIS_CHECK(!*mlp_bias, "{}: field 'mlp_bias': true is not supported", file);

  // RoPE: 5.x rope_parameters (holds rope_theta) or hub rope_theta + rope_scaling.
  const double kMaxTheta = 1e12;
  if (const Json* rp = jsonf::find(j, "rope_parameters")) {
    parse_rope_object(*rp, file, "rope_parameters", &c.rope_scaling);
    auto th = jsonf::opt_float(*rp, "rope_theta", file, 1.0, kMaxTheta);
    if (!th) th = jsonf::opt_float(j, "rope_theta", file, 1.0, kMaxTheta);
    c.rope_theta = float(th.value_or(10000.0));
  } else {
    c.rope_theta = float(jsonf::opt_float(j, "rope_theta", file, 1.0, kMaxTheta).value_or(10000.0));
    if (const Json* rs = jsonf::find(j, "rope_scaling")) parse_rope_object(*rs, file, "rope_scaling", &c.rope_scaling);
  }

  // Qwen2 always has q/k/v bias (and no o_proj bias); Llama's attention_bias
  // biases q, k, v and o; Mistral has none.
  if (c.arch == Arch::Qwen2) {
    c.attention_bias = true;
  } else if (c.arch == Arch::Llama) {
    c.attention_bias = jsonf::opt_bool(j, "attention_bias", file).value_or(false);
    c.o_proj_bias = c.attention_bias;
  }
  c.tie_word_embeddings = jsonf::opt_bool(j, "tie_word_embeddings", file).value_or(false);
  parse_sliding_window(j, file, &c);

  std::optional<std::string> dt = jsonf::opt_string(j, "dtype", file);
  std::string dt_field = "dtype";
  if (!dt) dt = jsonf::opt_string(j, "torch_dtype", file), dt_field = "torch_dtype";
  if (dt) {
    IGNIS_CHECK(parse_torch_dtype(*dt, &c.dtype),
                "{}: field '{}': unsupported dtype '{}' (supported: bfloat16, float16, float32)", file, dt_field, *dt);
  }

  if (auto b = jsonf::opt_int(j, "bos_token_id", file, 0, lim::kMaxVocab)) c.bos_token_id = int(*b);
  c.eos_token_ids = parse_token_ids(j, "eos_token_id", file, lim::kMaxVocab);
  if (const Json* qc = jsonf::find(j, "quantization_config")) c.quant = parse_quantization_config(*qc, file);

  // Byte budget sanity: all sizes fit comfortably in int64 with the limits above.
  int64_t qs = int64_t(c.num_heads) * c.head_dim;
  IGNIS_CHECK(qs <= (int64_t(1) << 18), "{}: num_attention_heads * head_dim = {} is absurd", file, qs);
  return c;
}

GenerationConfig parse_generation_config(const std::string& json_text, const std::string& file) {
  Json j = jsonf::parse(json_text, file);
  IGNIS_CHECK(j.is_object(), "{}: top level must be a JSON object, got {}", file, jsonf::type_name(j));
  GenerationConfig g;
  g.eos_token_ids = parse_token_ids(j, "eos_token_id", file, lim::kMaxVocab);
  if (auto b = jsonf::opt_int(j, "bos_token_id", file, 0, lim::kMaxVocab)) g.bos_token_id = int(*b);
  if (auto v = jsonf::opt_float(j, "temperature", file, 0.0, 1e4)) g.temperature = float(*v);
  if (auto v = jsonf::opt_float(j, "top_p", file, 0.0, 1.0)) g.top_p = float(*v);
  if (auto v = jsonf::opt_float(j, "min_p", file, 0.0, 1.0)) g.min_p = float(*v);
  if (auto v = jsonf::opt_float(j, "repetition_penalty", file, 1e-6, 1e4)) g.repetition_penalty = float(*v);
  if (auto v = jsonf::opt_int(j, "top_k", file, 0, lim::kMaxVocab)) g.top_k = int(*v);
  if (auto v = jsonf::opt_int(j, "max_new_tokens", file, 0, int64_t(1) << 30)) g.max_new_tokens = int(*v);
  if (auto v = jsonf::opt_bool(j, "do_sample", file)) g.do_sample = *v;
  return g;
}

ModelConfig load_model_config(const fs::path& dir) {
  fs::path p = dir / "config.json";
  std::error_code ec;
  IGNIS_CHECK(fs::is_directory(dir, ec), "{}: model folder does not exist or is not a directory", dir.string());
  IGNIS_CHECK(fs::exists(p, ec), "{}: not found (a Hugging Face model folder needs config.json)", p.string());
  ModelConfig c = parse_model_config(jsonf::read_text_file(p.string()), p.string());
  const fs::path hq = dir / "hf_quant_config.json";
  if (!c.quant.quantized() && fs::exists(hq, ec)) c.quant = parse_hf_quant_config(jsonf::parse_file(hq.string()), hq.string());
  return c;
}

GenerationConfig load_generation_config(const fs::path& dir) {
  fs::path p = dir / "generation_config.json";
  std::error_code ec;
  if (!fs::exists(p, ec)) return GenerationConfig{};
  return parse_generation_config(jsonf::read_text_file(p.string()), p.string());
}

}  // namespace ignis
