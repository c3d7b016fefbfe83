// GBNF (llama.cpp) / xgrammar-style EBNF: rules `name ::= alternatives`, "literals", [classes]
// with ^ and ranges, `.`, ( ) groups, | , * + ? {m} {m,n} {m,}, rule references, # comments.
// A rule ends where the next `name ::=` begins, so rules may span lines.
#include <algorithm>
#include <set>

#include "core/utf8.h"
#include "structured/frontends.h"
#include "structured/text_cursor.h"

namespace ignis::structured {

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}
bool any_escapable(uint32_t cp) { return cp < 0x80 && !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')); }

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view s) : c_(s, "grammar", true) {}

  RuleSet parse() {
    RuleSet rs;
    std::set<std::string> defined;
    skip();
    if (c_.eof()) c_.fail("empty grammar (expected `root ::= ...`)");
    while (!c_.eof()) {
      size_t at = c_.pos();
      std::string name = this->name();
      skip();
      if (!c_.starts_with("::=")) c_.fail(fmt::format("expected '::=' after rule name '{}'", name));
      c_.seek(c_.pos() + 3);
      if (!defined.insert(name).second) c_.fail_at(at, fmt::format("rule '{}' is defined twice", name));
      rs.add(name, alternatives());
      if (!c_.eof()) {
        if (c_.peek() == ')') c_.fail("unbalanced ')'");
        if (c_.peek() == '|') c_.fail("unexpected '|'");
      }
    }
    for (auto& [ref, at] : refs_)
      if (!defined.count(ref)) c_.fail_at(at, fmt::format("undefined rule '{}'", ref));
    if (!defined.count("root")) c_.fail_at(0, "no rule 'root'");
    return rs;
  }

 private:
  void skip() {
    while (!c_.eof()) {
      char ch = c_.peek();
      if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
        c_.get();
      } else if (ch == '#') {
        while (!c_.eof() && c_.peek() != '\n') c_.get();
      } else {
        break;
      }
    }
  }
  std::string name() {
    std::string n;
    while (!c_.eof() && is_name_char(c_.peek())) n.push_back(c_.get());
    if (n.empty()) c_.fail("expected a rule name");
    return n;
  }
  // A rule name followed by ::= (the start of the next rule).
  bool at_rule_start() {
    size_t save = c_.pos();
    std::string n;
    while (!c_.eof() && is_name_char(c_.peek())) n.push_back(c_.get());
    skip();
    bool yes = !n.empty() && c_.starts_with("::=");
    c_.seek(save);
    return yes;
  }

  ExprP alternatives() {
    std::vector<ExprP> alts{sequence()};
    while (c_.eat('|')) alts.push_back(sequence());
    return e_alt(std::move(alts));
  }

  ExprP sequence() {
    std::vector<ExprP> items;
    for (;;) {
      skip();
      if (c_.eof() || c_.peek() == '|' || c_.peek() == ')' || at_rule_start()) break;
      ExprP x = item();
      items.push_back(quantified(std::move(x)));
    }
    return e_seq(std::move(items));
  }

  ExprP quantified(ExprP x) {
    for (;;) {
      skip();
      char ch = c_.peek();
      if (c_.eof()) return x;
      if (ch == '*') c_.get(), x = e_star(x);
      else if (ch == '+') c_.get(), x = e_plus(x);
      else if (ch == '?') c_.get(), x = e_opt(x);
      else if (ch == '{') x = braces(x);
      else return x;
    }
  }
  int number() {
    skip();
    if (!(c_.peek() >= '0' && c_.peek() <= '9')) c_.fail("expected a number");
    long v = 0;
    while (c_.peek() >= '0' && c_.peek() <= '9' && !c_.eof()) {
      v = v * 10 + (c_.get() - '0');
      if (v > 100000) c_.fail("repetition count too large (at most 100000)");
    }
    return static_cast<int>(v);
  }
  ExprP braces(ExprP x) {
    size_t at = c_.pos();
    c_.get();
    int m = number(), n = m;
    skip();
    if (c_.eat(',')) {
      skip();
      n = c_.peek() == '}' ? -1 : number();
    }
    skip();
    if (!c_.eat('}')) c_.fail("expected '}'");
    if (n >= 0 && n < m) c_.fail_at(at, fmt::format("repetition {{{},{}}} has max < min", m, n));
    return e_rep(std::move(x), m, n);
  }

  ExprP item() {
    size_t at = c_.pos();
    char ch = c_.peek();
    if (ch == '"') {
      c_.get();
      std::string bytes;
      for (;;) {
        if (c_.eof()) c_.fail_at(at, "unterminated string literal");
        if (c_.eat('"')) break;
        if (c_.peek() == '\n') c_.fail_at(at, "newline in a string literal");
        uint32_t cp = c_.eat('\\') ? c_.escape(any_escapable) : c_.code_point();
        append_utf8(bytes, cp);
      }
      return e_lit(std::move(bytes));
    }
    if (ch == '[') return char_class();
    if (ch == '.') {
      c_.get();
      return e_chars(CharSet::of(0, CharSet::kMax));
    }
    if (ch == '(') {
      c_.get();
      ExprP x = alternatives();
      skip();
      if (!c_.eat(')')) c_.fail_at(at, "unbalanced '('");
      return x;
    }
    if (is_name_char(ch)) {
      std::string n = name();
      refs_.emplace_back(n, at);
      return e_ref(n);
    }
    c_.fail(fmt::format("unexpected character '{}'", ch));
  }

  ExprP char_class() {
    size_t at = c_.pos();
    c_.get();
    bool neg = c_.eat('^');
    CharSet set;
    bool first = true;
    for (;;) {
      if (c_.eof()) c_.fail_at(at, "unterminated character class");
      if (c_.peek() == ']' && !first) break;
      first = false;
      uint32_t lo = cls_char();
      uint32_t hi = lo;
      if (c_.peek() == '-' && c_.peek(1) != ']' && !c_.eof()) {
        c_.get();
        size_t rp = c_.pos();
        if (c_.eof()) c_.fail_at(at, "unterminated character class");
        hi = cls_char();
        if (hi < lo) c_.fail_at(rp, "character range out of order");
      }
      set.add(lo, hi);
    }
    c_.get();
    return e_chars(neg ? set.negated() : set);
  }
  uint32_t cls_char() {
    if (c_.eat('\\')) return c_.escape(any_escapable);
    return c_.code_point();
  }

  TextCursor c_;
  std::vector<std::pair<std::string, size_t>> refs_;
};

}  // namespace

RuleSet parse_gbnf(std::string_view text) { return GbnfParser(text).parse(); }

}  // namespace ignis::structured
