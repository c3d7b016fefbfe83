#include "spec/draft.h"

#include <algorithm>

#include "core/error.h"
#include "kv/kv_cache_manager.h"
#include "sampling/sampler.h"

namespace ignis {

DraftProposer::DraftProposer(std::unique_ptr<Model> draft) : draft_(std::move(draft)) {
  IGNIS_CHECK(draft_ != nullptr, "speculative decoding: the draft proposer has no draft model");
}

void DraftProposer::init(const ModelConfig& target, int num_blocks, int block_size) {
  const ModelConfig& d = draft_->config();
  IGNIS_CHECK(d.vocab_size == target.vocab_size,
              "--speculative-model: the draft model's vocabulary has {} tokens but the target's has {}; the draft must "
              "share the target's tokenizer",
              d.vocab_size, target.vocab_size);
  IGNIS_CHECK(target.sliding_window == 0 && d.sliding_window == 0,
              "--speculative-model: draft-target speculation needs full-attention models (sliding window: target {}, "
              "draft {}); use --speculative ngram",
              target.sliding_window, d.sliding_window);
  IGNIS_CHECK(num_blocks > 0 && block_size > 0, "draft proposer: bad KV pool geometry ({} blocks of {})", num_blocks,
              block_size);
  draft_->init_kv_cache(num_blocks, block_size);
  block_size_ = block_size;
  valid_gen_.assign(size_t(num_blocks), 0);
  claimed_.assign(size_t(num_blocks), 0);
  seqs_.clear();
}

int DraftProposer::draft_computed(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? -1 : it->second.computed;
}

int DraftProposer::valid_prefix(std::span<const int32_t> table, int from_block, const KvCacheManager& kv) const {
  size_t n = size_t(std::max(from_block, 0));
  for (; n < table.size(); ++n) {
    const int32_t b = table[n];
    if (b < 0 || valid_gen_[size_t(b)] == 0 || valid_gen_[size_t(b)] != kv.block_generation(b)) break;
  }
  return int(n) * block_size_;
}

void DraftProposer::propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) {
  IGNIS_CHECK(block_size_ > 0, "draft proposer: propose before init");
  out.resize(seqs.size());
  for (auto& p : out) p.clear();
  last_rounds_ = 0;
  last_catchup_ = 0;
  dists_used_ = 0;
  history_.resize(seqs.size());
  const int B = block_size_;
  const int max_pos = draft_->config().max_position_embeddings;

  // Round 0: each sequence catches up from its draft_computed through its last token.
  std::vector<int> active;
  std::vector<int32_t> claimed;  // block ids claimed by this call (reset at the end)
  batch_.tokens.clear();
  batch_.seqs.clear();
  int kmax = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SpecSeq& s = seqs[i];
    const int L = int(s.tokens.size());
    if (s.k <= 0 || L < 1 || s.num_computed != L - 1) continue;
    if (max_pos > 0 && L + s.k - 1 > max_pos) continue;  // beyond the draft's context
    SeqState& st = seqs_[s.id];  // a new one starts at 0
    // Positions it computed, then further blocks valid for their content (another sequence's
    // draft computed them: the prefix cache shares them), never beyond the target's.
    st.computed = std::min(st.computed, s.num_computed);
    st.computed = std::max(st.computed, std::min(valid_prefix(s.block_table, st.computed / B, kv), s.num_computed));
    const int start = st.computed;
    const int first_block = start / B, last_block = (L + s.k - 2) / B;  // blocks this call writes
    IGNIS_CHECK(last_block < int(s.block_table.size()),
                "draft proposer: sequence {} has {} KV blocks, {} needed for {} proposals", s.id,
                s.block_table.size(), last_block + 1, s.k);
    bool conflict = false;
    for (int b = first_block; b <= last_block && !conflict; ++b)
      conflict = s.block_table[size_t(b)] < 0 || claimed_[size_t(s.block_table[size_t(b)])];
    if (conflict) continue;  // another sequence of this call writes one of its blocks: next step
    for (int b = first_block; b <= last_block; ++b) {
      claimed_[size_t(s.block_table[size_t(b)])] = 1;
      claimed.push_back(s.block_table[size_t(b)]);
    }
    BatchSeq bs;
    bs.num_cached = start;
    bs.num_tokens = L - start;
    bs.block_table.assign(s.block_table.begin(), s.block_table.end());
    batch_.seqs.push_back(std::move(bs));
    batch_.tokens.insert(batch_.tokens.end(), s.tokens.begin() + start, s.tokens.end());
    history_[i].assign(s.tokens.begin() + s.num_prompt, s.tokens.end());
    active.push_back(int(i));
    kmax = std::max(kmax, s.k);
  }
  for (int32_t b : claimed) claimed_[size_t(b)] = 0;
  if (active.empty()) return;
  last_catchup_ = int(batch_.tokens.size() - active.size());

  run_round(seqs, active, 0, out);
  for (int i : active) seqs_[seqs[size_t(i)].id].computed = int(seqs[size_t(i)].tokens.size());
  // Rounds 1 .. k-1: the previous proposal at position L - 1 + r.
  for (int r = 1; r < kmax; ++r) {
    std::vector<int> next;
    batch_.tokens.clear();
    batch_.seqs.clear();
    for (int i : active) {
      const SpecSeq& s = seqs[size_t(i)];
      if (s.k <= r || int(out[size_t(i)].tokens.size()) != r) continue;  // done, or its last row failed
      const int L = int(s.tokens.size());
      BatchSeq bs;
      bs.num_cached = L - 1 + r;
      bs.num_tokens = 1;
      bs.block_table.assign(s.block_table.begin(), s.block_table.end());
      batch_.seqs.push_back(std::move(bs));
      batch_.tokens.push_back(out[size_t(i)].tokens.back());
      next.push_back(i);
    }
    if (next.empty()) break;
    run_round(seqs, next, r, out);
    for (int i : next) seqs_[seqs[size_t(i)].id].computed = int(seqs[size_t(i)].tokens.size()) + r;
    active.swap(next);
  }
}

