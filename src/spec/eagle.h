// ignis spec: EAGLE (Li et al. 2024, "EAGLE: Speculative Sampling Requires Rethinking Feature
// Uncertainty"; EAGLE-2, "Faster Inference of Language Models with Dynamic Draft Trees";
// SafeAILab/EAGLE). A draft head (one Llama decoder layer after an fc fusion layer) runs over the
// target's own final hidden states: its input at position j is fc(concat(embed(token j+1), f_j))
// with f_j the target's hidden state at j (ModelConfig::fusion, BatchSeq::features), its output
// the predicted next feature, whose logits (the target's lm_head) give the draft's distribution.
//
// Head folder (--speculative eagle --speculative-model DIR), as the reference saves EAGLE-1/2 heads:
// - config.json: a LlamaConfig (hidden_size, intermediate_size, num_attention_heads,
//   num_key_value_heads, num_hidden_layers, vocab_size, rms_norm_eps, rope_theta, ...); "bias" is
//   the fc layer's bias (absent = true, as EAGLE's Model(bias=True)). Vocabulary and hidden size
//   must be the target's.
// - model.safetensors with "fc.weight" (hidden, 2 * hidden), "fc.bias" (hidden),
//   "layers.{i}.self_attn.{q,k,v,o}_proj.weight", "layers.{i}.mlp.{gate,up,down}_proj.weight",
//   "layers.{i}.post_attention_layernorm.weight", "layers.{i}.input_layernorm.weight" (for i = 0
//   only if the head has one), optionally "norm.weight" (then applied before lm_head) and
//   "embed_tokens.weight" (ignored); a "model." prefix on every name is accepted too. F32, F16 or
//   BF16. The reference writes pytorch_model.bin (torch.save), which ignis does not read: convert
//   it with `python3 -c "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for
//   k, v in torch.load('pytorch_model.bin', map_location='cpu').items()}, 'model.safetensors')"`.
// - The embeddings and lm_head are the target's, read from the target's folder.
//
// The proposer (EagleProposer) keeps, per sequence, the draft's KV in its own pool with the
// target's geometry, following the target's block tables (as spec/draft.h), and the target's
// hidden states not yet consumed (Proposer::on_hidden_rows: the engine passes every kept row).
// Each propose:
//  1. catch-up: the draft runs, in one chunk, every position j that has a true feature and no
//     draft KV yet (token j + 1, f_j), through the last token; its last row gives the draft's
//     distribution for the first new token and the predicted feature of the root;
//  2. EAGLE-2's dynamic tree: depth 1 is the top-k of that distribution; then `depth` expansion
//     steps, each running the top-k nodes of the frontier by value (the product of the draft's
//     probabilities along the path) through the draft as one token tree (the root and every
//     frontier node's ancestors, tree_parent over the draft KV, so a node attends to the context
//     and its ancestors; each node's fc takes its parent's predicted feature from the draft's
//     hidden-state sink), each giving its top-k children;
//  3. rerank: the total_tokens - 1 nodes of highest value (ties: the earlier one) are proposed,
//     parents before children; a child's value never exceeds its parent's, so every kept node's
//     ancestors are kept.
// The tree nodes' draft KV slots are scratch beyond the sequence's real positions: after
// verification they are garbage, and the accepted tokens are run again at the next catch-up with
// their true features (EAGLE does the same). The tree is deterministic given the hidden states,
// so the engine's tree acceptance stays exact for greedy and seeded sampled requests.
//
// At most 4096 unconsumed states are held per sequence (a request the policy keeps from
// speculating for longer runs its older positions with a zero feature).
// Positions without a hidden state (taken from the prefix cache: the target never computed them
// for this request) are run through the draft with a zero feature, unless their draft KV blocks
// are known valid (computed with true features, recorded with the block's generation as
// spec/draft.h does): the draft then simply knows less about them; the target verifies anyway.
#pragma once
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "model/weights.h"
#include "spec/feature_store.h"
#include "spec/proposer.h"

