#include "spec/medusa.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "model/json_util.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "sampling/sampler.h"

namespace ignis {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxTreeNodes = 512;
constexpr int kMaxTopk = 64;

}  // namespace

const std::vector<std::vector<int>>& medusa_default_choices() {
  // FasterDecoding/Medusa medusa/model/medusa_choices.py mc_sim_7b_63 (the tree its
  // medusa_generate uses by default).
  static const std::vector<std::vector<int>> c = {
      {0},       {0, 0},    {1},          {0, 1},       {2},       {0, 0, 0}, {1, 0},    {0, 2},    {3},
      {0, 3},    {4},       {0, 4},       {2, 0},       {0, 5},    {0, 0, 1}, {5},       {0, 6},    {6},
      {0, 7},    {0, 1, 0}, {1, 1},       {7},          {0, 8},    {0, 0, 2}, {3, 0},    {0, 9},    {8},
      {9},       {1, 0, 0}, {0, 2, 0},    {1, 2},       {0, 0, 3}, {4, 0},    {2, 1},    {0, 0, 4}, {0, 0, 5},
      {0, 0, 0, 0}, {0, 1, 1}, {0, 0, 6}, {0, 3, 0},    {5, 0},    {1, 3},    {0, 0, 7}, {0, 0, 8}, {0, 0, 9},
      {6, 0},    {0, 4, 0}, {1, 4},       {7, 0},       {0, 1, 2}, {2, 0, 0}, {3, 1},    {2, 2},    {8, 0},
      {0, 5, 0}, {1, 5},    {1, 0, 1},    {0, 2, 1},    {9, 0},    {0, 6, 0}, {0, 0, 0, 1}, {1, 6}, {0, 7, 0}};
  return c;
}

MedusaTree medusa_tree(const std::vector<std::vector<int>>& choices_in, int num_heads) {
  const auto& choices = choices_in.empty() ? medusa_default_choices() : choices_in;
  std::set<std::vector<int>> all;
  for (const auto& c : choices) {
    IGNIS_CHECK(!c.empty(), "medusa choices: an empty path (every node is a list of top-k indices, one per depth)");
    for (int i : c)
      IGNIS_CHECK(i >= 0 && i < kMaxTopk, "medusa choices: index {} in [{}] is outside [0, {})", i, fmt::join(c, ", "),
                  kMaxTopk);
    IGNIS_CHECK(all.insert(c).second, "medusa choices: [{}] appears twice", fmt::join(c, ", "));
  }
  for (const auto& c : all)
    if (c.size() > 1) {
      const std::vector<int> parent(c.begin(), c.end() - 1);
      IGNIS_CHECK(all.count(parent), "medusa choices: [{}] has no parent [{}] in the list", fmt::join(c, ", "),
                  fmt::join(parent, ", "));
    }
  MedusaTree t;
  for (const auto& c : all)
    if (num_heads <= 0 || int(c.size()) <= num_heads) t.paths.push_back(c);
  // Medusa's order: by depth, then lexicographically (parents before children).
  std::stable_sort(t.paths.begin(), t.paths.end(),
                   [](const auto& a, const auto& b) { return a.size() != b.size() ? a.size() < b.size() : a < b; });
  IGNIS_CHECK(!t.paths.empty() && int(t.paths.size()) <= kMaxTreeNodes,
              "medusa choices: the tree has {} nodes within {} heads (need 1 to {})", t.paths.size(), num_heads,
              kMaxTreeNodes);
  std::map<std::vector<int>, int32_t> index;
  for (size_t i = 0; i < t.paths.size(); ++i) {
    const auto& c = t.paths[i];
    index[c] = int32_t(i);
    t.parents.push_back(c.size() == 1 ? -1 : index.at(std::vector<int>(c.begin(), c.end() - 1)));
    if (t.topk.size() < c.size()) t.topk.resize(c.size(), 0);
    t.topk[c.size() - 1] = std::max(t.topk[c.size() - 1], c.back() + 1);
  }
  return t;
}

