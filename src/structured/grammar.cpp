#include "structured/grammar.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/error.h"

namespace ignis::structured {

namespace {

void encode(uint32_t cp, uint8_t* out, int& n) {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp), n = 1;
  } else if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6)), out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), n = 2;
  } else if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12)), out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), n = 3;
  } else {
    out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18)), out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)), out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), n = 4;
  }
}

using Seq = std::vector<std::pair<uint8_t, uint8_t>>;

void split(uint32_t lo, uint32_t hi, const std::function<void(const Seq&)>& fn) {
  if (lo > hi) return;
  // Never across an encoding-length boundary or the surrogates.
  for (uint32_t b : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= b && hi > b) {
      split(lo, b, fn);
      split(b + 1, hi, fn);
      return;
    }
  }
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) split(lo, 0xD7FF, fn);
    if (hi > 0xDFFF) split(0xE000, hi, fn);
    return;
  }
  uint8_t a[4], b[4];
  int n = 0, m = 0;
  encode(lo, a, n);
  encode(hi, b, m);
  // Split until every continuation position covers its full range (each sequence is then a
  // product of byte ranges).
  for (int i = 1; i < n; ++i) {
    uint32_t mask = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        split(lo, lo | mask, fn);
        split((lo | mask) + 1, hi, fn);
        return;
      }
      if ((hi & mask) != mask) {
        split(lo, (hi & ~mask) - 1, fn);
        split(hi & ~mask, hi, fn);
        return;
      }
    }
  }
  Seq s;
  for (int i = 0; i < n; ++i) s.emplace_back(a[i], b[i]);
  fn(s);
}

struct Sym {
  bool ref;
  uint32_t v;
  bool operator<(const Sym& o) const { return ref != o.ref ? ref < o.ref : v < o.v; }
};
using Alt = std::vector<Sym>;

class Builder {
 public:
  Builder(const RuleSet& rs, const std::string& what) : what_(what) {
    for (auto& [name, e] : rs.rules) {
      IGNIS_CHECK(!ids_.count(name), "{}: rule '{}' is defined twice", what, name);
      ids_[name] = new_rule(name);
    }
    auto it = ids_.find(rs.root);
    IGNIS_CHECK(it != ids_.end(), "{}: no rule '{}'", what, rs.root);
    root_ = it->second;
    for (auto& [name, e] : rs.rules) rules_[ids_[name]] = alts_of(*e);
  }

  Grammar finish();

 private:
  uint32_t new_rule(std::string name) {
    rules_.emplace_back();
    names_.push_back(std::move(name));
    return static_cast<uint32_t>(rules_.size() - 1);
  }
  uint32_t helper(std::vector<Alt> alts, const char* kind) {
    uint32_t r = new_rule(fmt::format("_{}{}", kind, rules_.size()));
    rules_[r] = std::move(alts);
    return r;
  }
  uint32_t set_id(const ByteSet& s) {
    for (size_t i = 0; i < sets_.size(); ++i)
      if (sets_[i] == s) return static_cast<uint32_t>(i);
    sets_.push_back(s);
    return static_cast<uint32_t>(sets_.size() - 1);
  }
  Sym term(uint8_t lo, uint8_t hi) {
    ByteSet s;
    s.set_range(lo, hi);
    return Sym{false, set_id(s)};
  }

  std::vector<Alt> alts_of(const Expr& e) {
    if (e.k == Expr::K::Alt) {
      std::vector<Alt> out;
      for (auto& k : e.kids) {
        auto sub = alts_of(*k);
        out.insert(out.end(), sub.begin(), sub.end());
      }
      return out;
    }
    Alt a;
    if (!emit(e, a)) return {};
    return {a};
  }

