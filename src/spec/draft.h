// ignis spec: draft-target proposer. A second, smaller Model in the same process (same device)
// proposes k tokens per sequence by k forward steps, each step one batch over all speculating
// sequences. Its KV pool has the target's block count and block size and follows the target's
// block tables (same block ids, separate memory), so no second block manager exists:
//  - each sequence has its own draft_computed (positions whose draft KV is valid); a round first
//    catches up lazily (the prompt at its first proposal, the extra accepted token after a fully
//    accepted step, everything after a pause) and then runs one token per round;
//  - after verification, draft_computed = min(draft_computed, the target's num_computed): KV of
//    rejected proposals is garbage that the next round overwrites before reading;
//  - a block's draft KV is known valid for its current content when the draft computed all its
//    positions with accepted tokens, recorded with the block's generation (BlockPool::generation):
//    a sequence that finds it through the prefix cache starts after it, a reallocated block is not
//    trusted; a block two sequences would write in one round is written by the first only (the
//    second waits a step), so no KV slot is written twice in a batch;
//  - preemption resets the sequence (its blocks were released).
// Greedy requests get the draft's greedy tokens (its forward_sample; a device backend keeps the
// logits on the device); sampled ones get tokens drawn from the draft's processed distribution q
// (the request's own sampling parameters and penalties over the draft's logits) with the
// request's uniforms, and q itself for the rejection sampler.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "spec/proposer.h"

namespace ignis {

class DraftProposer : public Proposer {
 public:
  explicit DraftProposer(std::unique_ptr<Model> draft);
  const char* name() const override { return "draft"; }
  // Checks the draft against the target (vocabulary, no sliding window) and sizes its KV pool.
  void init(const ModelConfig& target, int num_blocks, int block_size) override;
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) override;
  void on_verified(uint64_t id, int num_computed, const KvCacheManager& kv) override;
  void on_preempted(uint64_t id) override { seqs_.erase(id); }
  void on_finished(uint64_t id) override { seqs_.erase(id); }
  int last_rounds() const override { return last_rounds_; }
  int last_catchup_tokens() const override { return last_catchup_; }

  const Model& draft() const { return *draft_; }
  int draft_computed(uint64_t id) const;  // -1 when not tracked (tests)

 private:
  struct SeqState {
    int computed = 0;  // draft KV valid for positions [0, computed)
    int marked = 0;    // leading blocks recorded as valid
  };
  // From block from_block on, the blocks of `table` whose draft KV is valid for their current
  // content: the end of that run, in tokens.
  int valid_prefix(std::span<const int32_t> table, int from_block, const KvCacheManager& kv) const;
  void run_round(std::span<const SpecSeq> seqs, const std::vector<int>& active, int round,
                 std::vector<Proposal>& out);

  std::unique_ptr<Model> draft_;
  int block_size_ = 0;
  std::vector<uint32_t> valid_gen_;  // (num_blocks) generation whose draft KV is valid; 0 = none
  std::unordered_map<uint64_t, SeqState> seqs_;
  int last_rounds_ = 0;
  int last_catchup_ = 0;  // round 0's tokens beyond one per sequence

  // Per-call scratch.
  ForwardBatch batch_;
  std::vector<RowSampling> rows_;
  std::vector<RowSample> samples_;
  std::vector<float> logits_;
  std::vector<std::vector<int32_t>> history_;  // per seq: generated ids + proposals so far (penalties)
  std::vector<std::vector<float>> dists_;      // q buffers handed out in Proposal::dists
  size_t dists_used_ = 0;
  std::vector<uint8_t> claimed_;               // (num_blocks) written by a sequence of this call
};

}  // namespace ignis
