// ignis structured: the matcher's core, a pushdown automaton over a Grammar whose state is a set
// of stacks (a GLR-style graph of frames; ambiguity keeps several stacks alive at once).
//
// A frame is a grammar position: the element to match next in its alternative. A stack's top is
// a Term or a Ref not yet expanded; frames below it are return positions. Expansion is lazy and
// filtered by the byte being consumed (Grammar::first), calls in tail position replace their
// frame, and frames that reach an End are popped at once, so a state is canonical for a given
// derivation and right recursion (every repetition) keeps stacks flat.
//
// Frames live in a Pool (append-only vector; a stack is a node id, nodes point at their parent).
// Callers truncate the pool to undo work: a state only references nodes created before it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "structured/grammar.h"

namespace ignis::structured {

struct Node {
  uint32_t pos;
  int32_t parent;  // -1: bottom of the stack
  uint64_t hash;   // of the whole stack (pos and every frame below)
};

struct PdaState {
  std::vector<int32_t> tops;  // one node per live stack
  bool done = false;          // a derivation of the root ended exactly here
  bool alive() const { return done || !tops.empty(); }
};

// Reusable buffers of advance() (saves an allocation per byte in the mask walk).
struct PdaScratch {
  std::vector<std::pair<uint32_t, int32_t>> visited;
};

class Pda {
 public:
  explicit Pda(const Grammar& g) : g_(g) {}
  const Grammar& grammar() const { return g_; }

  PdaState initial(std::vector<Node>& pool) const;
  // Consumes byte `b`; `out` is overwritten (dead when !out.alive()).
  void advance(std::vector<Node>& pool, const PdaState& in, uint8_t b, PdaState& out, PdaScratch* scratch = nullptr) const;
  bool can_end(const std::vector<Node>& pool, const PdaState& s) const;
  // Bytes some stack can consume next.
  ByteSet next_bytes(const std::vector<Node>& pool, const PdaState& s) const;
  // Canonical serialization of the state's content (not of node ids): equal keys, equal futures.
  void key(const std::vector<Node>& pool, const PdaState& s, std::string& out) const;

 private:
  struct Ctx;
  void step(Ctx& c, uint32_t pos, int32_t parent) const;
  int32_t make(Ctx& c, uint32_t pos, int32_t parent) const;
  void push_result(Ctx& c, uint32_t pos, int32_t parent) const;

  const Grammar& g_;
};

}  // namespace ignis::structured
