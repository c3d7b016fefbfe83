#include "tokenizer/bert_normalizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/unicode_class.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

std::string bert_clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    uint32_t c = next_code_point(s, i);
    if (bert_clean_removes(c)) continue;  // \v and \f too: controls are removed before spaces map
    if (bert_clean_to_space(c)) out.push_back(' ');
    else out.append(s, b, i - b);
  }
  return out;
}

std::string bert_pad_chinese(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    uint32_t c = next_code_point(s, i);
    bool cjk = c >= 0x3400 && is_chinese_char(c);
    if (cjk) out.push_back(' ');
    out.append(s, b, i - b);
    if (cjk) out.push_back(' ');
  }
  return out;
}

std::string lowercase_chars(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) append_lowercase(out, next_code_point(s, i));
  return out;
}

std::string drop_nonspacing_marks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    uint32_t c = next_code_point(s, i);
    if (c < 0x300 || !is_mark_nonspacing(c)) out.append(s, b, i - b);
  }
  return out;
}

std::string drop_combining_marks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    uint32_t c = next_code_point(s, i);
    if (c < 0x300 || !is_combining_mark(c)) out.append(s, b, i - b);
  }
  return out;
}

namespace {

bool all_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// BertNormalizer's strip_accents: NFD, then drop Mn; the StripAccents normalizer only drops
// combining marks M* (tokenizer.json puts an NFD before it), as HF.
class StripAccents : public Normalizer {
 public:
  StripAccents(bool nfd, const std::string& file) {
    if (nfd) nfd_ = make_normalizer(nlohmann::json{{"type", "NFD"}}, file);
  }
  void normalize(std::string& s) const override {
    if (all_ascii(s)) return;
    if (nfd_) {
      nfd_->normalize(s);
      s = drop_nonspacing_marks(s);
    } else {
      s = drop_combining_marks(s);
    }
  }

 private:
  std::unique_ptr<Normalizer> nfd_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = lowercase_chars(s); }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip, bool lower, const std::string& file)
      : clean_(clean), chinese_(chinese), lower_(lower) {
    if (strip) strip_ = std::make_unique<StripAccents>(true, file);
  }
  // HF order: clean_text, handle_chinese_chars, strip_accents, lowercase.
  void normalize(std::string& s) const override {
    if (clean_) s = bert_clean_text(s);
    if (chinese_) s = bert_pad_chinese(s);
    if (strip_) strip_->normalize(s);
    if (lower_) s = lowercase_chars(s);
  }

 private:
  bool clean_, chinese_, lower_;
  std::unique_ptr<Normalizer> strip_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    size_t b = 0, e = s.size();
    if (left_) {
      for (size_t i = 0; i < e;) {
        if (!is_unicode_space(next_code_point(s, i))) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        size_t p = e - 1;
        while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;  // start of the last code point
        size_t i = p;
        if (!is_unicode_space(next_code_point(s, i))) break;
        e = p;
      }
    }
    if (b != 0 || e != s.size()) s = s.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

bool opt_bool(const nlohmann::json& j, const char* key, bool dflt, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  IGNIS_CHECK(j[key].is_boolean(), "{}: BertNormalizer.{} must be true, false or null", file, key);
  return j[key].get<bool>();
}

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(const nlohmann::json& j, const std::string& file) {
  bool lower = opt_bool(j, "lowercase", true, file);
  return std::make_unique<BertNormalizer>(opt_bool(j, "clean_text", true, file),
                                          opt_bool(j, "handle_chinese_chars", true, file),
                                          opt_bool(j, "strip_accents", lower, file), lower, file);
}

std::unique_ptr<Normalizer> make_lowercase_normalizer() { return std::make_unique<Lowercase>(); }

std::unique_ptr<Normalizer> make_strip_accents_normalizer(const std::string& file) {
  return std::make_unique<StripAccents>(false, file);
}

std::unique_ptr<Normalizer> make_strip_normalizer(const nlohmann::json& j) {
  return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
}

}  // namespace ignis::tok
