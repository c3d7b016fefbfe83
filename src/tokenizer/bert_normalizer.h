// ignis tokenizer: BertNormalizer and the small character normalizers (Lowercase,
// StripAccents, Strip) of tokenizer.json, same behaviour as HF `tokenizers`.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalizer.h"

namespace ignis::tok {

// {"type": "BertNormalizer", "clean_text", "handle_chinese_chars", "strip_accents" (null:
// follows lowercase), "lowercase"}.
std::unique_ptr<Normalizer> make_bert_normalizer(const nlohmann::json& j, const std::string& file);
std::unique_ptr<Normalizer> make_lowercase_normalizer();
std::unique_ptr<Normalizer> make_strip_accents_normalizer(const std::string& file);  // drops M* (no NFD, as HF)
std::unique_ptr<Normalizer> make_strip_normalizer(const nlohmann::json& j);  // strip_left / strip_right

// The BERT steps one by one (exposed for tests).
std::string bert_clean_text(std::string_view s);      // drop NUL, U+FFFD, C* except \t\n\r; whitespace -> ' '
std::string bert_pad_chinese(std::string_view s);     // " c " around each CJK ideograph
std::string lowercase_chars(std::string_view s);      // char by char full lowercase
std::string drop_nonspacing_marks(std::string_view s);  // Mn (BertNormalizer)
std::string drop_combining_marks(std::string_view s);   // M* (StripAccents)

}  // namespace ignis::tok
