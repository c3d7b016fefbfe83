#include "structured/text_cursor.h"

namespace ignis::structured {

void TextCursor::fail_at(size_t p, const std::string& msg) const {
  if (!lines_) IGNIS_FAIL("{}: position {}: {}", what_, p, msg);
  size_t line = 1, col = 1;
  for (size_t k = 0; k < p && k < s_.size(); ++k) {
    if (s_[k] == '\n') ++line, col = 1;
    else ++col;
  }
  IGNIS_FAIL("{}: line {} col {}: {}", what_, line, col, msg);
}

uint32_t TextCursor::code_point() {
  if (eof()) fail("unexpected end");
  size_t start = i_;
  unsigned char c = static_cast<unsigned char>(get());
  int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  if (n < 0) fail_at(start, "invalid UTF-8");
  uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 0; k < n; ++k) {
    unsigned char d = static_cast<unsigned char>(peek());
    if (eof() || (d & 0xC0) != 0x80) fail_at(start, "invalid UTF-8");
    cp = (cp << 6) | (d & 0x3F);
    ++i_;
  }
  return cp;
}

uint32_t TextCursor::hex(int n) {
  uint32_t v = 0;
  for (int k = 0; k < n; ++k) {
    char c = peek();
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0 || eof()) fail(fmt::format("expected {} hex digits", n));
    v = v * 16 + static_cast<uint32_t>(d);
    ++i_;
  }
  if (v > 0x10FFFF) fail("code point out of range");
  return v;
}

uint32_t TextCursor::escape(bool (*literal_ok)(uint32_t)) {
  size_t start = i_ - 1;
  if (eof()) fail("a backslash at the end");
  char c = get();
  switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    case 'x': return hex(2);
    case 'u': return hex(4);
    case 'U': return hex(8);
    default: break;
  }
  --i_;
  uint32_t cp = code_point();
  if (!literal_ok(cp)) fail_at(start, fmt::format("unknown escape '\\{}'", c));
  return cp;
}

}  // namespace ignis::structured