int medusa_tree_size(const SpecConfig& c) { return int(medusa_tree(c.medusa_choices).paths.size()); }

MedusaHeads::MedusaHeads(int hidden, int vocab, int num_layers, std::vector<Head> heads, std::string base_model,
                         bool shared_lm_head)
    : hidden_(hidden), vocab_(vocab), num_layers_(num_layers), heads_(std::move(heads)),
      base_model_(std::move(base_model)), shared_lm_head_(shared_lm_head) {
  IGNIS_CHECK(hidden_ > 0 && vocab_ > 0 && num_layers_ >= 0 && !heads_.empty(),
              "medusa: heads need positive sizes (hidden {}, vocab {}, layers {}, heads {})", hidden_, vocab_,
              num_layers_, heads_.size());
  for (const Head& h : heads_) {
    IGNIS_CHECK(int(h.blocks.size()) == num_layers_, "medusa: a head has {} ResBlocks, expected {}", h.blocks.size(),
                num_layers_);
    for (const auto& b : h.blocks)
      IGNIS_CHECK(b.n() == hidden_ && b.k() == hidden_, "medusa: ResBlock {} is [{}, {}], expected [{}, {}]", b.name(),
                  b.n(), b.k(), hidden_, hidden_);
    IGNIS_CHECK(h.lm_head && h.lm_head->n() == vocab_ && h.lm_head->k() == hidden_,
                "medusa: a head's final linear is missing or not [{}, {}]", vocab_, hidden_);
  }
}

namespace {

// The target's lm_head (tied: its embeddings) as an fp32 linear, from its folder.
std::shared_ptr<const cpu::Linear> target_lm_head(const fs::path& target_dir, const ModelConfig& target) {
  IGNIS_CHECK(!target_dir.empty(), "medusa: these heads share the target's lm_head (ignis_shared_lm_head), but no "
              "target folder was given to read it from");
  const WeightStore ws = WeightStore::load(target_dir, target);
  const std::string name = target.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  const TensorRef& t = ws.get(name);
  const int64_t H = target.hidden_size, V = target.vocab_size;
  IGNIS_CHECK(t.shape == std::vector<int64_t>({V, H}) &&
                  (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16) &&
                  t.nbytes == size_t(V * H) * dtype_size(t.dtype),
              "medusa: the target's {} ({}, [{}]) is not a dense F32/F16/BF16 [{}, {}] matrix; heads that share it "
              "need one", name, dtype_name(t.dtype), fmt::join(t.shape, ", "), V, H);
  std::vector<float> w(size_t(V * H));
  to_f32(t.dtype, t.data, w.data(), w.size());
  return std::make_shared<const cpu::Linear>("medusa shared lm_head (target " + name + ")", std::move(w), V, H,
                                             std::vector<float>{});
}

}  // namespace