  // Appends e's symbols to `out`; false when e matches nothing.
  bool emit(const Expr& e, Alt& out) {
    switch (e.k) {
      case Expr::K::Empty: return true;
      case Expr::K::Never: return false;
      case Expr::K::Bytes:
        for (unsigned char c : e.text) out.push_back(term(c, c));
        return true;
      case Expr::K::Chars: out.push_back(chars(e.set)); return true;
      case Expr::K::Seq:
        for (auto& k : e.kids)
          if (!emit(*k, out)) return false;
        return true;
      case Expr::K::Alt: {
        auto alts = alts_of(e);
        if (alts.empty()) return false;
        if (alts.size() == 1) {
          out.insert(out.end(), alts[0].begin(), alts[0].end());
          return true;
        }
        out.push_back(Sym{true, helper(std::move(alts), "alt")});
        return true;
      }
      case Expr::K::Ref: {
        auto it = ids_.find(e.text);
        IGNIS_CHECK(it != ids_.end(), "{}: undefined rule '{}'", what_, e.text);
        out.push_back(Sym{true, it->second});
        return true;
      }
      case Expr::K::Repeat: {
        Alt x;
        bool alive = emit(*e.kids[0], x);
        if (!alive) return e.min == 0;
        if (x.empty()) return true;
        Sym s = x.size() == 1 ? x[0] : Sym{true, helper({x}, "grp")};
        for (int i = 0; i < e.min; ++i) out.push_back(s);
        if (e.max < 0) out.push_back(star(s));
        else if (e.max > e.min) out.push_back(upto(s, e.max - e.min));
        return true;
      }
    }
    return false;
  }

  // s* as S ::= s S | "" (right recursion: the matcher's tail calls keep its stack flat).
  Sym star(Sym s) {
    auto it = star_.find(s);
    if (it != star_.end()) return Sym{true, it->second};
    uint32_t r = helper({}, "star");
    rules_[r] = {Alt{s, Sym{true, r}}, Alt{}};
    star_[s] = r;
    return Sym{true, r};
  }
  // s{0,k} as O_k ::= s O_{k-1} | "", O_1 ::= s | "".
  Sym upto(Sym s, int k) {
    auto key = std::make_pair(s, k);
    auto it = upto_.find(key);
    if (it != upto_.end()) return Sym{true, it->second};
    Alt a{s};
    if (k > 1) a.push_back(upto(s, k - 1));
    uint32_t r = helper({a, Alt{}}, "upto");
    upto_[key] = r;
    return Sym{true, r};
  }
  Sym chars(const CharSet& set) {
    auto it = chars_.find(set.ranges);
    if (it != chars_.end()) return it->second;
    ByteSet ascii;
    std::vector<Alt> alts;
    for (auto [lo, hi] : set.ranges) {
      split(lo, hi, [&](const Seq& s) {
        if (s.size() == 1) {
          ascii.set_range(s[0].first, s[0].second);
          return;
        }
        Alt a;
        for (auto [l, h] : s) a.push_back(term(l, h));
        alts.push_back(a);
      });
    }
    if (ascii.any()) alts.insert(alts.begin(), Alt{Sym{false, set_id(ascii)}});
    Sym out = alts.size() == 1 && alts[0].size() == 1 ? alts[0][0] : Sym{true, helper(std::move(alts), "char")};
    chars_[set.ranges] = out;
    return out;
  }

  std::string what_;
  std::vector<std::vector<Alt>> rules_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<ByteSet> sets_;
  std::map<Sym, uint32_t> star_;
  std::map<std::pair<Sym, int>, uint32_t> upto_;
  std::map<std::vector<std::pair<uint32_t, uint32_t>>, Sym> chars_;
  uint32_t root_ = 0;
};

// Tarjan's strongly connected components, iterative. comp[v] = component id.
std::vector<int> components(const std::vector<std::vector<uint32_t>>& adj) {
  size_t n = adj.size();
  std::vector<int> index(n, -1), low(n, 0), comp(n, -1);
  std::vector<uint32_t> stack;
  std::vector<uint8_t> on(n, 0);
  int counter = 0, ncomp = 0;
  std::vector<std::pair<uint32_t, size_t>> call;
  for (uint32_t s = 0; s < n; ++s) {
    if (index[s] >= 0) continue;
    call.push_back({s, 0});
    while (!call.empty()) {
      auto& [v, i] = call.back();
      if (i == 0) {
        index[v] = low[v] = counter++;
        stack.push_back(v);
        on[v] = 1;
      }
      if (i < adj[v].size()) {
        uint32_t w = adj[v][i++];
        if (index[w] < 0) call.push_back({w, 0});
        else if (on[w]) low[v] = std::min(low[v], index[w]);
        continue;
      }
      if (low[v] == index[v]) {
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on[w] = 0;
          comp[w] = ncomp;
        } while (w != v);
        ++ncomp;
      }
      uint32_t done = v;
      call.pop_back();
      if (!call.empty()) low[call.back().first] = std::min(low[call.back().first], low[done]);
    }
  }
  return comp;
}

