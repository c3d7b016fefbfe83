#include "encoder/encoder_config.h"

#include "core/error.h"
#include "model/json_util.h"

namespace ignis::enc {

namespace fs = std::filesystem;
using jsonf::Json;

static void load_sentence_transformers(const fs::path& dir, EncoderConfig& c) {
  fs::path mj = dir / "modules.json";
  if (!fs::exists(mj)) return;
  std::string f = mj.string();
  Json mods = jsonf::parse_file(f);
  IGNIS_CHECK(mods.is_array(), "{}: must be a JSON array of modules", f);
  std::string pooling_path;
  for (const auto& m : mods) {
    IGNIS_CHECK(m.is_object(), "{}: every module must be an object", f);
    std::string type = jsonf::get_string(m.value("type", Json()), f, "type");
    std::string path = m.contains("path") ? jsonf::get_string(m["path"], f, "path") : "";
    IGNIS_CHECK(path.find("..") == std::string::npos && (path.empty() || path[0] != '/'),
                "{}: module path '{}' leaves the folder", f, path);
    if (type.ends_with(".Transformer")) continue;
    if (type.ends_with(".Pooling")) pooling_path = path;
    else if (type.ends_with(".Normalize")) c.normalize = true;
    else IGNIS_FAIL("{}: unsupported sentence-transformers module '{}' (Transformer, Pooling, Normalize are)", f, type);
  }
  if (!pooling_path.empty()) {
    std::string pf = (dir / pooling_path / "config.json").string();
    Json p = jsonf::parse_file(pf);
    auto on = [&](const char* k) { return jsonf::opt_bool(p, k, pf).value_or(false); };
    int n = 0;
    if (on("pooling_mode_cls_token")) c.pooling = Pooling::Cls, ++n;
    if (on("pooling_mode_mean_tokens")) c.pooling = Pooling::Mean, ++n;
    if (on("pooling_mode_max_tokens")) c.pooling = Pooling::Max, ++n;
    if (on("pooling_mode_lasttoken")) c.pooling = Pooling::LastToken, ++n;
    IGNIS_CHECK(!on("pooling_mode_mean_sqrt_len_tokens") && !on("pooling_mode_weightedmean_tokens"),
                "{}: mean_sqrt_len / weightedmean pooling is not supported", pf);
    IGNIS_CHECK(n == 1, "{}: exactly one pooling mode must be on (found {})", pf, n);
    if (auto d = jsonf::opt_int(p, "word_embedding_dimension", pf, 1, 1 << 20))
      IGNIS_CHECK(*d == c.hidden, "{}: word_embedding_dimension {} != hidden_size {}", pf, *d, c.hidden);
  }
  fs::path sb = dir / "sentence_bert_config.json";
  if (fs::exists(sb)) {
    std::string sf = sb.string();
    Json s = jsonf::parse_file(sf);
    if (auto m = jsonf::opt_int(s, "max_seq_length", sf, 1, 1 << 20)) c.max_seq_length = static_cast<int>(*m);
    c.lowercase = jsonf::opt_bool(s, "do_lower_case", sf).value_or(false);
  }
  fs::path cs = dir / "config_sentence_transformers.json";
  if (fs::exists(cs)) {
    std::string sf = cs.string();
    Json s = jsonf::parse_file(sf);
    if (const Json* pr = jsonf::find(s, "prompts")) {
      IGNIS_CHECK(pr->is_object(), "{}: prompts must be an object", sf);
      for (auto& [k, v] : pr->items()) c.prompts[k] = jsonf::get_string(v, sf, "prompts." + k);
    }
    if (auto d = jsonf::opt_string(s, "default_prompt_name", sf)) c.default_prompt = *d;
    IGNIS_CHECK(c.default_prompt.empty() || c.prompts.count(c.default_prompt),
                "{}: default_prompt_name '{}' is not in prompts", sf, c.default_prompt);
  }
}

EncoderConfig load_encoder_config(const fs::path& dir) {
  std::string f = (dir / "config.json").string();
  IGNIS_CHECK(fs::exists(f), "{}: not found (an encoder folder needs config.json)", f);
  Json j = jsonf::parse_file(f);
  IGNIS_CHECK(j.is_object(), "{}: must be a JSON object", f);
  EncoderConfig c;
  c.model_type = jsonf::get_string(j.value("model_type", Json()), f, "model_type");
  IGNIS_CHECK(c.model_type == "bert" || c.model_type == "xlm-roberta" || c.model_type == "roberta",
              "{}: field 'model_type': unsupported encoder '{}' (bert, xlm-roberta, roberta)", f, c.model_type);
  c.vocab_size = static_cast<int>(jsonf::req_int(j, "vocab_size", f, 1, 1 << 24));
  c.hidden = static_cast<int>(jsonf::req_int(j, "hidden_size", f, 1, 1 << 16));
  c.layers = static_cast<int>(jsonf::req_int(j, "num_hidden_layers", f, 1, 1024));
  c.heads = static_cast<int>(jsonf::req_int(j, "num_attention_heads", f, 1, 1024));
  c.intermediate = static_cast<int>(jsonf::req_int(j, "intermediate_size", f, 1, 1 << 20));
  c.max_positions = static_cast<int>(jsonf::req_int(j, "max_position_embeddings", f, 1, 1 << 20));
  c.type_vocab = static_cast<int>(jsonf::opt_int(j, "type_vocab_size", f, 0, 1 << 16).value_or(2));
  IGNIS_CHECK(c.hidden % c.heads == 0, "{}: hidden_size {} is not a multiple of num_attention_heads {}", f, c.hidden,
              c.heads);
  c.ln_eps = static_cast<float>(jsonf::opt_float(j, "layer_norm_eps", f, 0, 1).value_or(1e-12));
  std::string pos = jsonf::opt_string(j, "position_embedding_type", f).value_or("absolute");
  IGNIS_CHECK(pos == "absolute", "{}: field 'position_embedding_type': '{}' is not supported (absolute is)", f, pos);
  std::string act = jsonf::opt_string(j, "hidden_act", f).value_or("gelu");
  if (act == "gelu") c.act = Activation::GeluErf;
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.act = Activation::GeluTanh;
  else if (act == "relu") c.act = Activation::Relu;
  else IGNIS_FAIL("{}: field 'hidden_act': '{}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)", f, act);
  if (c.model_type != "bert") {
    int pad = static_cast<int>(jsonf::opt_int(j, "pad_token_id", f, 0, 1 << 24).value_or(1));
    c.position_offset = pad + 1;
  }
  IGNIS_CHECK(c.max_positions > c.position_offset, "{}: max_position_embeddings {} leaves no positions", f,
              c.max_positions);
  load_sentence_transformers(dir, c);
  int room = c.max_positions - c.position_offset;
  c.max_seq_length = c.max_seq_length > 0 ? std::min(c.max_seq_length, room) : room;
  return c;
}

}  // namespace ignis::enc
