#include "tokenizer/post_processor.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ignis::tok {

PostProcessor::PostProcessor(const nlohmann::json& j, const std::string& file) : file_(file) { load(j, file); }

std::vector<PostProcessor::Piece> PostProcessor::parse_template(const nlohmann::json& t, const nlohmann::json& specials,
                                                                const std::string& file, const char* which) {
  IGNIS_CHECK(t.is_array(), "{}: TemplateProcessing.{} must be an array", file, which);
  std::vector<Piece> out;
  for (const auto& item : t) {
    Piece p;
    if (item.contains("Sequence")) {
      const auto& s = item["Sequence"];
      std::string id = s.value("id", std::string("A"));
      IGNIS_CHECK(id == "A" || id == "B", "{}: TemplateProcessing.{} sequence id '{}' is not A or B", file, which, id);
      p.seq = id == "A" ? 0 : 1;
      p.type_id = s.value("type_id", 0);
    } else if (item.contains("SpecialToken")) {
      const auto& s = item["SpecialToken"];
      std::string name = s.at("id").get<std::string>();
      IGNIS_CHECK(specials.is_object() && specials.contains(name),
                  "{}: TemplateProcessing uses special token '{}' not in special_tokens", file, name);
      p.ids = specials[name].at("ids").get<std::vector<int32_t>>();
      p.type_id = s.value("type_id", 0);
    } else {
      IGNIS_FAIL("{}: TemplateProcessing.{} item is neither Sequence nor SpecialToken", file, which);
    }
    out.push_back(std::move(p));
  }
  return out;
}

void PostProcessor::load(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return;
  IGNIS_CHECK(j.is_object(), "{}: post_processor must be an object", file);
  std::string type = j.value("type", std::string());
  if (type == "ByteLevel") return;  // only moves offsets; ids unchanged
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) load(p, file);
    return;
  }
  IGNIS_CHECK(single_.empty(), "{}: more than one post-processor that adds special tokens", file);
  auto special = [&](const char* key) {
    const auto& v = j.at(key);
    IGNIS_CHECK(v.is_array() && v.size() == 2 && v[1].is_number_integer(), "{}: {}.{} must be [token, id]", file, type,
                key);
    Piece p;
    p.ids = {v[1].get<int32_t>()};
    return p;
  };
  auto seq = [](int s, int32_t type_id) {
    Piece p;
    p.seq = s;
    p.type_id = type_id;
    return p;
  };
  auto with_type = [](Piece p, int32_t t) {
    p.type_id = t;
    return p;
  };
  if (type == "TemplateProcessing") {
    const auto& specials = j.contains("special_tokens") ? j["special_tokens"] : nlohmann::json::object();
    single_ = parse_template(j.at("single"), specials, file, "single");
    if (j.contains("pair") && !j["pair"].is_null()) {
      pair_ = parse_template(j["pair"], specials, file, "pair");
      has_pair_ = true;
    }
  } else if (type == "BertProcessing") {  // [CLS] A [SEP] (0) B [SEP] (1)
    Piece cls = special("cls"), sep = special("sep");
    single_ = {cls, seq(0, 0), sep};
    pair_ = {cls, seq(0, 0), sep, seq(1, 1), with_type(sep, 1)};
    has_pair_ = true;
  } else if (type == "RobertaProcessing") {  // <s> A </s> </s> B </s>, all type 0
    Piece cls = special("cls"), sep = special("sep");
    single_ = {cls, seq(0, 0), sep};
    pair_ = {cls, seq(0, 0), sep, sep, seq(1, 0), sep};
    has_pair_ = true;
  } else {
    IGNIS_FAIL("{}: unsupported post_processor type '{}'", file, type);
  }
}

size_t PostProcessor::added_tokens(bool pair) const {
  size_t n = 0;
  for (const auto& p : pair ? pair_ : single_)
    if (p.seq < 0) n += p.ids.size();
  return n;
}

Encoding PostProcessor::apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b, bool add_special) const {
  Encoding e;
  if (!add_special || single_.empty()) {  // HF default_process: concatenate; the pair has type id 1
    e.ids = a;
    e.type_ids.assign(a.size(), 0);
    if (b) {
      e.ids.insert(e.ids.end(), b->begin(), b->end());
      e.type_ids.resize(e.ids.size(), 1);
    }
    return e;
  }
  IGNIS_CHECK(!b || has_pair_, "{}: the post_processor has no pair template, cannot encode a pair", file_);
  for (const auto& p : b ? pair_ : single_) {
    const std::vector<int32_t>& src = p.seq < 0 ? p.ids : (p.seq == 0 ? a : *b);
    IGNIS_CHECK(p.seq != 1 || b, "{}: the single template uses sequence B", file_);
    e.ids.insert(e.ids.end(), src.begin(), src.end());
    e.type_ids.resize(e.ids.size(), p.type_id);
  }
  return e;
}

Truncation Truncation::from_json(const nlohmann::json& j, const std::string& file) {
  Truncation t;
  if (j.is_null()) return t;
  IGNIS_CHECK(j.is_object() && j.contains("max_length") && j["max_length"].is_number_integer() &&
                  j["max_length"].get<int64_t>() >= 0,
              "{}: truncation must be null or an object with an unsigned max_length", file);
  t.max_length = j["max_length"].get<size_t>();
  std::string dir = j.value("direction", std::string("Right"));
  IGNIS_CHECK(dir == "Right" || dir == "Left", "{}: truncation.direction '{}' is not Right or Left", file, dir);
  t.left = dir == "Left";
  IGNIS_CHECK(j.value("stride", 0) == 0, "{}: truncation with a stride (overflowing windows) is not supported", file);
  return t;
}

void truncate_ids(std::vector<int32_t>& ids, size_t n, bool left) {
  if (ids.size() <= n) return;
  if (left) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(n));
  else ids.resize(n);
}

}  // namespace ignis::tok
