// ignis tokenizer: normalizers of tokenizer.json ("normalizer": NFC/NFD/NFKC/NFKD,
// Prepend, Replace, Sequence; BertNormalizer, Lowercase, StripAccents, Strip in
// bert_normalizer.h; Precompiled in precompiled.h), same behaviour as HF `tokenizers`.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>

namespace ignis::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;  // in place; `s` is valid UTF-8
};

// Builds from the JSON object; null JSON gives nullptr. Unsupported types throw
// Error naming the type and `file`.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& file);

}  // namespace ignis::tok
