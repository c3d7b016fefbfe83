// ignis spec: Medusa (Cai et al. 2024, "Medusa: Simple LLM Inference Acceleration Framework with
// Multiple Decoding Heads"; FasterDecoding/Medusa). Extra heads on the target's final hidden state
// h (after the final norm, the lm_head's input) predict the tokens further ahead: with t+1 the
// target's own next token (lm_head(h)), head i predicts token t+2+i. Each head is
// medusa_num_layers ResBlocks x <- x + SiLU(W x + b) and a linear (vocab, hidden) without bias.
//
// Heads folder (--speculative medusa --speculative-model DIR), as the reference saves it:
// - config.json: "medusa_num_heads", "medusa_num_layers" (required), "base_model_name_or_path"
//   (informational: the target is --model; its hidden size and vocabulary must match the heads').
// - medusa_lm_head.safetensors: the state dict of the ModuleList of heads, names
//   "{i}.{j}.linear.weight" (hidden, hidden) and "{i}.{j}.linear.bias" (hidden) for ResBlock j of
//   head i, "{i}.{L}.weight" (vocab, hidden) for its final linear (L = medusa_num_layers); the
//   prefix "medusa_head." (the full model's state dict) is accepted too. F32, F16 or BF16.
//   The reference writes medusa_lm_head.pt (torch.save), which ignis cannot read: convert it
//   with `python3 -c "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v
//   in torch.load('medusa_lm_head.pt', map_location='cpu').items()}, 'medusa_lm_head.safetensors')"`
//   (tools/train/train_medusa.py writes safetensors directly).
// - ignis extension, "ignis_shared_lm_head": true in config.json: the heads have no final linear
//   ("{i}.{L}.weight" absent) and each uses the target's own lm_head (Medusa initializes them to it;
//   train_medusa.py keeps it frozen), so a folder of heads is a few hundred KB instead of one
//   vocab x hidden matrix per head (models/demo: 12 MB each in bf16).
//
// Each step the proposer runs the heads on the hidden state of the row that produced the
// sequence's last token (Proposer::on_hidden, from the same pass that verified the previous
// proposal), takes each head's top-k and proposes Medusa's candidate tree ("medusa_choices": a
// node is a path of top-k indices, one per depth; default mc_sim_7b_63), which the target verifies
// in one pass. The tree is deterministic given the hidden state, so the engine's tree acceptance
// (the path the target's own tokens follow) is exact for greedy and seeded sampled requests.
// A MedusaHeadRunner runs the heads: the host reference (fp32, cpu::Linear: any target backend)
// or a device copy (cuda/medusa_heads.h: bf16 weights, one lm_head GEMM for every head's rows
// when they share the target's, the top-k ranked on the GPU), chosen by the runtime for the
// target's backend (runtime/draft_loader.h load_medusa_proposer). Only backends with
// Model::set_hidden_state_sink (the CPU and CUDA backends) can feed them.
#pragma once
#include <filesystem>
#include <memory>
#include <unordered_map>

#include "model/cpu/linear.h"
#include "spec/proposer.h"

namespace ignis {

class MedusaHeads {
 public:
  struct Head {
    std::vector<cpu::Linear> blocks;                // (hidden, hidden) + bias each: x <- x + silu(W x + b)
    std::shared_ptr<const cpu::Linear> lm_head;     // (vocab, hidden), no bias; shared by all heads when
                                                    // they use the target's
  };
  MedusaHeads(int hidden, int vocab, int num_layers, std::vector<Head> heads, std::string base_model = {},
              bool shared_lm_head = false);
  // DIR/config.json + DIR/medusa_lm_head.safetensors (see above); throws Error naming the file and
  // the field or tensor. `target` (hidden_size, vocab_size) must match the heads; `target_dir`
  // (the target's folder) is read only for heads that share its lm_head.
  static std::shared_ptr<const MedusaHeads> load(const std::filesystem::path& dir, const ModelConfig& target,
                                                 const std::filesystem::path& target_dir = {});
  bool shared_lm_head() const { return shared_lm_head_; }

  int num_heads() const { return int(heads_.size()); }
  const Head& head(int i) const { return heads_.at(size_t(i)); }
  int num_layers() const { return num_layers_; }
  int hidden() const { return hidden_; }
  int vocab() const { return vocab_; }
  const std::string& base_model() const { return base_model_; }
  // logits (m, vocab) of head `head` for hidden states h (m, hidden). One call at a time.
  void forward(int head, const float* h, int m, float* logits) const;

