// Python `re` subset -> Expr: literals, escapes, . , [classes] with ranges and negation, \d \w \s
// and their negations, groups ( ) (?: ) (?P<name> ), |, * + ? {m} {m,} {m,n} {,n} (lazy forms
// match the same strings), ^ / $ at the ends. Backreferences, lookaround, word boundaries and
// inline flags are errors naming the feature and its position.
#include "structured/frontends.h"
#include "structured/text_cursor.h"

namespace ignis::structured {

namespace {

constexpr int kMaxRepeat = 10000;

bool punct_escapable(uint32_t cp) {
  return cp < 0x80 && !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
}

CharSet digit() { return CharSet::of('0', '9'); }
CharSet word() {
  CharSet s = CharSet::of('0', '9');
  s.add('A', 'Z');
  s.add('a', 'z');
  s.add('_', '_');
  return s;
}
CharSet space() {
  CharSet s = CharSet::of('\t', '\r');  // \t \n \v \f \r
  s.add(' ', ' ');
  return s;
}
CharSet any_char() { return CharSet::of(0, CharSet::kMax); }
CharSet dot() { return CharSet::of('\n', '\n').negated(); }

class RegexParser {
 public:
  RegexParser(std::string_view s, const std::string& what) : s_(s), c_(s, what, false) {}

  ExprP parse(bool search) {
    std::vector<ExprP> alts;
    do {
      bool start = c_.eat('^');
      ExprP body = concat(/*top=*/true);
      bool end = c_.eat('$');
      if (!c_.eof() && c_.peek() != '|') {
        if (c_.peek() == ')') c_.fail("unbalanced ')'");
        c_.fail(end ? "'$' is supported only at the end of the pattern" : "unexpected character");
      }
      if (search) {
        std::vector<ExprP> seq;
        if (!start) seq.push_back(e_star(e_chars(any_char())));
        seq.push_back(body);
        if (!end) seq.push_back(e_star(e_chars(any_char())));
        body = e_seq(std::move(seq));
      }
      alts.push_back(body);
    } while (c_.eat('|'));
    return e_alt(std::move(alts));
  }

 private:
  ExprP alternatives() {
    std::vector<ExprP> alts{concat(false)};
    while (c_.eat('|')) alts.push_back(concat(false));
    return e_alt(std::move(alts));
  }

  ExprP concat(bool top) {
    std::vector<ExprP> items;
    while (!c_.eof()) {
      char ch = c_.peek();
      if (ch == '|' || ch == ')') break;
      if (ch == '$') {
        if (top && (c_.pos() + 1 == s_.size() || s_[c_.pos() + 1] == '|')) break;
        c_.fail("'$' is supported only at the end of the pattern");
      }
      if (ch == '^') c_.fail("'^' is supported only at the start of the pattern");
      size_t at = c_.pos();
      ExprP x = atom();
      items.push_back(quantifiers(std::move(x), at));
    }
    return e_seq(std::move(items));
  }

  // Python reads `{` as a literal unless it starts a well-formed {m}, {m,}, {,n} or {m,n}.
  bool brace_quantifier(int& m, int& n) {
    size_t save = c_.pos();
    c_.get();
    auto num = [&](int& v) {
      if (!(c_.peek() >= '0' && c_.peek() <= '9') || c_.eof()) return false;
      long x = 0;
      while (!c_.eof() && c_.peek() >= '0' && c_.peek() <= '9') {
        x = x * 10 + (c_.get() - '0');
        if (x > kMaxRepeat) c_.fail(fmt::format("repetition count above {}", kMaxRepeat));
      }
      v = static_cast<int>(x);
      return true;
    };
    bool have_m = num(m);
    if (!have_m) m = 0;
    if (c_.eat(',')) {
      if (!num(n)) n = -1;
    } else {
      if (!have_m) {
        c_.seek(save);
        return false;
      }
      n = m;
    }
    if (!c_.eat('}')) {
      c_.seek(save);
      return false;
    }
    return true;
  }

  ExprP quantifiers(ExprP x, size_t at) {
    bool quantified = false;
    for (;;) {
      if (c_.eof()) return x;
      char ch = c_.peek();
      int m = 0, n = 0;
      size_t qp = c_.pos();
      if (ch == '*') c_.get(), m = 0, n = -1;
      else if (ch == '+') c_.get(), m = 1, n = -1;
      else if (ch == '?') c_.get(), m = 0, n = 1;
      else if (ch == '{') {
        if (!brace_quantifier(m, n)) return x;
        if (n >= 0 && n < m) c_.fail_at(qp, "repetition with max < min");
      } else {
        return x;
      }
      if (quantified) c_.fail_at(qp, "multiple repeat");
      quantified = true;
      if (c_.peek() == '?' && !c_.eof()) c_.get();  // lazy: same language
      else if (c_.peek() == '+' && !c_.eof()) c_.fail("possessive quantifiers are not supported");
      x = e_rep(std::move(x), m, n);
      (void)at;
    }
  }

