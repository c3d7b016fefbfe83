// ignis spec: lookahead decoding (Fu et al. 2024, "Break the Sequential Dependency of LLM
// Inference Using Lookahead Decoding"; TensorRT-LLM's (W, N, G)). No draft model: each step the
// target scores, in ONE pass, a token tree (spec/proposer.h Proposal::parents) of two branches
// hanging from the sequence's last token:
// - the verification branch: up to G n-grams from the pool whose first token is the last token,
//   their N - 1 following tokens merged into a trie;
// - the lookahead branch: a 2D window of N - 1 levels x W Jacobi tokens. Level 0 is a chain from
//   the root (column j at depth 1 + j); level l > 0 column j hangs from level l - 1 column j
//   (depth 1 + j + l), so each token attends to the context, level 0 before it and its own column
//   below it: the paper's attention pattern, expressed as a tree.
// The target's tokens at the lookahead rows come back through on_rows (Proposal::observe): column
// j's trajectory (level 0 .. N - 2, then the top level's output) is an n-gram for the pool (keyed
// by its first token, the G most recent kept), and the window moves one level: level l takes
// level l + 1, the top level takes the top level's outputs (the Jacobi update). The lookahead
// branch's nodes are ordinary tree nodes, so a level-0 chain the target agrees with is accepted
// too. A request may bring its own (W, N, G) (SpecSeq::lookahead, each at most the engine's; the
// state restarts when they change). A step offered fewer than W * (N - 1) + 1 slots proposes the verification branch alone
// and leaves the window as it is. Deterministic (q one-hot), so the engine's tree acceptance is
// exact for greedy and sampled requests alike.
#pragma once
#include <deque>
#include <unordered_map>

#include "spec/proposer.h"

namespace ignis {

class LookaheadProposer : public Proposer {
 public:
  LookaheadProposer(int window, int ngram, int verify);  // validated (lookahead_tree_size)
  const char* name() const override { return "lookahead"; }
  bool proposes_trees() const override { return true; }
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) override;
  void on_rows(uint64_t id, std::span<const int32_t> row_tokens) override;
  void on_finished(uint64_t id) override { seqs_.erase(id); }

  // Per-sequence state, exposed for tests.
  struct State {
    int W = 0, N = 0, G = 0;      // the parameters it runs with (the request's, else the proposer's)
    std::vector<int32_t> window;  // (N - 1) levels x W, level-major; empty until the first proposal
    // first token -> the N - 1 tokens that followed it in a collected n-gram, most recent first (<= G)
    std::unordered_map<int32_t, std::deque<std::vector<int32_t>>> pool;
    int la_first = -1;  // index of the last proposal's lookahead node (0, 0) in its tokens; -1: none
    int64_t collected = 0;  // n-grams collected so far
  };
  // One sequence's proposal (up to k nodes); state updated as propose does.
  void propose_one(const SpecSeq& s, State& st, Proposal& out) const;
  // The Jacobi update from one pass's row tokens (as on_rows).
  void observe(State& st, std::span<const int32_t> row_tokens) const;
  const State* state(uint64_t id) const {
    auto it = seqs_.find(id);
    return it == seqs_.end() ? nullptr : &it->second;
  }

 private:
  int W_, N_, G_;
  std::unordered_map<uint64_t, State> seqs_;
};

}  // namespace ignis
