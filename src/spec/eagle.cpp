#include "spec/eagle.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "kv/kv_cache_manager.h"
#include "model/json_util.h"
#include "model/safetensors.h"

namespace ignis {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxHeldRows = 4096;  // target hidden states held per sequence (64 MB at hidden 4096)
constexpr size_t kWarmPages = 64;   // feature pages faulted in at init (4,096 rows: 64 MB at hidden 4096)

}  // namespace

int eagle_tree_size(int total_tokens, int depth, int topk) {
  IGNIS_CHECK(total_tokens >= 2 && total_tokens <= 513,
              "--eagle-total-tokens must be in [2, 513] (the root and 1 to 512 draft tokens; got {})", total_tokens);
  IGNIS_CHECK(depth >= 1 && depth <= 32, "--eagle-depth must be in [1, 32] (got {})", depth);
  IGNIS_CHECK(topk >= 1 && topk <= 64, "--eagle-topk must be in [1, 64] (got {})", topk);
  return total_tokens - 1;
}

EagleHead load_eagle_head(const fs::path& dir, const ModelConfig& target, const fs::path& target_dir, LoadFormat fmt,
                          uint64_t seed) {
  const std::string cfg_path = (dir / "config.json").string();
  IGNIS_CHECK(fs::is_regular_file(cfg_path), "eagle: {} not found (an EAGLE head folder holds config.json and "
              "model.safetensors)", cfg_path);
  const std::string text = jsonf::read_text_file(cfg_path);
  EagleHead h;
  ModelConfig& c = h.config;
  c = parse_model_config(text, cfg_path);
  const jsonf::Json j = jsonf::parse(text, cfg_path);
  const bool bias = jsonf::opt_bool(j, "bias", cfg_path).value_or(true);  // EAGLE's Model(bias=True)
  IGNIS_CHECK(c.vocab_size == target.vocab_size,
              "eagle: {} has vocab_size {} but the target has {}; the head must be trained for the target", cfg_path,
              c.vocab_size, target.vocab_size);
  IGNIS_CHECK(c.hidden_size == target.hidden_size,
              "eagle: {} has hidden_size {} but the target has {}; the head fuses the target's hidden states",
              cfg_path, c.hidden_size, target.hidden_size);
  IGNIS_CHECK(c.quant.method == QuantConfig::Method::None, "eagle: {}: quantized heads are not supported", cfg_path);

  const fs::path st = dir / "model.safetensors";
  if (!fs::is_regular_file(st)) {
    IGNIS_CHECK(!fs::exists(dir / "pytorch_model.bin"),
                "eagle: {} holds pytorch_model.bin (torch.save), which ignis does not read: convert it to "
                "model.safetensors with python3 -c \"import torch, safetensors.torch as s; s.save_file({{k: "
                "v.contiguous() for k, v in torch.load('pytorch_model.bin', map_location='cpu').items()}}, "
                "'model.safetensors')\"",
                dir.string());
    IGNIS_FAIL("eagle: {} not found (an EAGLE head folder holds config.json and model.safetensors)", st.string());
  }
  SafetensorsFile file(st.string());
  // The head's names, with or without a "model." prefix.
  std::map<std::string, const SafetensorsEntry*> by_name;
  for (const auto& e : file.header().tensors) {
    const std::string n = e.name.rfind("model.", 0) == 0 ? e.name.substr(6) : e.name;
    IGNIS_CHECK(by_name.emplace(n, &e).second, "eagle: {}: tensor {} appears twice (with and without \"model.\")",
                st.string(), n);
  }
  c.fusion.enabled = true;
  c.fusion.fc_bias = bias;
  c.fusion.first_input_norm = by_name.count("layers.0.input_layernorm.weight") > 0;
  c.fusion.final_norm = by_name.count("norm.weight") > 0;
  c.tie_word_embeddings = target.tie_word_embeddings;  // lm_head is the target's
  IGNIS_CHECK(!bias || by_name.count("fc.bias"),
              "eagle: {}: missing tensor fc.bias ({} has no \"bias\": false, and EAGLE's fc has a bias by default)",
              st.string(), cfg_path);

  const auto expected = expected_tensors(c);
  std::map<std::string, std::vector<int64_t>> want(expected.begin(), expected.end());
  for (const auto& [n, e] : by_name) {
    if (n == "embed_tokens.weight" || n == "lm_head.weight") continue;  // the target's are used
    const std::string ours = "model." + n;
    auto it = want.find(ours);
    IGNIS_CHECK(it != want.end(),
                "eagle: {}: unexpected tensor {} (config.json says {} layers; fc bias {}; a head's names are fc.*, "
                "layers.{{i}}.*, norm.weight)", st.string(), e->name, c.num_layers, bias);
    IGNIS_CHECK(e->shape == it->second, "eagle: {}: tensor {} has shape [{}], expected [{}] (from {} and the target's "
                "hidden size {})", st.string(), e->name, fmt::join(e->shape, ", "), fmt::join(it->second, ", "),
                cfg_path, target.hidden_size);
    IGNIS_CHECK(e->dtype == DType::F32 || e->dtype == DType::F16 || e->dtype == DType::BF16,
                "eagle: {}: tensor {} has dtype {}, expected F32, F16 or BF16", st.string(), e->name,
                dtype_name(e->dtype));
    TensorRef t;
    t.name = ours;
    t.file = st.string();
    t.dtype = e->dtype;
    t.shape = e->shape;
    t.data = file.tensor_data(*e);
    t.nbytes = size_t(e->end - e->begin);
    h.weights.add(std::move(t));
  }
  h.weights.keep_alive(file.release_mapping());

  // The target's embeddings and lm_head.
  IGNIS_CHECK(!target_dir.empty(), "eagle: the head uses the target's embeddings and lm_head, but no target folder was "
              "given to read them from");
  auto tw = std::make_shared<WeightStore>(WeightStore::load(target_dir, target, fmt, seed));
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
    if (std::string(name) == "lm_head.weight" && target.tie_word_embeddings) continue;
    IGNIS_CHECK(tw->has(name), "eagle: the target {} has no tensor {}", target_dir.string(), name);
    h.weights.add(tw->get(name));
  }
  h.weights.keep_alive(std::shared_ptr<const void>(tw));
  for (const auto& [name, shape] : expected)
    IGNIS_CHECK(h.weights.has(name), "eagle: {}: missing tensor {} (config.json says {} layers)", st.string(),
                name.substr(6), c.num_layers);
  h.weights.set_origin(dir.string());
  return h;
}

