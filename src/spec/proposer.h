// ignis spec: proposers of speculative tokens. The engine asks, after the scheduler's capacity
// pass, for up to k proposals for each speculating sequence (k KV slots are already appended
// after its last token); the target model then verifies them in one step (RowSampling's draft
// fields, sampling/sampler.h verify_draft_u) and the engine keeps the accepted prefix.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/config.h"
#include "sampling/params.h"
#include "spec/config.h"

namespace ignis {

class KvCacheManager;
class Model;

// One speculating sequence, as the proposer sees it (valid for the propose call).
struct SpecSeq {
  uint64_t id = 0;
  std::span<const int32_t> tokens;       // prompt + generated; the last one has no KV in the target yet
  int num_prompt = 0;
  int num_computed = 0;                  // the target's KV covers positions [0, num_computed) (= tokens.size() - 1)
  std::span<const int32_t> block_table;  // the target's, covering positions up to tokens.size() - 1 + k
  int k = 0;                             // proposals wanted (>= 1)
  const SamplingParams* params = nullptr;  // the request's sampling (greedy: greedy proposals)
  const double* u = nullptr;             // (k) uniforms for sampled proposals, token index order (RequestRng)
  LookaheadParams lookahead;             // the request's own lookahead (W, N, G); unset = the proposer's
};

// Proposals for one sequence: at most k tokens, to follow tokens.back(): a chain, or a token tree.
struct Proposal {
  std::vector<int32_t> tokens;
  // A token tree (empty: a chain, token i follows token i - 1): parents[i] is the index in `tokens`
  // of token i's parent, -1 = the sequence's last token (the root); parents[i] < i. The target
  // scores every node in one pass (model/batch.h BatchSeq::tree_parent); the engine accepts the
  // path that follows the target's own tokens from the root (greedy: the argmax; sampled: the
  // row's sample, exact since tree proposals are deterministic: dists must stay empty). The
  // engine runs a tree as its first root-to-leaf path (first children) where it cannot verify a
  // tree (a constrained request).
  std::vector<int32_t> parents;
  // Ask for the target's token at every row of this proposal, verified or not (on_rows): how a
  // proposer like lookahead decoding updates its state from the same pass.
  bool observe = false;
  // Per token, q(token) and the proposer's processed distribution q, (vocab) floats valid until the
  // next propose call; both empty for a deterministic proposer (q one-hot at the token).
  std::vector<float> probs;
  std::vector<const float*> dists;
  void clear() {
    tokens.clear();
    parents.clear();
    observe = false;
    probs.clear();
    dists.clear();
  }
};

class Proposer {
 public:
  virtual ~Proposer() = default;
  virtual const char* name() const = 0;
  // Once, before any propose: the target's config and KV pool geometry.
  virtual void init(const ModelConfig& target, int num_blocks, int block_size) {}
  // out[i] for seqs[i] (out is resized). Throws only when the proposer itself failed.
  virtual void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) = 0;
  // After verification of `id`: the target keeps KV for positions [0, num_computed) (its block
  // table already truncated to them).
  virtual void on_verified(uint64_t id, int num_computed, const KvCacheManager& kv) {}
  // True for proposers of token trees (Proposal::parents): the engine refuses them at start on a
  // backend without Model::supports_tree.
  virtual bool proposes_trees() const { return false; }
  // Before on_verified, for a proposal with `observe` set that ran as proposed: row_tokens[0] is
  // the target's token after the root, row_tokens[1 + i] its token after proposal i's path
  // (greedy: the argmax; sampled: the row's sample; -1 where the row could not be sampled).
  virtual void on_rows(uint64_t id, std::span<const int32_t> row_tokens) {}
  // Hidden-state proposers (Medusa, EAGLE): the engine sets the target's hidden-state sink
  // (Model::set_hidden_state_sink) and refuses the proposer at start where the backend has none.
  virtual bool wants_hidden_states() const { return false; }
  // For such a proposer, after every pass that produced a token for `id`: `hidden` (hidden_size)
  // is the target's final hidden state at the row whose logits gave the sequence's last token,
  // when the sequence holds `num_tokens` tokens (that token the last; its KV not computed yet):
  // the state a proposal made with SpecSeq::tokens.size() == num_tokens starts from.
  virtual void on_hidden(uint64_t id, int num_tokens, std::span<const float> hidden) {}
  // Hidden-state proposers that need the target's state at EVERY position (EAGLE: its draft's KV
  // at position j is computed from token j + 1 and the target's hidden state at j): the engine
  // then runs the prefill chunks of requests that may speculate with all_hidden (a hidden row
  // per token, the logits of the last one only) and, after every pass that ran such a
  // request, calls on_hidden_rows with the rows it keeps: every row of a prefill chunk, the row of
  // a plain decode, the root's and the accepted proposals' rows of a verification (a tree: the
  // accepted path's, in path order), never a rejected one. `rows` is (count, hidden_size): row i
  // is the state at position first_pos + i, whose logits predict token first_pos + i + 1.
  // Positions the target took from the prefix cache never get one. Called before on_verified /
  // on_hidden of the same pass; on_hidden is still called as for any hidden-state proposer.
  virtual bool wants_all_hidden_rows() const { return false; }
  virtual void on_hidden_rows(uint64_t id, int first_pos, int count, std::span<const float> rows) {}
  virtual void on_preempted(uint64_t id) {}  // its KV blocks were released (recomputed later)
  virtual void on_finished(uint64_t id) {}   // forget it
  // Forward rounds the last propose call ran (the policy's draft cost model); 0 for n-gram.
  virtual int last_rounds() const { return 0; }
  // Tokens its first round ran beyond one per sequence: a draft model catching up on a prompt at a
  // request's first proposal, or on tokens accepted since its last one. Work that does not grow with
  // k, which the policy's cost model keeps apart (SpecPolicy::observe_proposer).
  virtual int last_catchup_tokens() const { return 0; }
  // Tokens a proposal for `id`, which holds `num_tokens` tokens, would first have to catch up on
  // (the catch-up above, before the call): the policy weighs it when it considers turning a
  // request on (SpecPolicy::Candidate::backlog). 0 where the proposer keeps up as it goes.
  virtual int pending_catchup(uint64_t id, int num_tokens) const { return 0; }
};

// The proposer of cfg.method: NgramProposer, LookaheadProposer, or DraftProposer over `draft`
// (required for Draft). Medusa's heads come from a folder: make_medusa_proposer (spec/medusa.h).
std::unique_ptr<Proposer> make_proposer(const SpecConfig& cfg, std::unique_ptr<Model> draft = nullptr);

}  // namespace ignis
