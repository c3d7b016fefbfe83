// ignis structured: a cursor over constraint source text with positions for error messages and
// the escape / UTF-8 decoding the GBNF and regex parsers share.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ignis::structured {

class TextCursor {
 public:
  TextCursor(std::string_view s, std::string what, bool lines) : s_(s), what_(std::move(what)), lines_(lines) {}

  bool eof() const { return i_ >= s_.size(); }
  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  size_t pos() const { return i_; }
  void seek(size_t p) { i_ = p; }
  char get() { return s_[i_++]; }
  bool eat(char c) {
    if (peek() != c || eof()) return false;
    ++i_;
    return true;
  }
  bool starts_with(std::string_view t) const { return s_.substr(i_, t.size()) == t; }

  // One UTF-8 code point (the source text must be valid UTF-8).
  uint32_t code_point();
  // The code point of a backslash escape after the backslash: n t r f v 0, xHH, uHHHH,
  // UHHHHHHHH, or the character itself when `literal_ok` says it may be escaped.
  uint32_t escape(bool (*literal_ok)(uint32_t));

  [[noreturn]] void fail(const std::string& msg) const { fail_at(i_, msg); }
  [[noreturn]] void fail_at(size_t p, const std::string& msg) const;

 private:
  uint32_t hex(int n);
  std::string_view s_;
  std::string what_;
  bool lines_;  // positions as line/column (grammars) or as a byte offset (regexes)
  size_t i_ = 0;
};

}  // namespace ignis::structured