EagleProposer::EagleProposer(std::unique_ptr<Model> draft, int total_tokens, int depth, int topk)
    : draft_(std::move(draft)), total_tokens_(total_tokens), depth_(depth), topk_(topk) {
  IGNIS_CHECK(draft_ != nullptr, "eagle: no draft head");
  eagle_tree_size(total_tokens, depth, topk);
  top_params_.temperature = 0;
  top_params_.logprobs = topk;
  IGNIS_CHECK(draft_->config().fusion.enabled, "eagle: the draft is not a feature-fusion model (an EAGLE head)");
}

void EagleProposer::init(const ModelConfig& target, int num_blocks, int block_size) {
  const ModelConfig& d = draft_->config();
  IGNIS_CHECK(d.vocab_size == target.vocab_size && d.hidden_size == target.hidden_size,
              "eagle: the head is for hidden size {} and vocabulary {}, the target has {} and {}", d.hidden_size,
              d.vocab_size, target.hidden_size, target.vocab_size);
  IGNIS_CHECK(target.sliding_window == 0 && d.sliding_window == 0,
              "eagle: needs full-attention models (sliding window: target {}, head {})", target.sliding_window,
              d.sliding_window);
  IGNIS_CHECK(draft_->supports_tree(), "eagle: the {} backend cannot run the draft's token trees",
              draft_->backend_name());
  IGNIS_CHECK(draft_->set_hidden_state_sink(&sink_),
              "eagle: the {} backend cannot return the draft's hidden states (its predicted features)",
              draft_->backend_name());
  IGNIS_CHECK(num_blocks > 0 && block_size > 0, "eagle: bad KV pool geometry ({} blocks of {})", num_blocks,
              block_size);
  draft_->init_kv_cache(num_blocks, block_size);
  hidden_ = d.hidden_size;
  vocab_ = d.vocab_size;
  block_size_ = block_size;
  valid_gen_.assign(size_t(num_blocks), 0);
  seqs_.clear();
  store_ = FeatureStore(size_t(hidden_));
  warm_up(num_blocks);
}

