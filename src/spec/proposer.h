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
};

// Proposals for one sequence: at most k tokens, to follow tokens.back().
struct Proposal {
  std::vector<int32_t> tokens;
  // Per token, q(token) and the proposer's processed distribution q, (vocab) floats valid until the
  // next propose call; both empty for a deterministic proposer (q one-hot at the token).
  std::vector<float> probs;
  std::vector<const float*> dists;
  void clear() {
    tokens.clear();
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
  virtual void on_preempted(uint64_t id) {}  // its KV blocks were released (recomputed later)
  virtual void on_finished(uint64_t id) {}   // forget it
  // Forward rounds the last propose call ran (the policy's draft cost model); 0 for n-gram.
  virtual int last_rounds() const { return 0; }
};

// The proposer of cfg.method: NgramProposer, or DraftProposer over `draft` (required for Draft).
std::unique_ptr<Proposer> make_proposer(const SpecConfig& cfg, std::unique_ptr<Model> draft = nullptr);

}  // namespace ignis
