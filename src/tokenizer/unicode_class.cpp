#include "tokenizer/unicode_class.h"

#include <algorithm>
#include <iterator>

#include <unicode/uchar.h>

#include "tokenizer/utf8.h"

namespace ignis::tok {
namespace {

struct CodeRange {
  uint32_t lo, hi;  // inclusive
};
struct LowerMapping {
  uint32_t cp;
  const char* lower;  // UTF-8
};

#include "tokenizer/hf_unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&t)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(t), std::end(t), cp, [](uint32_t c, const CodeRange& r) { return c < r.lo; });
  return it != std::begin(t) && cp <= std::prev(it)->hi;
}

}  // namespace

bool bert_clean_removes(uint32_t cp) { return cp == 0xFFFD || in_ranges(kHfCleanRemoved, cp); }
bool bert_clean_to_space(uint32_t cp) { return cp == ' ' || in_ranges(kHfCleanToSpace, cp); }
bool is_bert_punctuation(uint32_t cp) { return in_ranges(kHfBertPunctuation, cp); }
bool is_bert_whitespace(uint32_t cp) { return in_ranges(kHfBertWhitespace, cp); }
bool is_mark_nonspacing(uint32_t cp) { return u_charType(static_cast<UChar32>(cp)) == U_NON_SPACING_MARK; }
bool is_combining_mark(uint32_t cp) { return in_ranges(kHfCombiningMarks, cp); }

bool is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_lowercase(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  auto it = std::lower_bound(std::begin(kHfLowercase), std::end(kHfLowercase), cp,
                             [](const LowerMapping& m, uint32_t c) { return m.cp < c; });
  if (it != std::end(kHfLowercase) && it->cp == cp) out += it->lower;
  else append_utf8(out, cp);
}

}  // namespace ignis::tok