std::shared_ptr<const MedusaHeads> MedusaHeads::load(const fs::path& dir, const ModelConfig& target,
                                                     const fs::path& target_dir) {
  const std::string cfg_path = (dir / "config.json").string();
  IGNIS_CHECK(fs::is_regular_file(cfg_path), "medusa: {} not found (a Medusa heads folder holds config.json and "
              "medusa_lm_head.safetensors)", cfg_path);
  const jsonf::Json cfg = jsonf::parse_file(cfg_path);
  IGNIS_CHECK(cfg.is_object(), "{}: not a JSON object", cfg_path);
  const int num_heads = int(jsonf::req_int(cfg, "medusa_num_heads", cfg_path, 1, 64));
  const int num_layers = int(jsonf::req_int(cfg, "medusa_num_layers", cfg_path, 0, 64));
  const std::string base = jsonf::opt_string(cfg, "base_model_name_or_path", cfg_path).value_or("");
  const bool shared = jsonf::opt_bool(cfg, "ignis_shared_lm_head", cfg_path).value_or(false);

  const fs::path st = dir / "medusa_lm_head.safetensors";
  if (!fs::is_regular_file(st)) {
    IGNIS_CHECK(!fs::exists(dir / "medusa_lm_head.pt"),
                "medusa: {} holds medusa_lm_head.pt (torch.save), which ignis does not read: convert it to "
                "medusa_lm_head.safetensors (spec/medusa.h and README have the one-line command)",
                dir.string());
    IGNIS_FAIL("medusa: {} not found", st.string());
  }
  SafetensorsFile file(st.string());
  std::map<std::string, const SafetensorsEntry*> by_name;
  for (const auto& e : file.header().tensors) by_name[e.name] = &e;
  const std::string probe = shared ? "0.0.linear.weight" : "0." + std::to_string(num_layers) + ".weight";
  const std::string prefix = by_name.count("medusa_head." + probe) ? "medusa_head." : "";
  const int64_t H = target.hidden_size, V = target.vocab_size;
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    auto it = by_name.find(prefix + name);
    IGNIS_CHECK(it != by_name.end(), "medusa: {}: missing tensor {} (config.json says {} heads of {} ResBlocks)",
                st.string(), prefix + name, num_heads, num_layers);
    const SafetensorsEntry& e = *it->second;
    IGNIS_CHECK(e.shape == shape, "medusa: {}: tensor {} has shape [{}], expected [{}] (the target's hidden size {} and "
                "vocabulary {})", st.string(), e.name, fmt::join(e.shape, ", "), fmt::join(shape, ", "), H, V);
    IGNIS_CHECK(e.dtype == DType::F32 || e.dtype == DType::F16 || e.dtype == DType::BF16,
                "medusa: {}: tensor {} has dtype {}, expected F32, F16 or BF16", st.string(), e.name,
                dtype_name(e.dtype));
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    std::vector<float> v(n);
    to_f32(e.dtype, file.tensor_data(e), v.data(), n);
    for (float x : v) IGNIS_CHECK(std::isfinite(x), "medusa: {}: tensor {} has a non-finite value", st.string(), e.name);
    return v;
  };
  std::vector<Head> heads;
  heads.resize(size_t(num_heads));
  for (int i = 0; i < num_heads; ++i) {
    for (int j = 0; j < num_layers; ++j) {
      const std::string b = fmt::format("{}.{}.linear.", i, j);
      heads[size_t(i)].blocks.emplace_back("medusa " + b + "weight", get(b + "weight", {H, H}), H, H,
                                           get(b + "bias", {H}));
    }
    const std::string w = fmt::format("{}.{}.weight", i, num_layers);
    if (shared) {
      IGNIS_CHECK(!by_name.count(prefix + w), "medusa: {} has {} but config.json says ignis_shared_lm_head",
                  st.string(), prefix + w);
    } else {
      heads[size_t(i)].lm_head = std::make_shared<const cpu::Linear>("medusa " + w, get(w, {V, H}), V, H,
                                                                     std::vector<float>{});
    }
  }
  // A head the config does not declare means the config and the weights disagree.
  IGNIS_CHECK(!by_name.count(prefix + fmt::format("{}.{}.weight", num_heads, num_layers)) &&
                  !by_name.count(prefix + fmt::format("{}.0.linear.weight", num_heads)),
              "medusa: {} has more heads than config.json's medusa_num_heads {}", st.string(), num_heads);
  if (shared) {
    IGNIS_CHECK(num_layers > 0, "{}: ignis_shared_lm_head with medusa_num_layers 0 would make every head the target's "
                "own lm_head", cfg_path);
    auto lm = target_lm_head(target_dir, target);
    for (Head& h : heads) h.lm_head = lm;
  }
  return std::make_shared<const MedusaHeads>(int(H), int(V), num_layers, std::move(heads), base, shared);
}

