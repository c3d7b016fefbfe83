#include "tokenizer/utf8.h"

namespace ignis::tok {

// Number of bytes of a valid UTF-8 sequence at s[i], 0 if the bytes there are not
// one; `*valid_prefix` gets how many leading bytes form a valid (maybe incomplete)
// prefix, following the Unicode "maximal subpart" rule.
static int valid_seq(std::string_view s, size_t i, int* valid_prefix) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  *valid_prefix = 0;
  if (c < 0x80) return 1;
  int n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  int got = 1;
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) break;
    uint8_t x = b(i + k);
    uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (x < l || x > h) break;
    ++got;
  }
  *valid_prefix = got;
  return got == n ? n : 0;
}

uint32_t next_code_point(std::string_view s, size_t& i) {
  int pre;
  int n = valid_seq(s, i, &pre);
  if (n == 0) {
    ++i;
    return 0xFFFD;
  }
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[k])); };
  uint32_t cp;
  switch (n) {
    case 1: cp = b(i); break;
    case 2: cp = ((b(i) & 0x1F) << 6) | (b(i + 1) & 0x3F); break;
    case 3: cp = ((b(i) & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F); break;
    default:
      cp = ((b(i) & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
  }
  i += n;
  return cp;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    int pre;
    int n = valid_seq(s, i, &pre);
    if (n > 0) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += pre > 0 ? pre : 1;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    int pre;
    int n = valid_seq(s, i, &pre);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool ends_with_incomplete_utf8(std::string_view s) {
  // Look at the last up-to-3 bytes for a lead byte whose sequence is cut short.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    size_t i = s.size() - back;
    uint8_t c = static_cast<uint8_t>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    int pre;
    int n = valid_seq(s, i, &pre);
    return n == 0 && pre == static_cast<int>(back) && utf8_len(c) > static_cast<int>(back);
  }
  return false;
}

bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

}  // namespace ignis::tok