// What the first propose calls would otherwise pay on the engine thread, paid at start: the
// feature pool's first pages faulted in, and one catch-up chunk and one token tree through the
// draft with its rows ranked (a device backend loads those kernels lazily on first use: on the
// H200 the first batch-16 probes cost about 150 ms more than the later ones). The passes write
// draft KV into the first blocks of the pool, which no block generation marks valid.
void EagleProposer::warm_up(int num_blocks) {
  store_.reserve(kWarmPages);
  const int max_pos = draft_->config().max_position_embeddings;
  const int room = std::min(num_blocks * block_size_, max_pos > 0 ? max_pos : INT32_MAX);
  const int chunk = std::min(64, room - 8), nodes = 5;
  if (chunk < 2) return;
  const size_t HS = size_t(hidden_);
  std::vector<int32_t> table(size_t(std::min(num_blocks, (chunk + nodes + block_size_ - 1) / block_size_)));
  for (size_t b = 0; b < table.size(); ++b) table[b] = int32_t(b);
  features_.resize(std::max<size_t>(features_.size(), 1));
  for (int pass = 0; pass < 2; ++pass) {
    batch_.tokens.clear();
    batch_.seqs.clear();
    BatchSeq bs;
    bs.num_cached = pass == 0 ? 0 : chunk;
    bs.num_tokens = pass == 0 ? chunk : nodes;
    bs.block_table = table;
    if (pass == 1) {
      bs.all_logits = true;
      bs.tree_parent = {-1, 0, 0, 1, 2};
    }
    batch_.tokens.assign(size_t(bs.num_tokens), 0);
    features_[0].assign(size_t(bs.num_tokens) * HS, 0.0f);
    bs.features = features_[0].data();
    batch_.seqs.push_back(std::move(bs));
    try {
      run_draft(std::vector<char>(size_t(batch_.num_logit_rows()), 1));
    } catch (const std::exception& e) {  // a warm-up only: the first real calls pay instead
      IGNIS_LOG(Warn, "eagle: warm-up pass through the draft failed: {}", e.what());
      break;
    }
  }
  batch_.tokens.clear();
  batch_.seqs.clear();
}

void EagleProposer::forget(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  store_.release(it->second.feats);
  seqs_.erase(it);
}

int EagleProposer::pending_catchup(uint64_t id, int num_tokens) const {
  auto it = seqs_.find(id);
  return std::max(0, num_tokens - 1 - (it == seqs_.end() ? 0 : it->second.computed));
}

int EagleProposer::draft_computed(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? -1 : it->second.computed;
}

std::pair<int, int> EagleProposer::features_held(uint64_t id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end() || it->second.feats.empty()) return {-1, -1};
  return {it->second.feats.base, it->second.feats.end()};
}

void EagleProposer::on_hidden_rows(uint64_t id, int first_pos, int count, std::span<const float> rows) {
  const size_t H = size_t(hidden_);
  IGNIS_CHECK(H > 0, "eagle: hidden states before init");
  IGNIS_CHECK(count >= 0 && first_pos >= 0 && rows.size() == size_t(count) * H,
              "eagle: {} hidden values for {} rows of {} at position {}", rows.size(), count, H, first_pos);
  if (count == 0) return;
  SeqState& s = seqs_[id];
  // Rows before what is held are already consumed; a gap after it holds zero features.
  store_.write(s.feats, first_pos, rows.data(), count);
  // A request that does not speculate for long (the policy's choice) holds at most the last
  // kMaxHeldRows states; older positions then run with a zero feature at the next catch-up.
  store_.keep_last(s.feats, kMaxHeldRows);
}

int EagleProposer::valid_prefix(std::span<const int32_t> table, int from_block, const KvCacheManager& kv) const {
  size_t n = size_t(std::max(from_block, 0));
  for (; n < table.size(); ++n) {
    const int32_t b = table[n];
    if (b < 0 || valid_gen_[size_t(b)] == 0 || valid_gen_[size_t(b)] != kv.block_generation(b)) break;
  }
  return int(n) * block_size_;
}

