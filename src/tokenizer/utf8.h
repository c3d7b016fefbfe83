// ignis tokenizer: UTF-8 helpers shared by the pipeline stages.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace ignis::tok {

// Length of the UTF-8 sequence starting with lead byte `b` (1 for invalid leads,
// so callers always make progress).
inline int utf8_len(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

using ignis::append_utf8;  // core/utf8.h

// Decodes one code point at s[i] (i advanced past it); invalid bytes give U+FFFD
// and advance by one byte.
uint32_t next_code_point(std::string_view s, size_t& i);

// Like Rust's String::from_utf8_lossy / WHATWG decode: each maximal invalid
// subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

bool is_valid_utf8(std::string_view s);

// True when `s` ends with a UTF-8 sequence that is a valid prefix but incomplete.
bool ends_with_incomplete_utf8(std::string_view s);

// Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s match).
bool is_unicode_space(uint32_t cp);

}  // namespace ignis::tok