void DraftProposer::run_round(std::span<const SpecSeq> seqs, const std::vector<int>& active, int round,
                              std::vector<Proposal>& out) {
  ++last_rounds_;
  const int V = draft_->config().vocab_size;
  rows_.assign(active.size(), RowSampling{});
  bool any_sampled = false;
  for (size_t j = 0; j < active.size(); ++j) {
    const SpecSeq& s = seqs[size_t(active[j])];
    const auto& hist = history_[size_t(active[j])];
    RowSampling& r = rows_[j];
    r.params = s.params;
    r.prompt_ids = s.tokens.data();
    r.n_prompt = size_t(s.num_prompt);
    r.output_ids = hist.data();
    r.n_output = hist.size();
    const bool sampled = s.params && !s.params->greedy();
    r.u = sampled && s.u ? s.u[round] : 0.0;
    any_sampled |= sampled;
  }
  auto take = [&](size_t j, int32_t tok, float q, const float* dist) {
    Proposal& p = out[size_t(active[j])];
    p.tokens.push_back(tok);
    if (dist) {
      p.probs.push_back(q);
      p.dists.push_back(dist);
    }
    history_[size_t(active[j])].push_back(tok);
  };
  if (!any_sampled) {  // greedy proposals: the backend's own sampler (argmax on a device)
    draft_->forward_sample(batch_, rows_, samples_);
    for (size_t j = 0; j < active.size(); ++j)
      if (samples_[j].error.empty()) take(j, samples_[j].result.token, 1.0f, nullptr);
    return;
  }
  draft_->forward(batch_, logits_);
  IGNIS_CHECK(logits_.size() >= active.size() * size_t(V), "draft proposer: the draft returned {} logits for {} rows",
              logits_.size(), active.size());
  for (size_t j = 0; j < active.size(); ++j) {
    const SpecSeq& s = seqs[size_t(active[j])];
    const RowSampling& r = rows_[j];
    float* lg = logits_.data() + j * size_t(V);
    try {
      if (!s.params || s.params->greedy()) {
        take(j, sample_token_u(lg, V, r.sampling(), 0.0, r.prompt_ids, r.n_prompt, r.output_ids, r.n_output).token,
             1.0f, nullptr);
        continue;
      }
      // q: the request's processed distribution over the draft's (penalized) logits.
      apply_penalties(lg, V, *s.params, r.prompt_ids, r.n_prompt, r.output_ids, r.n_output);
      if (dists_used_ == dists_.size()) dists_.emplace_back();
      std::vector<float>& q = dists_[dists_used_++];  // its buffer survives growth of dists_ (moved, not copied)
      q.resize(size_t(V));
      dense_distribution(lg, V, *s.params, q.data());
      double total = 0;
      for (float x : q) total += x;
      const double target = r.u * total;
      double cum = 0;
      int32_t tok = -1;
      for (int t = 0; t < V; ++t) {
        if (q[size_t(t)] <= 0) continue;
        tok = t;
        cum += q[size_t(t)];
        if (target < cum) break;
      }
      if (tok >= 0) take(j, tok, q[size_t(tok)], q.data());
    } catch (const Error&) {
      // This row of the draft is unusable (e.g. every token masked): no more proposals for it.
    }
  }
}

void DraftProposer::on_verified(uint64_t id, int num_computed, const KvCacheManager& kv) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  SeqState& st = it->second;
  st.computed = std::min(st.computed, num_computed);
  const auto& table = kv.block_table(id);
  const int full = std::min(st.computed / block_size_, int(table.size()));
  for (int b = st.marked; b < full; ++b)
    if (table[size_t(b)] >= 0) valid_gen_[size_t(table[size_t(b)])] = kv.block_generation(table[size_t(b)]);
  st.marked = std::max(st.marked, full);
}

}  // namespace ignis