void EagleProposer::run_draft(const std::vector<char>& want) {
  // Called for the catch-up and every expansion pass, so it is on the step's critical path: the
  // backend ranks the rows (on a device: where the logits are; the host reference sampler
  // otherwise, which computes the same top-n and raw log-softmax).
  const size_t rows = size_t(batch_.num_logit_rows());
  IGNIS_CHECK(want.size() == rows, "eagle: {} ranking flags for {} draft rows", want.size(), rows);
  rows_.assign(rows, RowSampling{});
  for (size_t r = 0; r < rows; ++r)
    if (want[r]) rows_[r].params = &top_params_;
  draft_->forward_sample(batch_, rows_, samples_);
  IGNIS_CHECK(samples_.size() == rows && sink_.size() >= rows * size_t(hidden_),
              "eagle: the draft returned {} samples and {} hidden values for {} rows", samples_.size(), sink_.size(),
              rows);
  kids_.resize(rows);
  bad_row_.assign(rows, 0);
  for (size_t r = 0; r < rows; ++r) {
    kids_[r].clear();
    if (!want[r]) continue;
    const RowSample& o = samples_[r];
    if (!o.error.empty() || o.result.top.empty()) {
      bad_row_[r] = 1;
      continue;
    }
    for (const auto& [t, lp] : o.result.top) kids_[r].push_back({t, double(lp)});
  }
}