namespace ignis {

// A loaded head: the draft's config (the head's config.json with ModelConfig::fusion set, the
// target's tie_word_embeddings) and its weights under ignis's names ("model.fc.weight",
// "model.layers.{i}...", the target's "model.embed_tokens.weight" and "lm_head.weight" unless
// tied), ready for any backend's Model constructor.
struct EagleHead {
  ModelConfig config;
  WeightStore weights;
};

// DIR/config.json + DIR/model.safetensors (see above) and the target's embeddings / lm_head from
// target_dir, loaded as the target was (`fmt`, `seed`: its dummy weights are regenerated alike);
// throws Error naming the file and the field or tensor.
EagleHead load_eagle_head(const std::filesystem::path& dir, const ModelConfig& target,
                          const std::filesystem::path& target_dir, LoadFormat fmt = LoadFormat::Auto,
                          uint64_t seed = 0);

class EagleProposer : public Proposer {
 public:
  // `draft`: a fusion model (load_eagle_head's config) on a backend with trees and a hidden-state
  // sink. total_tokens, depth, topk as SpecConfig's eagle_* (eagle_tree_size validates them).
  EagleProposer(std::unique_ptr<Model> draft, int total_tokens = 60, int depth = 5, int topk = 10);
  const char* name() const override { return "eagle"; }
  bool proposes_trees() const override { return true; }
  bool wants_hidden_states() const override { return true; }
  bool wants_all_hidden_rows() const override { return true; }
  // Checks the draft against the target (hidden size, vocabulary) and sizes its KV pool.
  void init(const ModelConfig& target, int num_blocks, int block_size) override;
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) override;
  void on_hidden_rows(uint64_t id, int first_pos, int count, std::span<const float> rows) override;
  void on_verified(uint64_t id, int num_computed, const KvCacheManager& kv) override;
  void on_preempted(uint64_t id) override { forget(id); }
  void on_finished(uint64_t id) override { forget(id); }
  int last_rounds() const override { return last_rounds_; }
  int last_catchup_tokens() const override { return last_catchup_; }
  int pending_catchup(uint64_t id, int num_tokens) const override;

  const Model& draft() const { return *draft_; }
  int draft_computed(uint64_t id) const;  // -1 when not tracked (tests)
  // Positions [first, end) whose target hidden states are held for `id` ({-1, -1}: none; tests).
  std::pair<int, int> features_held(uint64_t id) const;
  int total_tokens() const { return total_tokens_; }
  int depth() const { return depth_; }
  int topk() const { return topk_; }

 private:
  struct SeqState {
    int computed = 0;    // draft KV valid for positions [0, computed)
    int zero_until = 0;  // positions below it may have been run with a zero feature
    int marked = 0;      // leading blocks recorded as valid
    FeatureStore::Seq feats;  // the target's hidden states not yet consumed (store_)
  };
  struct Node {
    int32_t token = 0;
    int parent = -1;     // index in the sequence's nodes; -1 = the root
    int depth = 1;
    double value = 0;    // sum of the draft's log-probabilities from the root
    int feat = -1;       // row in feat_pool_ of its parent's predicted feature (its fc input)
    int out = -1;        // row in feat_pool_ of its own predicted feature, once run
  };
  int valid_prefix(std::span<const int32_t> table, int from_block, const KvCacheManager& kv) const;
  void forget(uint64_t id);  // drops the sequence's state, its feature pages back to store_
  void warm_up(int num_blocks);  // init's end: the feature pool's first pages, a chunk and a tree through the draft
  // Runs batch_ through the draft and fills kids_[r] for every logit row r with want[r] set: the
  // top topk_ tokens of its distribution by log-probability (ties: the lower id), best first.
  // bad_row_[r] is set when the row cannot be ranked (a non-finite logit). The top-k is the
  // backend's forward_sample with greedy rows asking for topk_ logprobs: a device backend ranks
  // the rows where the logits are, so only k (id, logprob) pairs per row cross to the host.
  void run_draft(const std::vector<char>& want);

  std::unique_ptr<Model> draft_;
  int total_tokens_, depth_, topk_;
  int hidden_ = 0, vocab_ = 0, block_size_ = 0;
  std::vector<uint32_t> valid_gen_;  // (num_blocks) generation whose draft KV is valid; 0 = none
  std::unordered_map<uint64_t, SeqState> seqs_;
  FeatureStore store_;  // every sequence's held target hidden states, in pages of one pool
  int last_rounds_ = 0, last_catchup_ = 0;

  // Per-call scratch.
  ForwardBatch batch_;
  std::vector<float> sink_, feat_pool_;  // feat_pool_: (rows, hidden) predicted features
  std::vector<std::vector<float>> features_;      // per batch sequence: its fc input rows
  std::vector<std::vector<Node>> nodes_;          // per proposing sequence
  SamplingParams top_params_;                   // greedy, logprobs = topk_
  std::vector<RowSampling> rows_;
  std::vector<RowSample> samples_;
  std::vector<std::vector<std::pair<int32_t, double>>> kids_;  // per logit row of the last run_draft
  std::vector<char> bad_row_;
  std::vector<std::vector<size_t>> frontier_rows_;  // per sequence of an expansion pass: its frontier's rows
};

// load_eagle_head's model built by the caller on the target's backend, wrapped in an EagleProposer
// with cfg's eagle_* parameters.
std::unique_ptr<Proposer> make_eagle_proposer(std::unique_ptr<Model> draft, const SpecConfig& cfg);

}  // namespace ignis
