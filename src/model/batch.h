// ignis model: one forward step over a flat batch of tokens from several sequences
// (mixed prefill chunks and decode tokens), over a paged KV cache.
#pragma once
#include <cstdint>
#include <vector>

namespace ignis {

struct BatchSeq {
  int32_t num_cached = 0;   // tokens of this sequence already in the KV cache (= position of its first new token)
  int32_t num_tokens = 0;   // new tokens of this sequence in this step (contiguous in ForwardBatch::tokens)
  // Physical KV block ids covering positions [0, num_cached + num_tokens); block b holds
  // positions [b*block_size, (b+1)*block_size). For sliding-window models, blocks wholly
  // outside the window may be -1 (released).
  std::vector<int32_t> block_table;
  bool all_logits = false;  // logits for every new token (eval, verification); else only the last
  // Hidden states (Model::set_hidden_state_sink) for every new token while logits stay as
  // all_logits says: a prefill chunk whose every position feeds a proposer (EAGLE) without an
  // lm_head row nobody samples. Implied by all_logits.
  bool all_hidden = false;
  // Speculative verification: of the num_tokens new tokens, the trailing num_draft are proposals
  // (the first is the sequence's last accepted token, so num_tokens == 1 + num_draft and
  // all_logits is set: row i judges proposal i, the last row is the bonus row). Positions stay
  // num_cached + i as for any chunk; a backend may use it to run such sequences on its decode
  // path (kernels, graphs per k) rather than its prefill path, and may ignore it otherwise.
  int32_t num_draft = 0;
  // Tree verification (empty: the new tokens are a chain, token i at position num_cached + i).
  // Otherwise (num_tokens) parent indices within this sequence's new tokens: tree_parent[0] == -1
  // (the root: the sequence's last accepted token), tree_parent[i] in [0, i) for i > 0. Token i
  // sits at position num_cached + depth(i) (depth(root) = 0), its K/V is written to KV slot
  // num_cached + i, and it attends to the cached context [0, num_cached) and to its own ancestors
  // (itself included) only. A linear chain (tree_parent[i] == i - 1) computes what the empty
  // description does. Model::supports_tree() says whether a backend runs such sequences; after
  // acceptance the engine moves the accepted path's K/V to slots num_cached + depth with
  // Model::compact_kv. Requires all_logits.
  std::vector<int32_t> tree_parent = {};
  // A model with ModelConfig::fusion (an EAGLE draft head): (num_tokens, hidden_size) fp32 in host
  // memory, valid for the forward call; row i is the feature token i's embedding is fused with.
  // Required for such a model (a backend throws Error without it), ignored by any other.
  const float* features = nullptr;
  bool is_tree() const { return !tree_parent.empty(); }
  int32_t logit_rows() const { return all_logits ? num_tokens : 1; }
  int32_t hidden_rows() const { return all_logits || all_hidden ? num_tokens : 1; }
};

struct ForwardBatch {
  std::vector<int32_t> tokens;  // (sum of num_tokens) token ids, sequence after sequence
  std::vector<BatchSeq> seqs;
  int32_t num_logit_rows() const {
    int32_t n = 0;
    for (auto& s : seqs) n += s.logit_rows();
    return n;
  }
  // Rows of the hidden-state sink: every new token of all_logits or all_hidden sequences, else the
  // last one (a superset of the logit rows, in the same sequence order).
  int32_t num_hidden_rows() const {
    int32_t n = 0;
    for (auto& s : seqs) n += s.hidden_rows();
    return n;
  }
};

}  // namespace ignis
