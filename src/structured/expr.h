// ignis structured: the expression tree every constraint front end (GBNF, regex, JSON schema)
// builds, and the named rule set it forms. Lowered once to the byte-level Grammar (grammar.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ignis::structured {

// A set of Unicode code points: sorted, disjoint, non-adjacent inclusive ranges.
struct CharSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;

  static constexpr uint32_t kMax = 0x10FFFF;
  static CharSet of(uint32_t lo, uint32_t hi) {
    CharSet s;
    s.add(lo, hi);
    return s;
  }
  void add(uint32_t lo, uint32_t hi);  // then normalized
  void add(const CharSet& o);
  CharSet negated() const;  // complement within [0, kMax]
  CharSet minus(const CharSet& o) const;
  bool contains(uint32_t cp) const;
  bool empty() const { return ranges.empty(); }
};

struct Expr;
using ExprP = std::shared_ptr<const Expr>;

struct Expr {
  enum class K : uint8_t {
    Empty,   // matches ""
    Never,   // matches nothing
    Bytes,   // the byte string `text`
    Chars,   // one code point of `set`, UTF-8 encoded (surrogates never match)
    Seq,     // kids in order
    Alt,     // one of kids
    Repeat,  // kids[0] repeated min..max times (max < 0: unbounded)
    Ref,     // the rule named `text`
  };
  K k = K::Empty;
  std::string text;
  CharSet set;
  std::vector<ExprP> kids;
  int min = 0, max = -1;
};

ExprP e_empty();
ExprP e_never();
ExprP e_lit(std::string bytes);
ExprP e_chars(CharSet s);
ExprP e_seq(std::vector<ExprP> kids);
ExprP e_alt(std::vector<ExprP> kids);
ExprP e_rep(ExprP x, int min, int max);
inline ExprP e_opt(ExprP x) { return e_rep(std::move(x), 0, 1); }
inline ExprP e_star(ExprP x) { return e_rep(std::move(x), 0, -1); }
inline ExprP e_plus(ExprP x) { return e_rep(std::move(x), 1, -1); }
ExprP e_ref(std::string rule);
// One of the byte strings `lits`, factored by common prefixes (a trie), so that a large enum keeps
// one matcher stack alive instead of one per value.
ExprP e_literals(std::vector<std::string> lits);

// Named rules; `root` names the start rule. Names are unique.
struct RuleSet {
  std::vector<std::pair<std::string, ExprP>> rules;
  std::string root = "root";
  void add(std::string name, ExprP e) { rules.emplace_back(std::move(name), std::move(e)); }
};

}  // namespace ignis::structured
