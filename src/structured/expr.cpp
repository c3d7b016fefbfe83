#include "structured/expr.h"

#include <algorithm>

namespace ignis::structured {

void CharSet::add(uint32_t lo, uint32_t hi) {
  if (lo > hi) return;
  ranges.emplace_back(lo, std::min(hi, kMax));
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto r : ranges) {
    if (!out.empty() && r.first <= out.back().second + 1) out.back().second = std::max(out.back().second, r.second);
    else out.push_back(r);
  }
  ranges = std::move(out);
}

void CharSet::add(const CharSet& o) {
  for (auto [lo, hi] : o.ranges) add(lo, hi);
}

CharSet CharSet::negated() const {
  CharSet s;
  uint32_t next = 0;
  for (auto [lo, hi] : ranges) {
    if (lo > next) s.ranges.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMax) s.ranges.emplace_back(next, kMax);
  return s;
}

CharSet CharSet::minus(const CharSet& o) const {
  CharSet n = o.negated(), out;
  for (auto [a, b] : ranges)
    for (auto [c, d] : n.ranges) {
      uint32_t lo = std::max(a, c), hi = std::min(b, d);
      if (lo <= hi) out.ranges.emplace_back(lo, hi);
    }
  CharSet norm;
  for (auto [lo, hi] : out.ranges) norm.add(lo, hi);
  return norm;
}

bool CharSet::contains(uint32_t cp) const {
  for (auto [lo, hi] : ranges)
    if (cp >= lo && cp <= hi) return true;
  return false;
}

namespace {
ExprP make(Expr e) { return std::make_shared<const Expr>(std::move(e)); }
}  // namespace

ExprP e_empty() { return make(Expr{}); }
ExprP e_never() {
  Expr e;
  e.k = Expr::K::Never;
  return make(std::move(e));
}
ExprP e_lit(std::string bytes) {
  if (bytes.empty()) return e_empty();
  Expr e;
  e.k = Expr::K::Bytes;
  e.text = std::move(bytes);
  return make(std::move(e));
}
ExprP e_chars(CharSet s) {
  Expr e;
  e.k = s.empty() ? Expr::K::Never : Expr::K::Chars;
  e.set = std::move(s);
  return make(std::move(e));
}
ExprP e_seq(std::vector<ExprP> kids) {
  if (kids.size() == 1) return kids[0];
  Expr e;
  e.k = kids.empty() ? Expr::K::Empty : Expr::K::Seq;
  e.kids = std::move(kids);
  return make(std::move(e));
}
ExprP e_alt(std::vector<ExprP> kids) {
  if (kids.size() == 1) return kids[0];
  Expr e;
  e.k = kids.empty() ? Expr::K::Never : Expr::K::Alt;
  e.kids = std::move(kids);
  return make(std::move(e));
}
ExprP e_rep(ExprP x, int min, int max) {
  if (min == 1 && max == 1) return x;
  if (max == 0) return e_empty();
  Expr e;
  e.k = Expr::K::Repeat;
  e.kids = {std::move(x)};
  e.min = min;
  e.max = max;
  return make(std::move(e));
}
ExprP e_ref(std::string rule) {
  Expr e;
  e.k = Expr::K::Ref;
  e.text = std::move(rule);
  return make(std::move(e));
}

namespace {
// lits[b, e) sorted, all sharing their first `depth` bytes.
ExprP literal_trie(const std::vector<std::string>& lits, size_t b, size_t e, size_t depth) {
  std::vector<ExprP> alts;
  size_t i = b;
  if (i < e && lits[i].size() == depth) {
    alts.push_back(e_empty());
    while (i < e && lits[i].size() == depth) ++i;  // duplicates
  }
  while (i < e) {
    size_t j = i;
    while (j < e && lits[j][depth] == lits[i][depth]) ++j;
    // Extend the shared run as far as every literal in [i, j) agrees.
    size_t end = depth + 1;
    while (lits[i].size() > end && lits[j - 1].size() > end && lits[i][end] == lits[j - 1][end]) ++end;
    alts.push_back(e_seq({e_lit(lits[i].substr(depth, end - depth)), literal_trie(lits, i, j, end)}));
    i = j;
  }
  return e_alt(std::move(alts));
}
}  // namespace

ExprP e_literals(std::vector<std::string> lits) {
  if (lits.empty()) return e_never();
  std::sort(lits.begin(), lits.end());
  return literal_trie(lits, 0, lits.size(), 0);
}

}  // namespace ignis::structured
