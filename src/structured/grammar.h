// ignis structured: the byte-level context-free grammar every constraint is lowered to, flattened
// for the matcher. Element positions: each alternative's elements then an End; position 0 holds
// the start alternative [Ref root, End]. Terminals match one byte from a 256-bit set; code point
// classes become alternatives of UTF-8 byte-range sequences when lowered.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "structured/expr.h"

namespace ignis::structured {

struct ByteSet {
  uint64_t w[4] = {0, 0, 0, 0};
  void set(unsigned b) { w[b >> 6] |= uint64_t{1} << (b & 63); }
  void set_range(unsigned lo, unsigned hi) {
    for (unsigned b = lo; b <= hi; ++b) set(b);
  }
  bool test(unsigned b) const { return (w[b >> 6] >> (b & 63)) & 1; }
  bool any() const { return (w[0] | w[1] | w[2] | w[3]) != 0; }
  ByteSet& operator|=(const ByteSet& o) {
    for (int i = 0; i < 4; ++i) w[i] |= o.w[i];
    return *this;
  }
  bool operator==(const ByteSet& o) const {
    return w[0] == o.w[0] && w[1] == o.w[1] && w[2] == o.w[2] && w[3] == o.w[3];
  }
};

struct Grammar {
  enum class Op : uint8_t { Term, Ref, End };
  struct Elem {
    Op op;
    uint32_t arg;  // Term: index into sets; Ref: rule id
  };
  std::vector<Elem> elems;
  std::vector<uint32_t> alt_begin;  // (n_rules + 1): rule r's alternatives are alt_start[alt_begin[r] .. alt_begin[r+1])
  std::vector<uint32_t> alt_start;  // first position of each alternative
  std::vector<ByteSet> sets;
  std::vector<std::string> rule_names;
  // Per position: the bytes that can be consumed first from here to the alternative's End, and
  // whether the rest of the alternative can match "".
  std::vector<ByteSet> first;
  std::vector<uint8_t> nullable;
  uint32_t root = 0;

  size_t n_rules() const { return rule_names.size(); }
};

// Lowers `rs` (rule `rs.root` is the start). Throws ignis::Error prefixed with `what` for an
// undefined rule, a rule that matches nothing, left recursion, or a grammar that matches nothing.
Grammar lower(const RuleSet& rs, const std::string& what);

// Calls `fn(seq)` for each sequence of byte ranges [lo, hi] whose concatenations are exactly the
// UTF-8 encodings of code points lo..hi (surrogates excluded).
void utf8_sequences(uint32_t lo, uint32_t hi, const std::function<void(const std::vector<std::pair<uint8_t, uint8_t>>&)>& fn);

}  // namespace ignis::structured