void MedusaHeads::forward(int head, const float* h, int m, float* logits) const {
  const Head& hd = heads_.at(size_t(head));
  const size_t n = size_t(m) * size_t(hidden_);
  x_.assign(h, h + n);
  y_.resize(n);
  for (const cpu::Linear& b : hd.blocks) {
    b.forward(y_.data(), x_.data(), m);
    for (size_t i = 0; i < n; ++i) x_[i] += y_[i] / (1.0f + std::exp(-y_[i]));  // x + silu(W x + b)
  }
  hd.lm_head->forward(logits, x_.data(), m);
}

namespace {

class HostMedusaRunner : public MedusaHeadRunner {
 public:
  explicit HostMedusaRunner(std::shared_ptr<const MedusaHeads> heads) : heads_(std::move(heads)) {}
  const char* where() const override { return "host"; }
  void top_tokens(const float* h, int m, const std::vector<int>& topk, std::vector<std::vector<int32_t>>& top,
                  std::vector<char>& bad) override {
    const int V = heads_->vocab();
    IGNIS_CHECK(int(topk.size()) <= heads_->num_heads(), "medusa: top tokens of {} heads, the folder has {}",
                topk.size(), heads_->num_heads());
    top.resize(topk.size());
    bad.assign(size_t(m), 0);
    logits_.resize(size_t(m) * size_t(V));
    for (size_t d = 0; d < topk.size(); ++d) {
      const int k = topk[d];
      IGNIS_CHECK(k >= 1 && k <= V, "medusa: top {} of a vocabulary of {}", k, V);
      heads_->forward(int(d), h, m, logits_.data());
      top[d].assign(size_t(m) * size_t(k), 0);
      for (int r = 0; r < m; ++r) {
        const float* lg = logits_.data() + size_t(r) * size_t(V);
        if (!bad[size_t(r)] && !top_k_ids(lg, V, k, top[d].data() + size_t(r) * size_t(k))) bad[size_t(r)] = 1;
      }
    }
  }

 private:
  std::shared_ptr<const MedusaHeads> heads_;
  std::vector<float> logits_;
};

}  // namespace

std::unique_ptr<MedusaHeadRunner> make_host_medusa_runner(std::shared_ptr<const MedusaHeads> heads) {
  IGNIS_CHECK(heads != nullptr, "medusa: no heads");
  return std::make_unique<HostMedusaRunner>(std::move(heads));
}

MedusaProposer::MedusaProposer(std::shared_ptr<const MedusaHeads> heads, const std::vector<std::vector<int>>& choices,
                               std::unique_ptr<MedusaHeadRunner> runner)
    : heads_(std::move(heads)), runner_(std::move(runner)) {
  IGNIS_CHECK(heads_ != nullptr, "medusa: no heads");
  tree_ = medusa_tree(choices, heads_->num_heads());
  if (!runner_) runner_ = make_host_medusa_runner(heads_);
}

void MedusaProposer::init(const ModelConfig& target, int, int) {
  IGNIS_CHECK(target.hidden_size == heads_->hidden() && target.vocab_size == heads_->vocab(),
              "medusa: the heads are for hidden size {} and vocabulary {}, the target has {} and {}", heads_->hidden(),
              heads_->vocab(), target.hidden_size, target.vocab_size);
}

void MedusaProposer::on_hidden(uint64_t id, int num_tokens, std::span<const float> hidden) {
  IGNIS_CHECK(int(hidden.size()) == heads_->hidden(), "medusa: hidden state of {} values, the heads take {}",
              hidden.size(), heads_->hidden());
  State& s = seqs_[id];
  s.num_tokens = num_tokens;
  s.hidden.assign(hidden.begin(), hidden.end());
}

