#include "structured/pda.h"

#include <algorithm>

namespace ignis::structured {

namespace {

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool same_stack(const std::vector<Node>& pool, int32_t a, int32_t b) {
  while (a >= 0 && b >= 0) {
    if (a == b) return true;
    if (pool[a].pos != pool[b].pos || pool[a].hash != pool[b].hash) return false;
    a = pool[a].parent, b = pool[b].parent;
  }
  return a == b;
}

}  // namespace

struct Pda::Ctx {
  std::vector<Node>& pool;
  PdaState& out;
  uint8_t b;
  size_t first_new;  // nodes from here were made by this advance (interned by value)
  std::vector<std::pair<uint32_t, int32_t>>& visited;
  const std::vector<int32_t>& in_tops;  // reused when a new frame equals one of them
};

int32_t Pda::make(Ctx& c, uint32_t pos, int32_t parent) const {
  // A frame equal to an input top (a loop in a string or a repetition) is that node: a state that
  // repeats keeps its node ids and makes no new nodes.
  for (int32_t t : c.in_tops)
    if (c.pool[t].pos == pos && c.pool[t].parent == parent) return t;
  for (size_t i = c.first_new; i < c.pool.size(); ++i)
    if (c.pool[i].pos == pos && c.pool[i].parent == parent) return static_cast<int32_t>(i);
  uint64_t h = mix((uint64_t{pos} << 1) ^ (parent >= 0 ? c.pool[parent].hash : 0x5bd1e995ull));
  c.pool.push_back(Node{pos, parent, h});
  return static_cast<int32_t>(c.pool.size() - 1);
}

// The stack (pos, parent) after its top consumed a byte and moved to `pos`: Ends pop at once.
void Pda::push_result(Ctx& c, uint32_t pos, int32_t parent) const {
  int32_t id;
  if (g_.elems[pos].op == Grammar::Op::End) {
    if (parent < 0) {
      c.out.done = true;
      return;
    }
    id = parent;  // return positions are never Ends (tail calls below)
  } else {
    id = make(c, pos, parent);
  }
  for (int32_t t : c.out.tops)
    if (t == id || (c.pool[t].hash == c.pool[id].hash && same_stack(c.pool, t, id))) return;
  c.out.tops.push_back(id);
}

void Pda::step(Ctx& c, uint32_t pos, int32_t parent) const {
  for (auto& v : c.visited)
    if (v.first == pos && v.second == parent) return;
  c.visited.emplace_back(pos, parent);
  const auto& e = g_.elems[pos];
  switch (e.op) {
    case Grammar::Op::Term:
      if (g_.sets[e.arg].test(c.b)) push_result(c, pos + 1, parent);
      return;
    case Grammar::Op::End:  // an empty rest of an alternative: continue in the caller
      if (parent >= 0) step(c, c.pool[parent].pos, c.pool[parent].parent);
      return;
    case Grammar::Op::Ref: {
      // Return frame; a call in tail position returns straight to the caller's caller.
      int32_t ret = g_.elems[pos + 1].op == Grammar::Op::End ? parent : -2;
      for (uint32_t a = g_.alt_begin[e.arg]; a < g_.alt_begin[e.arg + 1]; ++a) {
        uint32_t s = g_.alt_start[a];
        if (!g_.first[s].test(c.b) && !g_.nullable[s]) continue;
        if (ret == -2) ret = make(c, pos + 1, parent);
        step(c, s, ret);
      }
      return;
    }
  }
}

PdaState Pda::initial(std::vector<Node>& pool) const {
  PdaState s;
  uint64_t h = mix((uint64_t{0} << 1) ^ 0x5bd1e995ull);
  pool.push_back(Node{0, -1, h});
  s.tops.push_back(static_cast<int32_t>(pool.size() - 1));
  return s;
}

void Pda::advance(std::vector<Node>& pool, const PdaState& in, uint8_t b, PdaState& out, PdaScratch* scratch) const {
  out.tops.clear();
  out.done = false;
  PdaScratch local;
  PdaScratch& sc = scratch ? *scratch : local;
  sc.visited.clear();
  Ctx c{pool, out, b, pool.size(), sc.visited, in.tops};
  for (int32_t t : in.tops) step(c, pool[t].pos, pool[t].parent);
}

bool Pda::can_end(const std::vector<Node>& pool, const PdaState& s) const {
  if (s.done) return true;
  for (int32_t t : s.tops) {
    int32_t n = t;
    while (n >= 0 && g_.nullable[pool[n].pos]) n = pool[n].parent;
    if (n < 0) return true;
  }
  return false;
}

ByteSet Pda::next_bytes(const std::vector<Node>& pool, const PdaState& s) const {
  ByteSet out;
  for (int32_t t : s.tops)
    for (int32_t n = t; n >= 0; n = pool[n].parent) {
      out |= g_.first[pool[n].pos];
      if (!g_.nullable[pool[n].pos]) break;
    }
  return out;
}

void Pda::key(const std::vector<Node>& pool, const PdaState& s, std::string& out) const {
  out.clear();
  out.push_back(s.done ? 'D' : 'L');
  std::vector<int32_t> tops = s.tops;
  std::sort(tops.begin(), tops.end(), [&](int32_t a, int32_t b) { return pool[a].hash < pool[b].hash; });
  for (int32_t t : tops) {
    for (int32_t n = t; n >= 0; n = pool[n].parent) out.append(reinterpret_cast<const char*>(&pool[n].pos), 4);
    out.append("\xff\xff\xff\xff", 4);
  }
}

}  // namespace ignis::structured