  ExprP atom() {
    size_t at = c_.pos();
    char ch = c_.peek();
    switch (ch) {
      case '(': {
        c_.get();
        if (c_.eat('?')) {
          if (c_.eat(':')) {
          } else if (c_.starts_with("P<")) {
            while (!c_.eof() && c_.peek() != '>') c_.get();
            if (!c_.eat('>')) c_.fail_at(at, "unterminated group name");
          } else if (c_.starts_with("P=")) {
            c_.fail_at(at, "backreferences are not supported");
          } else if (c_.peek() == '=' || c_.peek() == '!' || c_.starts_with("<=") || c_.starts_with("<!")) {
            c_.fail_at(at, "lookaround assertions are not supported");
          } else {
            c_.fail_at(at, "this group extension (inline flags, conditionals, ...) is not supported");
          }
        }
        ExprP x = alternatives();
        if (!c_.eat(')')) c_.fail_at(at, "missing ')'");
        return x;
      }
      case '[': return char_class();
      case '.': c_.get(); return e_chars(dot());
      case '*':
      case '+':
      case '?': c_.fail("nothing to repeat");
      case '{': {
        int m, n;
        size_t save = c_.pos();
        if (brace_quantifier(m, n)) c_.fail_at(save, "nothing to repeat");
        c_.get();
        return e_lit("{");
      }
      case '\\': {
        c_.get();
        CharSet set;
        if (shorthand(set)) return e_chars(set);
        char e = c_.peek();
        if (e >= '1' && e <= '9') c_.fail_at(at, "backreferences are not supported");
        if (e == 'b' || e == 'B') c_.fail_at(at, "word boundaries (\\b, \\B) are not supported");
        if (e == 'A' || e == 'Z' || e == 'z' || e == 'G') c_.fail_at(at, fmt::format("the anchor '\\{}' is not supported", e));
        uint32_t cp = c_.escape(punct_escapable);
        return e_chars(CharSet::of(cp, cp));
      }
      default: {
        uint32_t cp = c_.code_point();
        return e_chars(CharSet::of(cp, cp));
      }
    }
  }

  // \d \w \s \D \W \S after the backslash.
  bool shorthand(CharSet& out) {
    char e = c_.peek();
    switch (e) {
      case 'd': out = digit(); break;
      case 'w': out = word(); break;
      case 's': out = space(); break;
      case 'D': out = digit().negated(); break;
      case 'W': out = word().negated(); break;
      case 'S': out = space().negated(); break;
      default: return false;
    }
    c_.get();
    return true;
  }

  ExprP char_class() {
    size_t at = c_.pos();
    c_.get();
    bool neg = c_.eat('^');
    CharSet set;
    bool first = true;
    for (;;) {
      if (c_.eof()) c_.fail_at(at, "unterminated character set");
      if (c_.peek() == ']' && !first) break;
      first = false;
      CharSet sh;
      uint32_t lo;
      if (c_.eat('\\')) {
        if (shorthand(sh)) {
          set.add(sh);
          continue;
        }
        if (c_.peek() == 'b') {
          c_.get();
          lo = '\b';
        } else {
          lo = c_.escape(punct_escapable);
        }
      } else {
        lo = c_.code_point();
      }
      uint32_t hi = lo;
      if (c_.peek() == '-' && !c_.eof() && c_.peek(1) != ']' && c_.pos() + 1 < s_.size()) {
        c_.get();
        size_t rp = c_.pos();
        if (c_.eat('\\')) {
          if (shorthand(sh)) c_.fail_at(rp, "bad character range");
          hi = c_.escape(punct_escapable);
        } else {
          hi = c_.code_point();
        }
        if (hi < lo) c_.fail_at(rp, "bad character range (out of order)");
      }
      set.add(lo, hi);
    }
    c_.get();
    return e_chars(neg ? set.negated() : set);
  }

  std::string_view s_;
  TextCursor c_;
};

}  // namespace

ExprP parse_regex(std::string_view pattern, const std::string& what, bool search) {
  return RegexParser(pattern, what).parse(search);
}

}  // namespace ignis::structured
