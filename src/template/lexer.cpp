// ignis template: lexer (see lexer.h for the whitespace rules it reproduces).
#include "template/lexer.h"

#include "core/utf8.h"

#include <cctype>
#include <cstring>

#include "template/errors.h"

namespace ignis::tmpl {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string normalize_newlines(const std::string& src, bool keep_trailing) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!keep_trailing && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void rstrip(std::string& s) {
  while (!s.empty() && is_space(s.back())) s.pop_back();
}


class Lexer {
 public:
  Lexer(const std::string& src, const LexOptions& o) : s_(normalize_newlines(src, o.keep_trailing_newline)), o_(o) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      size_t start = find_tag(pos_);
      std::string text = s_.substr(pos_, start - pos_);
      if (start == s_.size()) {
        emit(Tok::kText, text);
        break;
      }
      char kind = s_[start + 1];  // '{', '%' or '#'
      char sign = start + 2 < s_.size() ? s_[start + 2] : 0;
      if (sign != '-' && sign != '+') sign = 0;
      if (sign == '-') {
        rstrip(text);
      } else if (sign != '+' && o_.lstrip_blocks && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool all_ws = l_pos < text.size();
          for (size_t i = l_pos; i < text.size(); ++i) all_ws = all_ws && is_space(text[i]);
          if (all_ws) text.resize(l_pos);
        }
      }
      emit(Tok::kText, text);
      line_ += count_newlines(pos_, start);
      pos_ = start + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        line_starting = comment();
      } else if (kind == '%' && raw()) {
        line_starting = last_consumed_newline_;
      } else {
        line_starting = tag(kind == '{');
      }
    }
    tokens_.push_back({Tok::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < s_.size(); ++i)
      if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    return s_.size();
  }
  int count_newlines(size_t a, size_t b) const {
    int n = 0;
    for (size_t i = a; i < b && i < s_.size(); ++i) n += s_[i] == '\n';
    return n;
  }
  void emit(Tok k, std::string v) {
    if (k == Tok::kText && v.empty()) return;
    tokens_.push_back({k, std::move(v), line_});
  }
  [[noreturn]] void fail(const std::string& what) const { throw TemplateError(line_, "TemplateSyntaxError: " + what); }

  // After an end marker at pos_ (already past it): apply `-` / `+` / trim_blocks.
  // Returns whether the consumed end ended with a newline (Jinja's line_starting).
  bool finish_end(char sign, bool block_like) {
    size_t begin = pos_;
    if (sign == '-') {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
    } else if (sign != '+' && block_like && o_.trim_blocks && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_ += count_newlines(begin, pos_);
    return pos_ > begin && s_[pos_ - 1] == '\n';
  }

  bool comment() {
    size_t end = s_.find("#}", pos_);
    if (end == std::string::npos) fail("missing end of comment tag");
    char sign = end > pos_ && (s_[end - 1] == '-' || s_[end - 1] == '+') ? s_[end - 1] : 0;
    line_ += count_newlines(pos_, end);
    pos_ = end + 2;
    return finish_end(sign, true);
  }

  // {% raw %}...{% endraw %}: pos_ is just after "{%" (and its sign).
  bool raw() {
    size_t p = pos_;
    while (p < s_.size() && is_space(s_[p])) ++p;
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p + 3])) || s_[p + 3] == '_')))
      return false;
    p += 3;
    while (p < s_.size() && is_space(s_[p])) ++p;
    char sign = 0;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    if (s_.compare(p, 2, "%}") != 0) fail("expected '%}' after 'raw'");
    pos_ = p + 2;
    if (sign == '-') finish_end('-', true);  // raw begin does not trim_blocks
    // Find {% endraw %}.
    for (size_t q = pos_; (q = s_.find("{%", q)) != std::string::npos; q += 2) {
      size_t r = q + 2;
      char bsign = 0;
      if (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) bsign = s_[r++];
      while (r < s_.size() && is_space(s_[r])) ++r;
      if (s_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < s_.size() && is_space(s_[r])) ++r;
      char esign = 0;
      if (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) esign = s_[r++];
      if (s_.compare(r, 2, "%}") != 0) continue;
      std::string body = s_.substr(pos_, q - pos_);
      if (bsign == '-') rstrip(body);
      else if (bsign != '+' && o_.lstrip_blocks) {
        size_t l_pos = body.rfind('\n');
        if (l_pos != std::string::npos) {
          bool all_ws = l_pos + 1 < body.size();
          for (size_t i = l_pos + 1; i < body.size(); ++i) all_ws = all_ws && is_space(body[i]);
          if (all_ws) body.resize(l_pos + 1);
        }
      }
      emit(Tok::kText, body);
      line_ += count_newlines(pos_, r + 2);
      pos_ = r + 2;
      last_consumed_newline_ = finish_end(esign, true);
      return true;
    }
    fail("missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %}; pos_ is just after the opener.
  bool tag(bool is_var) {
    emit(is_var ? Tok::kVarBegin : Tok::kBlockBegin, "");
    const char* close = is_var ? "}}" : "%}";
    std::vector<char> balance;
    while (true) {
      while (pos_ < s_.size() && is_space(s_[pos_])) {
        line_ += s_[pos_] == '\n';
        ++pos_;
      }
      if (pos_ >= s_.size()) fail(is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (balance.empty()) {
        char sign = 0;
        size_t p = pos_;
        if (s_[p] == '-' || s_[p] == '+') sign = s_[p++];
        if (s_.compare(p, 2, close) == 0 && !(is_var && sign == '+')) {
          pos_ = p + 2;
          emit(is_var ? Tok::kVarEnd : Tok::kBlockEnd, "");
          return finish_end(sign, !is_var);
        }
      }
      char c = s_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        number();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t b = pos_;
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
        emit(Tok::kName, s_.substr(b, pos_ - b));
      } else if (c == '\'' || c == '"') {
        string_literal(c);
      } else {
        static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : two)
          if (s_.compare(pos_, 2, t) == 0) op = t;
        if (op.empty()) {
          if (!std::strchr("+-/*%~[](){}<>=.:|,;", c)) fail(fmt::format("unexpected character '{}'", c));
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
        if (op == ")" || op == "]" || op == "}") {
          if (balance.empty()) fail(fmt::format("unexpected '{}'", op));
          if (balance.back() != op[0]) fail(fmt::format("unexpected '{}', expected '{}'", op, balance.back()));
          balance.pop_back();
        }
        pos_ += op.size();
        emit(Tok::kOp, op);
      }
    }
  }

  void number() {
    size_t b = pos_;
    auto digits = [&] {
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    };
    digits();
    bool is_float = false;
    bool after_dot = !tokens_.empty() && tokens_.back().kind == Tok::kOp && tokens_.back().value == ".";
    if (!after_dot && pos_ + 1 < s_.size() && s_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
      ++pos_;
      digits();
      is_float = true;
    }
    if (!after_dot && pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p]))) {
        pos_ = p;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = b; i < pos_; ++i)
      if (s_[i] != '_') text.push_back(s_[i]);
    emit(is_float ? Tok::kFloat : Tok::kInt, text);
  }

  void string_literal(char q) {
    std::string out;
    size_t p = pos_ + 1;
    int start_line = line_;
    while (true) {
      if (p >= s_.size()) {
        line_ = start_line;
        fail("unterminated string literal");
      }
      char c = s_[p];
      if (c == q) break;
      if (c == '\n') ++line_;
      if (c != '\\' || p + 1 >= s_.size()) {
        out.push_back(c);
        ++p;
        continue;
      }
      char n = s_[p + 1];
      p += 2;
      switch (n) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '0': out.push_back('\0'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case '\n': ++line_; break;  // line continuation
        case 'x': case 'u': case 'U': {
          size_t len = n == 'x' ? 2 : n == 'u' ? 4 : 8;
          if (p + len > s_.size()) fail("truncated \\" + std::string(1, n) + " escape");
          unsigned cp = 0;
          for (size_t i = 0; i < len; ++i) {
            char h = s_[p + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) fail("bad \\" + std::string(1, n) + " escape");
            cp = cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          p += len;
          append_utf8(out, cp);
          break;
        }
        default:  // unknown escapes keep their backslash, as Python's unicode-escape does
          out.push_back('\\');
          out.push_back(n);
      }
    }
    pos_ = p + 1;
    emit(Tok::kString, out);
    // emit() skips empty text only, so empty strings still produce a token
  }

  std::string s_;
  LexOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool last_consumed_newline_ = false;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> lex(const std::string& source, const LexOptions& opts) { return Lexer(source, opts).run(); }

}  // namespace ignis::tmpl
