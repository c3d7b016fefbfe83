#include "tokenizer/hf_tokenizer.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

HfTokenizer::HfTokenizer(const nlohmann::json& j, const nlohmann::json& config, const std::string& file)
    : file_(file) {
  IGNIS_CHECK(j.is_object(), "{}: top level must be a JSON object", file);
  IGNIS_CHECK(j.contains("model") && j["model"].is_object(), "{}: missing \"model\"", file);
  model_ = make_token_model(j["model"], file);
  normalizer_ = make_normalizer(j.value("normalizer", nlohmann::json()), file);
  pre_tokenizer_ = make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), file);
  decoder_ = make_decoder(j.value("decoder", nlohmann::json()), file);
  vocab_size_ = model_->max_id() + 1;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    IGNIS_CHECK(j["added_tokens"].is_array(), "{}: added_tokens must be an array", file);
    for (const auto& a : j["added_tokens"]) {
      IGNIS_CHECK(a.is_object() && a.contains("id") && a.contains("content"),
                  "{}: added_tokens entries need \"id\" and \"content\"", file);
      AddedToken t;
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      IGNIS_CHECK(t.id >= 0, "{}: added token '{}' has negative id", file, t.content);
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", !t.special);
      (t.normalized && normalizer_ ? normalized_matcher_ : raw_matcher_).add(t);
      added_by_content_.emplace(t.content, t.id);
      vocab_size_ = std::max(vocab_size_, t.id + 1);
      added_.emplace(t.id, std::move(t));
    }
  }
  post_ = PostProcessor(j.value("post_processor", nlohmann::json()), file);
  truncation_ = Truncation::from_json(j.value("truncation", nlohmann::json()), file);
  load_config(config, file);
}

// bos_token / eos_token are either a string or an AddedToken object {"content": ...}.
static std::string token_text(const nlohmann::json& c, const char* key) {
  if (!c.contains(key)) return {};
  const auto& v = c[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

void HfTokenizer::load_config(const nlohmann::json& c, const std::string& file) {
  if (!c.is_object()) return;
  bos_token_ = token_text(c, "bos_token");
  eos_token_ = token_text(c, "eos_token");
  if (!bos_token_.empty()) bos_id_ = piece_to_id(bos_token_);
  if (!eos_token_.empty()) eos_id_ = piece_to_id(eos_token_);
  if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) add_bos_ = c["add_bos_token"].get<bool>();
  if (c.contains("chat_template")) {
    const auto& t = c["chat_template"];
    if (t.is_string()) {
      chat_templates_.emplace_back("default", t.get<std::string>());
    } else if (t.is_array()) {
      for (const auto& e : t) {
        IGNIS_CHECK(e.is_object() && e.contains("name") && e.contains("template"),
                    "{}: chat_template list entries need \"name\" and \"template\"", file);
        chat_templates_.emplace_back(e["name"].get<std::string>(), e["template"].get<std::string>());
      }
    }
  }
}

std::string HfTokenizer::chat_template(std::string_view name) const {
  for (auto& [n, t] : chat_templates_)
    if (n == name) return t;
  return {};
}

std::string HfTokenizer::id_to_piece(int32_t id) const {
  if (auto it = added_.find(id); it != added_.end()) return it->second.content;
  if (const std::string* t = model_->id_to_token(id)) return *t;
  return {};
}

std::optional<std::string> HfTokenizer::token_bytes(int32_t id) const {
  std::string t;
  if (auto it = added_.find(id); it != added_.end()) {
    if (it->second.special) return std::nullopt;
    t = it->second.content;
  } else if (const std::string* p = model_->id_to_token(id)) {
    t = *p;
  } else {
    return std::nullopt;
  }
  if (!decoder_) return " " + t;  // decode joins pieces with spaces
  bool whole = false;
  decoder_->token_bytes(t, whole);
  return t;
}

std::optional<int32_t> HfTokenizer::piece_to_id(std::string_view piece) const {
  if (auto it = added_by_content_.find(piece); it != added_by_content_.end()) return it->second;
  return model_->token_to_id(piece);
}

bool HfTokenizer::is_special(int32_t id) const {
  auto it = added_.find(id);
  return it != added_.end() && it->second.special;
}

// Text between raw added tokens: normalize, split normalized added tokens, pre-tokenize, BPE.
void HfTokenizer::encode_segment(std::string text, bool at_start, std::vector<int32_t>& out) const {
  // Bytes of the normalized text that come from the input's first character: normalizing
  // it alone (exact for per-character normalizers; a removed first character gives 0).
  size_t span0 = 0;
  if (at_start && !text.empty()) {
    size_t i = 0;
    next_code_point(text, i);
    std::string first = text.substr(0, i);
    if (normalizer_) normalizer_->normalize(first);
    span0 = first.size();
  }
  if (normalizer_) normalizer_->normalize(text);
  span0 = std::min(span0, text.size());
  auto run_model = [&](std::string piece) {
    std::vector<std::string> words;
    words.push_back(std::move(piece));
    std::vector<size_t> spans{span0};
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words, spans);
    for (const auto& w : words) model_->tokenize(w, out);
  };
  if (normalized_matcher_.empty()) {
    run_model(std::move(text));
    return;
  }
  for (const auto& p : normalized_matcher_.split(text)) {
    if (p.id >= 0) out.push_back(p.id);
    else run_model(text.substr(p.b, p.e - p.b));
    span0 = 0;
  }
}

