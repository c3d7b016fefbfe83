// ignis tokenizer: Unicode character classes used by the BERT components (ICU's
// general categories), named after the Rust predicates HF `tokenizers` uses.
#pragma once
#include <cstdint>
#include <string>

namespace ignis::tok {

// General category C* (Cc, Cf, Cn, Co, Cs): unicode_categories' is_other().
bool is_other(uint32_t cp);
// Punctuation P* (Pc, Pd, Ps, Pe, Pi, Pf, Po).
bool is_punctuation(uint32_t cp);
// ASCII punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ (Rust char::is_ascii_punctuation).
inline bool is_ascii_punctuation(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}
// Mn (nonspacing mark).
bool is_mark_nonspacing(uint32_t cp);
// The CJK ideograph blocks of BERT's _is_chinese_char.
bool is_chinese_char(uint32_t cp);
// Appends the full lowercase mapping of one code point (Rust char::to_lowercase: no
// context, so a capital sigma always becomes U+03C3).
void append_lowercase(std::string& out, uint32_t cp);

}  // namespace ignis::tok