 private:
  int hidden_, vocab_, num_layers_;
  std::vector<Head> heads_;
  std::string base_model_;
  bool shared_lm_head_ = false;
  mutable std::vector<float> x_, y_;  // scratch (m, hidden)
};

// What runs the heads for the proposer: for m hidden states, the top tokens of heads 0, 1, ...
class MedusaHeadRunner {
 public:
  virtual ~MedusaHeadRunner() = default;
  virtual const char* where() const = 0;  // "host", "cuda"
  // h (m, hidden) fp32. top[d] gets (m, topk[d]) ids for every d < topk.size() (<= num_heads,
  // topk[d] <= vocab): row r's best first by the head's logit, ties the lower id. bad[r] = 1 when
  // some head's logits for row r are not finite (the row then proposes nothing); the other rows'
  // results do not depend on it.
  virtual void top_tokens(const float* h, int m, const std::vector<int>& topk, std::vector<std::vector<int32_t>>& top,
                          std::vector<char>& bad) = 0;
};
// The host reference: MedusaHeads::forward in fp32 and a partial sort of every row.
std::unique_ptr<MedusaHeadRunner> make_host_medusa_runner(std::shared_ptr<const MedusaHeads> heads);

// The candidate tree of `choices` (Medusa's medusa_choices; empty = mc_sim_7b_63) for heads with
// `num_heads` heads (0 = no limit): nodes sorted by depth then path (parents first), deeper than
// the heads dropped. Throws Error unless every index is in [0, 64), every node's parent path is in
// the list, no node repeats, and there are 1 to 512 nodes.
struct MedusaTree {
  std::vector<std::vector<int>> paths;  // per node, its top-k indices from depth 1
  std::vector<int32_t> parents;         // per node, its parent's index; -1 = the root
  std::vector<int> topk;                // per depth d (head d), the most candidates the tree takes
};
MedusaTree medusa_tree(const std::vector<std::vector<int>>& choices, int num_heads = 0);
const std::vector<std::vector<int>>& medusa_default_choices();  // mc_sim_7b_63
int medusa_tree_size(const SpecConfig& c);  // the tree's node count (all heads)

// Medusa's typical acceptance over a verified token tree (n nodes, parents[i] < i, -1 = the root):
// node i is accepted when its parent is (or is the root) and node_prob[i] > min(threshold, alpha *
// exp(-row_entropy[parents[i] + 1])), with node_prob[i] its token's probability and row_entropy[r]
// the entropy of the target's distribution at row r (0: the root's, 1 + i: node i's). Writes the
// deepest accepted path, root to leaf, into `path` (ties: the higher sum of log probabilities,
// then the lower indices); empty when no node is accepted.
void typical_accept_path(std::span<const int32_t> parents, std::span<const float> node_prob,
                         std::span<const float> row_entropy, double threshold, double alpha, std::vector<int>& path);

class MedusaProposer : public Proposer {
 public:
  // runner: what runs the heads (null: make_host_medusa_runner(heads)).
  MedusaProposer(std::shared_ptr<const MedusaHeads> heads, const std::vector<std::vector<int>>& choices = {},
                 std::unique_ptr<MedusaHeadRunner> runner = nullptr);
  const char* name() const override { return "medusa"; }
  bool proposes_trees() const override { return true; }
  bool wants_hidden_states() const override { return true; }
  void init(const ModelConfig& target, int num_blocks, int block_size) override;
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) override;
  void on_hidden(uint64_t id, int num_tokens, std::span<const float> hidden) override;
  void on_preempted(uint64_t id) override { seqs_.erase(id); }
  void on_finished(uint64_t id) override { seqs_.erase(id); }

  const MedusaTree& tree() const { return tree_; }
  const MedusaHeadRunner& runner() const { return *runner_; }
  size_t tracked() const { return seqs_.size(); }  // sequences with a hidden state held (tests)

 private:
  struct State {
    int num_tokens = 0;
    std::vector<float> hidden;
  };
  std::shared_ptr<const MedusaHeads> heads_;
  std::unique_ptr<MedusaHeadRunner> runner_;
  MedusaTree tree_;
  std::unordered_map<uint64_t, State> seqs_;
  std::vector<float> h_;              // (m, hidden) for the sequences of one propose
  std::vector<std::vector<int32_t>> top_;  // per head, (m, topk) candidates
  std::vector<char> bad_;
  std::vector<int32_t> remap_;
};

// MedusaHeads::load(dir, target, target_dir) wrapped in a MedusaProposer over cfg.medusa_choices,
// the heads on the host (runtime/draft_loader.h load_medusa_proposer picks the target's device).
std::unique_ptr<Proposer> make_medusa_proposer(const std::filesystem::path& dir, const SpecConfig& cfg,
                                               const ModelConfig& target,
                                               const std::filesystem::path& target_dir = {});

}  // namespace ignis