Grammar Builder::finish() {
  size_t n = rules_.size();
  // Drop alternatives that use a rule matching nothing (fixpoint on "productive").
  std::vector<uint8_t> productive(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (productive[r]) continue;
      for (auto& a : rules_[r]) {
        bool ok = std::all_of(a.begin(), a.end(), [&](Sym s) { return !s.ref || productive[s.v]; });
        if (ok) {
          productive[r] = 1, changed = true;
          break;
        }
      }
    }
  }
  IGNIS_CHECK(productive[root_], "{}: the grammar matches nothing", what_);
  for (auto& alts : rules_)
    alts.erase(std::remove_if(alts.begin(), alts.end(),
                              [&](const Alt& a) {
                                return std::any_of(a.begin(), a.end(), [&](Sym s) { return s.ref && !productive[s.v]; });
                              }),
               alts.end());

  std::vector<uint8_t> rnull(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (rnull[r]) continue;
      for (auto& a : rules_[r])
        if (std::all_of(a.begin(), a.end(), [&](Sym s) { return s.ref && rnull[s.v]; })) {
          rnull[r] = 1, changed = true;
          break;
        }
    }
  }
  // Left recursion: a call that is not in tail position, reached from its own rule without
  // consuming input, would grow the matcher's stack forever.
  std::vector<std::vector<uint32_t>> left(n);
  for (size_t r = 0; r < n; ++r)
    for (auto& a : rules_[r])
      for (auto s : a) {
        if (s.ref) left[r].push_back(s.v);
        if (!(s.ref && rnull[s.v])) break;
      }
  auto comp = components(left);
  for (size_t r = 0; r < n; ++r)
    for (auto& a : rules_[r])
      for (size_t i = 0; i < a.size(); ++i) {  // the leftmost symbols of the alternative
        Sym s = a[i];
        IGNIS_CHECK(!(s.ref && i + 1 < a.size() && comp[s.v] == comp[r]),
                    "{}: rule '{}' is left-recursive (not supported)", what_, names_[r]);
        if (!(s.ref && rnull[s.v])) break;
      }

  Grammar g;
  g.sets = sets_;
  g.rule_names = names_;
  g.root = root_;
  g.elems.push_back({Grammar::Op::Ref, root_});
  g.elems.push_back({Grammar::Op::End, 0});
  for (size_t r = 0; r < n; ++r) {
    g.alt_begin.push_back(static_cast<uint32_t>(g.alt_start.size()));
    for (auto& a : rules_[r]) {
      g.alt_start.push_back(static_cast<uint32_t>(g.elems.size()));
      for (auto s : a) g.elems.push_back({s.ref ? Grammar::Op::Ref : Grammar::Op::Term, s.v});
      g.elems.push_back({Grammar::Op::End, 0});
    }
  }
  g.alt_begin.push_back(static_cast<uint32_t>(g.alt_start.size()));

  // FIRST sets per rule (fixpoint), then per position from the end of each alternative back.
  std::vector<ByteSet> rfirst(n);
  auto seq_first = [&](const Alt& a) {
    ByteSet f;
    for (auto s : a) {
      if (!s.ref) {
        f |= sets_[s.v];
        break;
      }
      f |= rfirst[s.v];
      if (!rnull[s.v]) break;
    }
    return f;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      ByteSet f = rfirst[r];
      for (auto& a : rules_[r]) f |= seq_first(a);
      if (!(f == rfirst[r])) rfirst[r] = f, changed = true;
    }
  }
  size_t np = g.elems.size();
  g.first.assign(np, ByteSet{});
  g.nullable.assign(np, 0);
  for (size_t p = np; p-- > 0;) {
    const auto& e = g.elems[p];
    if (e.op == Grammar::Op::End) {
      g.nullable[p] = 1;
    } else if (e.op == Grammar::Op::Term) {
      g.first[p] = g.sets[e.arg];
    } else {
      g.first[p] = rfirst[e.arg];
      if (rnull[e.arg]) {
        g.first[p] |= g.first[p + 1];
        g.nullable[p] = g.nullable[p + 1];
      }
    }
  }
  return g;
}

}  // namespace

Grammar lower(const RuleSet& rs, const std::string& what) { return Builder(rs, what).finish(); }

void utf8_sequences(uint32_t lo, uint32_t hi, const std::function<void(const Seq&)>& fn) { split(lo, hi, fn); }

}  // namespace ignis::structured
