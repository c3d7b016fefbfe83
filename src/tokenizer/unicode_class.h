// ignis tokenizer: Unicode character classes of the BERT components, as HF `tokenizers`
// has them: range tables generated from what the real library does with every code point
// (hf_unicode_tables.inc, tools/golden/gen_hf_unicode_tables.py), since its Rust crates use
// other Unicode versions than ICU.
#pragma once
#include <cstdint>
#include <string>

namespace ignis::tok {

// BertNormalizer clean_text: removes NUL, U+FFFD and controls (C* but \t \n \r) ...
bool bert_clean_removes(uint32_t cp);
// ... and turns whitespace (with \t \n \r) into ' '.
bool bert_clean_to_space(uint32_t cp);
// BertPreTokenizer: ASCII punctuation or Unicode P* (split off, isolated) ...
bool is_bert_punctuation(uint32_t cp);
// ... and whitespace (Rust char::is_whitespace: split on, removed).
bool is_bert_whitespace(uint32_t cp);
// Mn (nonspacing mark, ICU): what BertNormalizer's strip_accents drops after NFD.
bool is_mark_nonspacing(uint32_t cp);
// M* (combining mark, HF's table): what the StripAccents normalizer drops.
bool is_combining_mark(uint32_t cp);
// The CJK ideograph blocks of BERT's _is_chinese_char.
bool is_chinese_char(uint32_t cp);
// Appends the full lowercase mapping of one code point (Rust char::to_lowercase: no
// context, so a capital sigma always becomes U+03C3).
void append_lowercase(std::string& out, uint32_t cp);

}  // namespace ignis::tok