void MedusaProposer::propose(std::span<const SpecSeq> seqs, const KvCacheManager&, std::vector<Proposal>& out) {
  out.resize(seqs.size());
  // The sequences whose hidden state is that of their last token: one batch through the heads.
  std::vector<size_t> ready;
  const int V = heads_->vocab();
  h_.clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    out[i].clear();
    auto it = seqs_.find(seqs[i].id);
    if (it == seqs_.end() || it->second.num_tokens != int(seqs[i].tokens.size()) || seqs[i].k <= 0) continue;
    ready.push_back(i);
    h_.insert(h_.end(), it->second.hidden.begin(), it->second.hidden.end());
  }
  if (ready.empty()) return;
  const int m = int(ready.size());
  int nodes = 0;  // the most nodes any sequence takes (the tree's prefix)
  for (size_t i : ready) nodes = std::max(nodes, std::min(seqs[i].k, int(tree_.paths.size())));
  int depth = 0;
  for (int n = 0; n < nodes; ++n) depth = std::max(depth, int(tree_.paths[size_t(n)].size()));
  // Per head (depth), each sequence's top-k tokens (ties: the lower id).
  std::vector<int> topk(static_cast<size_t>(depth));
  for (int d = 0; d < depth; ++d) topk[size_t(d)] = std::min(tree_.topk[size_t(d)], V);
  runner_->top_tokens(h_.data(), m, topk, top_, bad_);
  const auto& top = top_;
  const auto& bad = bad_;
  for (int r = 0; r < m; ++r) {
    const SpecSeq& s = seqs[ready[size_t(r)]];
    Proposal& p = out[ready[size_t(r)]];
    if (bad[size_t(r)]) continue;
    const int n = std::min(s.k, int(tree_.paths.size()));
    // A node whose index is beyond the vocabulary (tiny models) is dropped with its subtree; the
    // kept nodes' parents are renumbered.
    std::vector<int32_t>& remap = remap_;
    remap.assign(size_t(n), -1);
    for (int i = 0; i < n; ++i) {
      const auto& path = tree_.paths[size_t(i)];
      const size_t d = path.size() - 1;
      const int k = std::min(tree_.topk[d], V);
      const int32_t par = tree_.parents[size_t(i)];
      if (path.back() >= k || (par >= 0 && remap[size_t(par)] < 0)) continue;
      remap[size_t(i)] = int32_t(p.tokens.size());
      p.tokens.push_back(top[d][size_t(r) * size_t(k) + size_t(path.back())]);
      p.parents.push_back(par < 0 ? -1 : remap[size_t(par)]);
    }
  }
}

void typical_accept_path(std::span<const int32_t> parents, std::span<const float> node_prob,
                         std::span<const float> row_entropy, double threshold, double alpha, std::vector<int>& path) {
  const size_t n = parents.size();
  IGNIS_CHECK(node_prob.size() == n && row_entropy.size() == n + 1,
              "typical acceptance: {} nodes with {} probabilities and {} row entropies", n, node_prob.size(),
              row_entropy.size());
  std::vector<int> depth(n, 0);
  std::vector<double> loglik(n, 0);
  int best = -1;
  for (size_t i = 0; i < n; ++i) {
    const int32_t par = parents[i];
    IGNIS_CHECK(par >= -1 && par < int32_t(i), "typical acceptance: node {} has parent {}", i, par);
    if (par >= 0 && depth[size_t(par)] == 0) continue;  // the parent was not accepted
    const double limit = std::min(threshold, alpha * std::exp(-double(row_entropy[size_t(par + 1)])));
    if (!(double(node_prob[i]) > limit)) continue;
    depth[i] = (par < 0 ? 0 : depth[size_t(par)]) + 1;
    loglik[i] = (par < 0 ? 0.0 : loglik[size_t(par)]) + std::log(double(node_prob[i]));
    if (best < 0 || depth[i] > depth[size_t(best)] || (depth[i] == depth[size_t(best)] && loglik[i] > loglik[size_t(best)]))
      best = int(i);
  }
  path.clear();
  for (int cur = best; cur >= 0; cur = parents[size_t(cur)]) path.push_back(cur);
  std::reverse(path.begin(), path.end());
}

std::unique_ptr<Proposer> make_medusa_proposer(const fs::path& dir, const SpecConfig& cfg, const ModelConfig& target,
                                               const fs::path& target_dir) {
  return std::make_unique<MedusaProposer>(MedusaHeads::load(dir, target, target_dir), cfg.medusa_choices);
}

}  // namespace ignis