std::vector<int32_t> HfTokenizer::encode_ids(std::string_view input) const {
  // HF works on Rust strings (always valid UTF-8): invalid bytes become U+FFFD first.
  std::string lossy;
  std::string_view text = input;
  if (!is_valid_utf8(input)) {
    lossy = utf8_lossy(input);
    text = lossy;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (raw_matcher_.empty()) {
    encode_segment(std::string(text), true, ids);
  } else {
    for (const auto& p : raw_matcher_.split(text)) {
      if (p.id >= 0) ids.push_back(p.id);
      else encode_segment(std::string(text.substr(p.b, p.e - p.b)), p.b == 0, ids);
    }
  }
  return ids;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view input, bool add_special_tokens) const {
  if ((!add_special_tokens || post_.adds_nothing()) && truncation_.max_length == 0) return encode_ids(input);
  return encode_full(input, nullptr, add_special_tokens, 0).ids;
}

// HF TokenizerImpl::encode + post_process: truncation first (its max_length counts the
// special tokens the post-processor will add), then the post-processor.
Encoding HfTokenizer::encode_full(std::string_view a, const std::string_view* b, bool add_special_tokens,
                                  size_t max_length) const {
  std::vector<int32_t> ia = encode_ids(a), ib;
  if (b) ib = encode_ids(*b);
  size_t limit = max_length ? max_length : truncation_.max_length;
  if (limit) {
    size_t added = add_special_tokens ? post_.added_tokens(b != nullptr) : 0;
    size_t room = limit > added ? limit - added : 0;
    IGNIS_CHECK(!b || ia.size() + ib.size() <= room,
                "{}: truncating a pair of sequences is not supported ({} + {} ids, room for {})", file_, ia.size(),
                ib.size(), room);
    truncate_ids(ia, room, truncation_.left);
  }
  return post_.apply(ia, b ? &ib : nullptr, add_special_tokens);
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int32_t id : ids) {
    if (auto it = added_.find(id); it != added_.end()) {
      if (!(skip_special_tokens && it->second.special)) toks.push_back(it->second.content);
    } else if (const std::string* t = model_->id_to_token(id)) {
      toks.push_back(*t);
    }  // unknown ids are dropped, as HF does
  }
  std::string out;
  if (!decoder_) {
    for (size_t k = 0; k < toks.size(); ++k) out += (k ? " " : "") + toks[k];
    return out;
  }
  decoder_->decode_chain(toks);
  for (auto& t : toks) out += t;
  return out;
}

}  // namespace ignis::tok

namespace ignis {

std::optional<std::string> Tokenizer::token_bytes(int32_t id) const {
  if (is_special(id)) return std::nullopt;
  return decode({id}, false);
}

Encoding Tokenizer::encode_full(std::string_view a, const std::string_view* b, bool add_special_tokens,
                                size_t max_length) const {
  IGNIS_CHECK(b == nullptr, "this tokenizer does not encode pairs of sequences");
  IGNIS_CHECK(max_length == 0, "this tokenizer does not truncate");
  Encoding e;
  e.ids = encode(a, add_special_tokens);
  e.type_ids.assign(e.ids.size(), 0);
  return e;
}

static nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  IGNIS_CHECK(f.good(), "{}: cannot open", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    IGNIS_FAIL("{}: invalid JSON: {}", p.string(), e.what());
  }
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& dir) {
  auto tj = dir / "tokenizer.json";
  IGNIS_CHECK(std::filesystem::exists(tj), "{}: not found (ignis needs a Hugging Face tokenizer.json)", tj.string());
  nlohmann::json j = read_json(tj);
  nlohmann::json cfg;
  auto cj = dir / "tokenizer_config.json";
  if (std::filesystem::exists(cj)) cfg = read_json(cj);
  // chat_template.jinja (what newer transformers save) is the default template, before
  // tokenizer_config.json's, as in transformers and ChatTemplate::from_model_dir.
  if (auto jinja = dir / "chat_template.jinja"; std::filesystem::exists(jinja)) {
    std::ifstream f(jinja, std::ios::binary);
    IGNIS_CHECK(f.good(), "{}: cannot read", jinja.string());
    std::stringstream ss;
    ss << f.rdbuf();
    if (!cfg.is_object()) cfg = nlohmann::json::object();
    auto it = cfg.find("chat_template");
    if (it != cfg.end() && it->is_array()) {  // named templates: the file replaces (or adds) "default" only
      bool replaced = false;
      for (auto& e : *it)
        if (e.is_object() && e.value("name", std::string()) == "default") e["template"] = ss.str(), replaced = true;
      if (!replaced) it->push_back({{"name", "default"}, {"template", ss.str()}});
    } else {
      cfg["chat_template"] = ss.str();
    }
  }
  try {
    return std::make_unique<tok::HfTokenizer>(j, cfg, tj.string());
  } catch (const nlohmann::json::exception& e) {  // wrong field types, missing keys
    IGNIS_FAIL("{}: malformed: {}", tj.string(), e.what());
  }
}

}  // namespace ignis