void EagleProposer::propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) {
  IGNIS_CHECK(block_size_ > 0, "eagle: propose before init");
  out.resize(seqs.size());
  for (auto& p : out) p.clear();
  last_rounds_ = 0;
  last_catchup_ = 0;
  const int B = block_size_, H = hidden_;
  const size_t HS = size_t(H);
  const int max_pos = draft_->config().max_position_embeddings;

  // 1. Catch-up: positions [computed, L - 1) of each ready sequence, one chunk each.
  std::vector<int> active;               // indices into seqs
  std::vector<std::vector<float>> root_feat;  // per active: f_{L-2}, the root's fc feature
  batch_.tokens.clear();
  batch_.seqs.clear();
  features_.resize(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SpecSeq& s = seqs[i];
    const int L = int(s.tokens.size());
    if (s.k <= 0 || L < 2 || s.num_computed != L - 1) continue;
    if (max_pos > 0 && L - 2 + depth_ >= max_pos) continue;  // the deepest pass's positions
    auto it = seqs_.find(s.id);
    if (it == seqs_.end()) continue;  // no hidden state yet
    SeqState& st = it->second;
    if (st.feats.empty()) continue;
    const int fb = st.feats.base, fe = st.feats.end();
    if (fe < L - 1 || fb > L - 2) continue;  // f_{L-2} (the root's feature) not here
    if (int64_t(s.block_table.size()) * B < L) continue;  // no slot for the first tree pass
    st.computed = std::min(st.computed, L - 2);
    st.computed = std::max(st.computed, std::min(valid_prefix(s.block_table, st.computed / B, kv), L - 2));
    const int start = st.computed;
    BatchSeq bs;
    bs.num_cached = start;
    bs.num_tokens = L - 1 - start;
    bs.block_table.assign(s.block_table.begin(), s.block_table.end());
    std::vector<float>& f = features_[active.size()];
    f.assign(size_t(bs.num_tokens) * HS, 0.0f);
    for (int p = std::max(start, fb); p < L - 1; ++p)
      std::copy_n(store_.row(st.feats, p), HS, f.begin() + long(size_t(p - start) * HS));
    if (start < fb) st.zero_until = std::max(st.zero_until, fb);
    root_feat.emplace_back(f.end() - long(HS), f.end());
    batch_.tokens.insert(batch_.tokens.end(), s.tokens.begin() + start + 1, s.tokens.end());
    batch_.seqs.push_back(std::move(bs));
    active.push_back(int(i));
  }
  if (active.empty()) return;
  for (size_t j = 0; j < active.size(); ++j) batch_.seqs[j].features = features_[j].data();
  last_catchup_ = int(batch_.tokens.size() - active.size());
  ++last_rounds_;
  run_draft(std::vector<char>(active.size(), 1));
  feat_pool_.clear();
  nodes_.assign(active.size(), {});
  std::vector<char> bad(active.size(), 0);
  std::vector<std::vector<int>> frontier(active.size());
  for (size_t j = 0; j < active.size(); ++j) {
    const SpecSeq& s = seqs[size_t(active[j])];
    SeqState& st = seqs_.at(s.id);
    const int L = int(s.tokens.size());
    st.computed = L - 1;  // positions [0, L - 1) now have draft KV from true (or zero) features
    // Keep only f_{L-2} on: earlier features are consumed.
    store_.drop_before(st.feats, L - 2);
    if (bad_row_[j]) {
      bad[j] = 1;
      continue;
    }
    const int root_out = int(feat_pool_.size() / HS);
    feat_pool_.insert(feat_pool_.end(), sink_.begin() + long(j * HS), sink_.begin() + long((j + 1) * HS));
    for (const auto& [tok, lp] : kids_[j]) {
      frontier[j].push_back(int(nodes_[j].size()));
      nodes_[j].push_back({tok, -1, 1, lp, root_out, -1});
    }
  }

  // 2. Expansion: each step runs every sequence's frontier (with its ancestors and the root) as
  // one token tree and adds the frontier's top-k children; the next frontier is the top-k of those.
  std::vector<std::vector<int>> pass_nodes(active.size());
  std::vector<int> in_pass;
  for (int step = 0; step < depth_; ++step) {
    batch_.tokens.clear();
    batch_.seqs.clear();
    std::vector<int> run;  // indices into active
    for (size_t j = 0; j < active.size(); ++j) {
      pass_nodes[j].clear();
      if (bad[j] || frontier[j].empty()) continue;
      const SpecSeq& s = seqs[size_t(active[j])];
      const int L = int(s.tokens.size());
      std::vector<Node>& nodes = nodes_[j];
      std::set<int> want;
      for (int f : frontier[j])
        for (int n = f; n >= 0; n = nodes[size_t(n)].parent) want.insert(n);
      // Slots L - 2 .. L - 2 + size of the pass must be in the target's block table.
      if (int64_t(L - 2) + int64_t(want.size()) + 1 > int64_t(s.block_table.size()) * B) continue;
      pass_nodes[j].assign(want.begin(), want.end());  // ascending: parents before children
      in_pass.assign(nodes.size(), -1);
      BatchSeq bs;
      bs.num_cached = L - 2;
      bs.num_tokens = 1 + int(want.size());
      bs.all_logits = true;
      bs.block_table.assign(s.block_table.begin(), s.block_table.end());
      bs.tree_parent.push_back(-1);
      batch_.tokens.push_back(s.tokens.back());
      std::vector<float>& f = features_[run.size()];
      f.assign(root_feat[j].begin(), root_feat[j].end());
      for (size_t q = 0; q < pass_nodes[j].size(); ++q) {
        const Node& nd = nodes[size_t(pass_nodes[j][q])];
        in_pass[size_t(pass_nodes[j][q])] = int(q) + 1;
        bs.tree_parent.push_back(nd.parent < 0 ? 0 : in_pass[size_t(nd.parent)]);
        batch_.tokens.push_back(nd.token);
        f.insert(f.end(), feat_pool_.begin() + long(size_t(nd.feat) * HS),
                 feat_pool_.begin() + long(size_t(nd.feat + 1) * HS));
      }
      batch_.seqs.push_back(std::move(bs));
      run.push_back(int(j));
    }
    if (run.empty()) break;
    for (size_t r = 0; r < run.size(); ++r) batch_.seqs[r].features = features_[r].data();
    // Only the frontier's rows are ranked (the root's and the ancestors' are rerun for their KV).
    // frontier_rows_[q][i]: the row of run[q]'s frontier node i in this pass (its place among the
    // pass's nodes, after the root).
    std::vector<char> want(size_t(batch_.num_logit_rows()), 0);
    frontier_rows_.resize(run.size());
    for (size_t q = 0, r0 = 0; q < run.size(); ++q) {
      const std::vector<int>& pn = pass_nodes[size_t(run[q])];
      frontier_rows_[q].clear();
      for (int f : frontier[size_t(run[q])]) {
        const size_t row = r0 + 1 + size_t(std::lower_bound(pn.begin(), pn.end(), f) - pn.begin());
        frontier_rows_[q].push_back(row);
        want[row] = 1;
      }
      r0 += 1 + pn.size();
    }
    ++last_rounds_;
    run_draft(want);
    for (size_t q = 0; q < run.size(); ++q) {
      const int j = run[q];
      std::vector<Node>& nodes = nodes_[size_t(j)];
      std::vector<int> children;
      for (size_t fi = 0; fi < frontier[size_t(j)].size(); ++fi) {
        const int f = frontier[size_t(j)][fi];
        const size_t row = frontier_rows_[q][fi];
        if (bad_row_[row]) {
          bad[size_t(j)] = 1;
          break;
        }
        const int out_row = int(feat_pool_.size() / HS);
        feat_pool_.insert(feat_pool_.end(), sink_.begin() + long(row * HS), sink_.begin() + long((row + 1) * HS));
        nodes[size_t(f)].out = out_row;
        const double base = nodes[size_t(f)].value;
        const int d = nodes[size_t(f)].depth + 1;
        for (const auto& [tok, lp] : kids_[row]) {
          children.push_back(int(nodes.size()));
          nodes.push_back({tok, f, d, base + lp, out_row, -1});
        }
      }
      // The next frontier: the top-k children by value (ties: the earlier node).
      std::stable_sort(children.begin(), children.end(),
                       [&](int a, int b) { return nodes[size_t(a)].value > nodes[size_t(b)].value; });
      if (int(children.size()) > topk_) children.resize(size_t(topk_));
      std::sort(children.begin(), children.end());
      frontier[size_t(j)] = bad[size_t(j)] ? std::vector<int>{} : children;
    }
  }

  // 3. Rerank: the best nodes by value (ties: the earlier), in creation order (parents first).
  for (size_t j = 0; j < active.size(); ++j) {
    if (bad[j]) continue;
    const SpecSeq& s = seqs[size_t(active[j])];
    const std::vector<Node>& nodes = nodes_[j];
    std::vector<int> order(nodes.size());
    for (size_t n = 0; n < nodes.size(); ++n) order[n] = int(n);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return nodes[size_t(a)].value > nodes[size_t(b)].value; });
    const size_t keep = std::min({order.size(), size_t(total_tokens_ - 1), size_t(s.k)});
    order.resize(keep);
    std::sort(order.begin(), order.end());
    std::vector<int> index(nodes.size(), -1);
    Proposal& p = out[size_t(active[j])];
    for (int n : order) {
      const Node& nd = nodes[size_t(n)];
      const int par = nd.parent < 0 ? -1 : index[size_t(nd.parent)];
      if (nd.parent >= 0 && par < 0) continue;  // its parent was not kept (cannot happen: values never grow)
      index[size_t(n)] = int(p.tokens.size());
      p.tokens.push_back(nd.token);
      p.parents.push_back(par);
    }
  }
}

void EagleProposer::on_verified(uint64_t id, int num_computed, const KvCacheManager& kv) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  SeqState& st = it->second;
  st.computed = std::min(st.computed, num_computed);
  const auto& table = kv.block_table(id);
  const int full = std::min(st.computed / block_size_, int(table.size()));
  // Blocks whose every position the draft ran with a true feature are valid for their content.
  for (int b = st.marked; b < full; ++b)
    if (table[size_t(b)] >= 0 && b * block_size_ >= st.zero_until)
      valid_gen_[size_t(table[size_t(b)])] = kv.block_generation(table[size_t(b)]);
  st.marked = std::max(st.marked, full);
}

std::unique_ptr<Proposer> make_eagle_proposer(std::unique_ptr<Model> draft, const SpecConfig& cfg) {
  return std::make_unique<EagleProposer>(std::move(draft), cfg.eagle_total_tokens, cfg.eagle_depth, cfg.eagle_topk);
}

}  // namespace ignis
