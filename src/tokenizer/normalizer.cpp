#include "tokenizer/normalizer.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/regex.h"

namespace ignis::tok {
namespace {

enum class UForm { NFC, NFD, NFKC, NFKD };

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(UForm f, const std::string& file) : form_(f) {
    UErrorCode st = U_ZERO_ERROR;
    switch (f) {
      case UForm::NFC: n_ = unorm2_getNFCInstance(&st); break;
      case UForm::NFD: n_ = unorm2_getNFDInstance(&st); break;
      case UForm::NFKC: n_ = unorm2_getNFKCInstance(&st); break;
      case UForm::NFKD: n_ = unorm2_getNFKDInstance(&st); break;
    }
    IGNIS_CHECK(U_SUCCESS(st) && n_, "{}: ICU normalizer unavailable ({})", file, u_errorName(st));
  }
  void normalize(std::string& s) const override {
    // Fast path: code points below U+0300 (lead bytes < 0xCC) are stable under NFC;
    // for the decomposing forms only ASCII is.
    uint8_t limit = (form_ == UForm::NFC) ? 0xCC : 0x80;
    bool simple = true;
    for (unsigned char c : s)
      if (c >= limit) {
        simple = false;
        break;
      }
    if (simple) return;
    UErrorCode st = U_ZERO_ERROR;
    int32_t n16 = 0;
    u_strFromUTF8(nullptr, 0, &n16, s.data(), static_cast<int32_t>(s.size()), &st);
    std::vector<UChar> in(n16 + 1);
    st = U_ZERO_ERROR;
    u_strFromUTF8(in.data(), n16 + 1, nullptr, s.data(), static_cast<int32_t>(s.size()), &st);
    IGNIS_CHECK(U_SUCCESS(st), "normalizer: invalid UTF-8 input ({})", u_errorName(st));
    st = U_ZERO_ERROR;
    if (unorm2_isNormalized(n_, in.data(), n16, &st) && U_SUCCESS(st)) return;
    st = U_ZERO_ERROR;
    int32_t need = unorm2_normalize(n_, in.data(), n16, nullptr, 0, &st);
    std::vector<UChar> out(need + 1);
    st = U_ZERO_ERROR;
    unorm2_normalize(n_, in.data(), n16, out.data(), need + 1, &st);
    IGNIS_CHECK(U_SUCCESS(st), "normalizer: ICU normalize failed ({})", u_errorName(st));
    int32_t n8 = 0;
    st = U_ZERO_ERROR;
    u_strToUTF8(nullptr, 0, &n8, out.data(), need, &st);
    std::string res(n8, '\0');
    st = U_ZERO_ERROR;
    u_strToUTF8(res.data(), n8 + 1, nullptr, out.data(), need, &st);
    s = std::move(res);
  }

 private:
  UForm form_;
  const UNormalizer2* n_ = nullptr;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, p_);  // HF prepends only to non-empty strings
  }

 private:
  std::string p_;
};

class Replace : public Normalizer {
 public:
  Replace(const nlohmann::json& pattern, std::string content, const std::string& file) : content_(std::move(content)) {
    if (pattern.contains("String")) {
      literal_ = pattern["String"].get<std::string>();
      IGNIS_CHECK(!literal_.empty(), "{}: Replace normalizer with an empty pattern", file);
    } else if (pattern.contains("Regex")) {
      re_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>(), false, file + ": Replace normalizer");
    } else {
      IGNIS_FAIL("{}: Replace normalizer pattern must be String or Regex", file);
    }
  }
  void normalize(std::string& s) const override {
    std::string out;
    size_t prev = 0;
    if (re_) {
      for (auto [b, e] : re_->find_all(s)) {
        out.append(s, prev, b - prev);
        out += content_;
        prev = e;
      }
    } else {
      size_t p;
      if (s.find(literal_) == std::string::npos) return;
      while ((p = s.find(literal_, prev)) != std::string::npos) {
        out.append(s, prev, p - prev);
        out += content_;
        prev = p + literal_.size();
      }
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }

 private:
  std::string literal_, content_;
  std::unique_ptr<Regex> re_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> v) : v_(std::move(v)) {}
  void normalize(std::string& s) const override {
    for (auto& n : v_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> v_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  IGNIS_CHECK(j.is_object() && j.contains("type"), "{}: normalizer must be an object with a \"type\"", file);
  std::string type = j["type"].get<std::string>();
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UForm::NFC, file);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UForm::NFD, file);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UForm::NFKC, file);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UForm::NFKD, file);
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Replace") return std::make_unique<Replace>(j.at("pattern"), j.at("content").get<std::string>(), file);
  if (type == "BertNormalizer") return make_bert_normalizer(j, file);
  if (type == "Lowercase") return make_lowercase_normalizer();
  if (type == "StripAccents") return make_strip_accents_normalizer(file);
  if (type == "Strip") return make_strip_normalizer(j);
  if (type == "Precompiled") return make_precompiled_normalizer(j, file);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> v;
    for (auto& n : j.at("normalizers"))
      if (auto p = make_normalizer(n, file)) v.push_back(std::move(p));
    return std::make_unique<SequenceNormalizer>(std::move(v));
  }
  IGNIS_FAIL("{}: unsupported normalizer type '{}'", file, type);
}

}  // namespace ignis::tok
