// ignis runtime: speculative decoding's parts of an engine step (docs/ARCHITECTURE.md,
// "Speculative decoding"): the policy's proposal counts before planning, the proposer after the
// capacity pass, the verification rows, and acceptance + rollback after the forward.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/log.h"
#include "runtime/engine_impl.h"
#include "spec/medusa.h"

namespace ignis {

void Engine::Impl::init_speculation(std::unique_ptr<Proposer> p, int num_blocks, int block_size) {
  const SpecConfig& sc = cfg.spec;
  if (!p && (sc.method == SpecMethod::Ngram || sc.method == SpecMethod::Lookahead)) p = make_proposer(sc);
  IGNIS_CHECK(p || sc.method != SpecMethod::Draft,
              "engine: --speculative draft needs the draft model's proposer (spec::make_proposer)");
  IGNIS_CHECK(p || sc.method != SpecMethod::Medusa,
              "engine: --speculative medusa needs the heads' proposer (spec::make_medusa_proposer)");
  IGNIS_CHECK(p || sc.method != SpecMethod::Eagle,
              "engine: --speculative eagle needs the head's proposer (spec::make_eagle_proposer)");
  if (!p) return;
  if (sc.method != SpecMethod::Lookahead && sc.method != SpecMethod::Medusa && sc.method != SpecMethod::Eagle)
    IGNIS_CHECK(sc.num_speculative_tokens >= 1 && sc.num_speculative_tokens <= 64,
                "--num-speculative-tokens must be in [1, 64] (got {})", sc.num_speculative_tokens);
  IGNIS_CHECK(!sc.typical_acceptance || p->proposes_trees(),
              "--typical-acceptance needs a tree proposer (--speculative medusa, eagle or lookahead), not {}", p->name());
  IGNIS_CHECK(sc.posterior_threshold >= 0 && sc.posterior_threshold <= 1 && sc.posterior_alpha >= 0 &&
                  std::isfinite(sc.posterior_alpha),
              "--posterior-threshold must be in [0, 1] and --posterior-alpha >= 0 (got {} and {})",
              sc.posterior_threshold, sc.posterior_alpha);
  spec_max_k = spec_max_proposals(sc);
  IGNIS_CHECK(!p->proposes_trees() || model->supports_tree(),
              "--speculative {}: the {} backend cannot verify token trees for this model (CUDA: not with a "
              "sliding window, {} here); use the CPU backend or --speculative ngram|draft",
              p->name(), model->backend_name(), model->config().sliding_window);
  if (p->wants_hidden_states()) {
    IGNIS_CHECK(model->set_hidden_state_sink(&hidden_rows),
                "--speculative {}: the {} backend cannot return the target's hidden states "
                "(Model::set_hidden_state_sink); use the CPU or CUDA backend or --speculative ngram|draft|lookahead",
                p->name(), model->backend_name());
    spec_hidden = true;
    spec_all_rows = p->wants_all_hidden_rows();
  }
  p->init(model->config(), num_blocks, block_size);
  proposer = std::move(p);
  // A tree proposer's tree is one unit (lookahead: a smaller offer drops its Jacobi window): the
  // policy gives a request its whole tree or nothing.
  policy = std::make_unique<SpecPolicy>(spec_max_k, sc.policy,
                                        proposer->proposes_trees() ? SpecPolicy::Units::Trees : SpecPolicy::Units::Tokens);
  clock = sc.clock;
  if (!clock)
    clock = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
}

void Engine::Impl::choose_speculation() {
  spec_cands.clear();
  spec_cand_reqs.clear();
  int base = 0;  // the step's tokens without proposals (running requests; admissions unknown yet)
  const int K = spec_max_k;
  for (SchedRequest* r : sched->running()) {
    r->spec_k = 0;
    base += std::max(1, r->remaining());
    if (r->state != RequestState::Decoding || r->remaining() != 1) continue;
    const Active& a = *active.at(r->id);
    if (!a.req.speculative) continue;
    // Never more than max_tokens allows: k proposals make up to k + 1 tokens.
    const int cap = std::min(K, a.req.sampling.max_tokens - int(a.output.size()) - 1);
    if (cap <= 0) continue;
    spec_cands.push_back({r->id, cap, proposer->pending_catchup(r->id, int(r->tokens.size()))});
    spec_cand_reqs.push_back(r);
  }
  if (spec_cands.empty()) return;
  policy->choose(std::min(base, sched->config().max_num_tokens), spec_cands, spec_ks);
  for (size_t i = 0; i < spec_cands.size(); ++i) spec_cand_reqs[i]->spec_k = spec_ks[i];
}

bool Engine::Impl::propose(StepPlan& plan) {
  spec_seqs.clear();
  spec_plan_seqs.clear();
  int wanted = 0;
  for (ScheduledSeq& s : plan.seqs) {
    SchedRequest* r = s.req;
    r->draft_tokens.clear();
    r->draft_parents.clear();
    if (s.num_draft <= 0) continue;
    Active& a = *active.at(r->id);
    a.draft_observe = false;
    a.draft_probs.clear();
    a.draft_dists.clear();
    const bool sampled = !a.req.sampling.greedy();
    if (sampled) Active::peek(a.draft_rng, s.num_draft, a.u_draft);
    SpecSeq q;
    q.id = r->id;
    q.tokens = r->tokens;
    q.num_prompt = r->num_prompt;
    q.num_computed = r->num_computed;
    q.block_table = kv->block_table(r->id);
    q.k = s.num_draft;
    q.params = &a.req.sampling;
    q.u = sampled ? a.u_draft.data() : nullptr;
    q.lookahead = a.req.lookahead;
    spec_seqs.push_back(q);
    spec_plan_seqs.push_back(&s);
    wanted += s.num_draft;
  }
  if (spec_seqs.empty()) return false;
  const double t0 = now();
  try {
    proposer->propose(spec_seqs, *kv, proposals);
    IGNIS_CHECK(proposals.size() == spec_seqs.size(), "proposer {} returned {} proposals for {} sequences",
                proposer->name(), proposals.size(), spec_seqs.size());
  } catch (const std::exception& e) {
    // The proposer is an accelerator only: its failure costs this step's speculation, not requests.
    IGNIS_LOG(Error, "engine: speculative proposer {} failed: {}", proposer->name(), e.what());
    proposals.assign(spec_seqs.size(), Proposal{});
  }
  const double propose_s = now() - t0;
  spec_propose_s = propose_s;
  stats.spec_propose_ns += int64_t(propose_s * 1e9);
  policy->observe_proposer(proposer->last_rounds(), wanted, propose_s, proposer->last_catchup_tokens());
  for (size_t i = 0; i < spec_seqs.size(); ++i) {
    ScheduledSeq& s = *spec_plan_seqs[i];
    Proposal& p = proposals[i];
    const size_t n = std::min(p.tokens.size(), size_t(s.num_draft));
    bool ok = true;
    for (size_t j = 0; j < n; ++j) ok &= p.tokens[j] >= 0 && p.tokens[j] < vocab;
    const bool with_q = !p.dists.empty();
    ok &= !with_q || (p.dists.size() >= n && p.probs.size() >= n);
    const bool tree = !p.parents.empty();
    ok &= !tree || (p.parents.size() == p.tokens.size() && !with_q);  // trees are deterministic
    for (size_t j = 0; ok && tree && j < n; ++j) ok &= p.parents[j] >= -1 && p.parents[j] < int32_t(j);
    if (!ok) continue;  // a broken proposal is dropped (the step runs as a plain decode)
    Active& a = *active.at(s.req->id);
    bool chain = true;  // a tree that is a chain runs as one
    for (size_t j = 0; tree && j < n; ++j) chain &= p.parents[j] == int32_t(j) - 1;
    if (!chain && a.matcher) {
      // A constrained request's masks follow one path: it runs the tree's first root-to-leaf path
      // (first children) as a chain.
      std::vector<int32_t>& path = s.req->draft_tokens;
      for (int32_t cur = -1;;) {
        int32_t next = -1;
        for (size_t j = size_t(cur + 1); j < n && next < 0; ++j)
          if (p.parents[j] == cur) next = int32_t(j);
        if (next < 0) break;
        path.push_back(p.tokens[size_t(next)]);
        cur = next;
      }
      continue;
    }
    if (!chain) {  // a prefix of the nodes is a tree too (parents come first)
      s.req->draft_parents.assign(p.parents.begin(), p.parents.begin() + long(n));
      a.draft_observe = p.observe && n == p.tokens.size();  // rows for the whole proposal only
    }
    s.req->draft_tokens.assign(p.tokens.begin(), p.tokens.begin() + long(n));
    if (with_q) {
      a.draft_probs.assign(p.probs.begin(), p.probs.begin() + long(n));
      a.draft_dists.assign(p.dists.begin(), p.dists.begin() + long(n));
    }
  }
  sched->set_drafts(plan);
  for (const ScheduledSeq* s : spec_plan_seqs)
    if (s->num_draft > 0) return true;
  return false;
}

// Rows of a speculative sequence: row m judges proposal m with the target's distribution after
// the last token and proposals 0 .. m-1 (their ids count for penalties); row k is the bonus row.
void Engine::Impl::add_spec_rows(const ScheduledSeq& s, Active& a, std::vector<RowSampling>& rows) {
  if (!s.req->draft_parents.empty()) return add_tree_rows(s, a, rows);
  const SamplingParams& sp = a.req.sampling;
  const int k = s.num_draft;
  const auto& d = s.req->draft_tokens;
  const bool sampled = !sp.greedy();
  const bool with_q = !a.draft_dists.empty();
  if (sampled) {
    Active::peek(a.rng, k + 1, a.u_main);
    if (with_q) Active::peek(a.accept_rng, k, a.u_accept);
  }
  a.spec_hist.assign(a.output.begin(), a.output.end());
  a.spec_hist.insert(a.spec_hist.end(), d.begin(), d.end());
  if (a.matcher) {
    // Row m's mask assumes proposals 0 .. m-1 accepted: advance the matcher through them, filling
    // each row, then roll it back to the output. Past a proposal the constraint refuses (or past
    // its end), the rows copy the last mask: that proposal's row rejects it, so they are discarded.
    const size_t words = mask_words();
    a.masks.resize(size_t(k + 1) * words);
    fill_mask(a, 0);
    size_t advanced = 0;
    bool ok = true;
    for (int m = 1; m <= k; ++m) {
      ok = ok && a.matcher->accept(d[size_t(m - 1)]);
      if (ok) ++advanced;
      ok = ok && !a.matcher->finished();
      if (ok)
        fill_mask(a, size_t(m));
      else
        std::copy_n(a.masks.begin() + long(size_t(m - 1) * words), words, a.masks.begin() + long(size_t(m) * words));
    }
    a.matcher->rollback(advanced);
  }
  for (int m = 0; m <= k; ++m) {
    RowSampling& r = rows.emplace_back();
    r.params = &sp;
    r.u = sampled ? a.u_main[size_t(m)] : 0.0;
    r.prompt_ids = a.req.prompt_ids.data();
    r.n_prompt = a.req.prompt_ids.size();
    r.output_ids = a.spec_hist.data();
    r.n_output = a.output.size() + size_t(m);
    if (a.matcher) r.allowed_mask = a.masks.data() + size_t(m) * mask_words();
    if (m == k) continue;  // bonus row
    r.draft_token = d[size_t(m)];
    if (with_q) {
      r.draft_prob = a.draft_probs[size_t(m)];
      r.draft_dist = a.draft_dists[size_t(m)];
      r.u_accept = sampled ? a.u_accept[size_t(m)] : 0.0;
    }
  }
}

void Engine::Impl::verify_seq(const ScheduledSeq& s, Active& a, int row, int hrow) {
  if (!s.req->draft_parents.empty()) return verify_tree_seq(s, a, row, hrow);
  const int k = s.num_draft;
  SchedRequest* r = s.req;
  // Accept while accepted; the first rejected row gives the corrected token, else the bonus row.
  int j = 0;
  while (j < k && samples[size_t(row + j)].error.empty() && samples[size_t(row + j)].accepted) {
    IGNIS_CHECK(samples[size_t(row + j)].result.token == r->draft_tokens[size_t(j)],
                "engine: row {} accepted token {} but the proposal was {}", row + j,
                samples[size_t(row + j)].result.token, r->draft_tokens[size_t(j)]);
    ++j;
  }
  if (!samples[size_t(row + j)].error.empty()) {
    finish(a, FinishReason::Error, {}, "sampling failed: " + samples[size_t(row + j)].error);
    return;
  }
  sched->commit_drafts(s, j);
  if (spec_all_rows) pass_hidden_rows(r, hrow, s.num_cached, j + 1);  // the root's and the accepted rows
  proposer->on_verified(r->id, r->num_computed, *kv);
  pass_hidden(r, hrow + j, int(r->tokens.size()) + 1);
  policy->observe_acceptance(r->id, k, j);
  {
    std::lock_guard lk(stats_mu);
    stats.spec_sequences++;
    stats.spec_proposed_tokens += k;
    stats.spec_accepted_tokens += j;
  }
  on_tokens(a, r, &samples[size_t(row)], j + 1, j);
}

// Rows of a token tree (r->draft_parents): row 0 is the root's (the last token), row 1 + i node
// i's. Each row is sampled as a plain decode at its depth d (the token index output.size() + d:
// that token's uniform, and penalties over the output + the path to the node), so the path the
// tokens pick is exactly what sequential decoding would produce, greedy or sampled.
void Engine::Impl::add_tree_rows(const ScheduledSeq& s, Active& a, std::vector<RowSampling>& rows) {
  const SamplingParams& sp = a.req.sampling;
  const auto& d = s.req->draft_tokens;
  const auto& par = s.req->draft_parents;
  const int n = s.num_draft;
  a.tree_depth.assign(size_t(n) + 1, 0);
  int max_depth = 0;
  for (int i = 0; i < n; ++i) {
    a.tree_depth[size_t(i) + 1] = a.tree_depth[size_t(par[size_t(i)] + 1)] + 1;
    max_depth = std::max(max_depth, a.tree_depth[size_t(i) + 1]);
  }
  const bool sampled = !sp.greedy();
  if (sampled) Active::peek(a.rng, max_depth + 1, a.u_main);
  // Per row: the output, then the path's tokens (root excluded).
  const size_t out_n = a.output.size();
  a.spec_hist.clear();
  a.tree_hist_off.assign(size_t(n) + 1, 0);
  for (int r = 0; r <= n; ++r) {
    a.tree_hist_off[size_t(r)] = a.spec_hist.size();
    a.spec_hist.insert(a.spec_hist.end(), a.output.begin(), a.output.end());
    const size_t at = a.spec_hist.size();
    a.spec_hist.resize(at + size_t(a.tree_depth[size_t(r)]));
    for (int node = r - 1, k = a.tree_depth[size_t(r)]; node >= 0; node = par[size_t(node)])
      a.spec_hist[at + size_t(--k)] = d[size_t(node)];
  }
  for (int r = 0; r <= n; ++r) {
    RowSampling& row = rows.emplace_back();
    row.params = &sp;
    row.u = sampled ? a.u_main[size_t(a.tree_depth[size_t(r)])] : 0.0;
    row.prompt_ids = a.req.prompt_ids.data();
    row.n_prompt = a.req.prompt_ids.size();
    row.output_ids = a.spec_hist.data() + a.tree_hist_off[size_t(r)];
    row.n_output = out_n + size_t(a.tree_depth[size_t(r)]);
  }
  // Typical acceptance (opt-in, sampled requests without logprobs): every row also reports its
  // children's probabilities and its entropy.
  a.typical = cfg.spec.typical_acceptance && sampled && sp.logprobs < 0;
  if (!a.typical) return;
  a.typ_off.assign(size_t(n) + 2, 0);
  for (int i = 0; i < n; ++i) a.typ_off[size_t(par[size_t(i)] + 2)]++;
  for (int r = 0; r <= n; ++r) a.typ_off[size_t(r) + 1] += a.typ_off[size_t(r)];
  a.typ_tokens.resize(size_t(n));
  a.typ_pos.resize(size_t(n));
  std::vector<int> cursor(a.typ_off.begin(), a.typ_off.end() - 1);
  for (int i = 0; i < n; ++i) {
    const int pos = cursor[size_t(par[size_t(i)] + 1)]++;
    a.typ_tokens[size_t(pos)] = d[size_t(i)];
    a.typ_pos[size_t(i)] = pos;
  }
  a.typ_probs.assign(size_t(n), 0.0f);
  a.typ_entropy.assign(size_t(n) + 1, std::numeric_limits<float>::quiet_NaN());
  RowSampling* first = rows.data() + (rows.size() - size_t(n) - 1);
  for (int r = 0; r <= n; ++r) {
    RowSampling& row = first[r];
    row.typical_tokens = a.typ_tokens.data() + a.typ_off[size_t(r)];
    row.n_typical = a.typ_off[size_t(r) + 1] - a.typ_off[size_t(r)];
    row.typical_probs = a.typ_probs.data() + a.typ_off[size_t(r)];
    row.typical_entropy = a.typ_entropy.data() + r;
  }
}

// Tree acceptance: from the root, follow the child whose token is the target's token at the
// current row (the deepest such path where several children carry it: the same tokens either
// way); the accepted path's K/V moves to slots num_cached + 1 + depth (Model::compact_kv), its
// tokens to the front of draft_tokens, and commit_drafts keeps them and rolls the rest back; the
// path's last row gives the bonus token.
void Engine::Impl::verify_tree_seq(const ScheduledSeq& s, Active& a, int row, int hrow) {
  SchedRequest* r = s.req;
  const int n = s.num_draft;
  const auto& par = r->draft_parents;
  auto token_at = [&](int rr) {
    const RowSample& x = samples[size_t(row + rr)];
    return x.error.empty() ? x.result.token : -1;
  };
  // best[1 + i]: the longest accepted path below node i (index 0: the root); next: its first node.
  std::vector<int>& best = a.tree_best;
  std::vector<int>& next = a.tree_next;
  best.assign(size_t(n) + 1, 0);
  next.assign(size_t(n) + 1, -1);
  for (int i = n - 1; i >= 0; --i) {  // children come after their parents: one reverse sweep
    const size_t p = size_t(par[size_t(i)] + 1);
    if (r->draft_tokens[size_t(i)] != token_at(int(p))) continue;
    if (best[size_t(i) + 1] + 1 >= best[p]) {  // ties: the lower index (swept last)
      best[p] = best[size_t(i) + 1] + 1;
      next[p] = i;
    }
  }
  std::vector<int>& path = a.tree_path;
  path.clear();
  // Typical acceptance where the backend reported the rows' distributions; else exact.
  const bool typical = a.typical && std::none_of(a.typ_entropy.begin(), a.typ_entropy.end(),
                                                 [](float h) { return std::isnan(h); });
  if (a.typical && !typical && !typical_warned) {
    typical_warned = true;
    IGNIS_LOG(Warn, "engine: the {} backend does not report tree rows' distributions (RowSampling::typical_*): "
              "--typical-acceptance falls back to exact acceptance", model->backend_name());
  }
  if (typical) {
    a.typ_node_prob.resize(size_t(n));
    for (int i = 0; i < n; ++i) a.typ_node_prob[size_t(i)] = a.typ_probs[size_t(a.typ_pos[size_t(i)])];
    typical_accept_path(par, a.typ_node_prob, a.typ_entropy, cfg.spec.posterior_threshold, cfg.spec.posterior_alpha,
                        path);
  } else {
    for (int cur = next[0]; cur >= 0; cur = next[size_t(cur) + 1]) path.push_back(cur);
  }
  const int m = int(path.size());
  const int last_row = m == 0 ? 0 : path.back() + 1;
  if (!samples[size_t(row + last_row)].error.empty()) {
    finish(a, FinishReason::Error, {}, "sampling failed: " + samples[size_t(row + last_row)].error);
    return;
  }
  if (a.draft_observe) {
    a.tree_row_tokens.resize(size_t(n) + 1);
    for (int rr = 0; rr <= n; ++rr) a.tree_row_tokens[size_t(rr)] = token_at(rr);
    try {
      proposer->on_rows(r->id, a.tree_row_tokens);
    } catch (const std::exception& e) {  // an accelerator only: its failure costs no request
      IGNIS_LOG(Error, "engine: speculative proposer {} failed on the rows of request {}: {}", proposer->name(), r->id,
                e.what());
    }
  }
  // K/V of the path's nodes: slot num_cached + 1 + node -> num_cached + 1 + depth (dst <= src,
  // ascending, so no copy overwrites a later source).
  a.tree_src.clear();
  a.tree_dst.clear();
  for (int dd = 0; dd < m; ++dd)
    if (path[size_t(dd)] != dd) {
      a.tree_src.push_back(s.num_cached + 1 + path[size_t(dd)]);
      a.tree_dst.push_back(s.num_cached + 1 + dd);
    }
  if (!a.tree_src.empty()) {
    const auto& table = kv->block_table(r->id);
    a.tree_table.assign(table.begin(), table.end());
    model->compact_kv(a.tree_table, a.tree_src, a.tree_dst);
  }
  a.tree_samples.clear();
  a.tree_samples.push_back(std::move(samples[size_t(row)]));
  for (int dd = 0; dd < m; ++dd) {
    r->draft_tokens[size_t(dd)] = r->draft_tokens[size_t(path[size_t(dd)])];
    a.tree_samples.push_back(std::move(samples[size_t(row + 1 + path[size_t(dd)])]));
  }
  // Exact acceptance: each accepted node is its parent row's sample already. Typical: the node's
  // token replaces the row's sample (no logprobs are asked); the last row's sample is the bonus.
  if (typical)
    for (int dd = 0; dd < m; ++dd) a.tree_samples[size_t(dd)].result.token = r->draft_tokens[size_t(dd)];
  const int max_depth = *std::max_element(a.tree_depth.begin(), a.tree_depth.end());
  sched->commit_drafts(s, m);
  if (spec_all_rows) {  // the root's and the accepted path's rows, in path order
    const size_t H = size_t(model->config().hidden_size);
    if (hidden_rows.size() == hidden_count * H) {
      hidden_gather.resize(size_t(m + 1) * H);
      for (int dd = 0; dd <= m; ++dd) {
        const size_t src = size_t(hrow + (dd == 0 ? 0 : 1 + path[size_t(dd - 1)]));
        std::copy_n(hidden_rows.begin() + long(src * H), H, hidden_gather.begin() + long(size_t(dd) * H));
      }
      try {
        proposer->on_hidden_rows(r->id, s.num_cached, m + 1, hidden_gather);
      } catch (const std::exception& e) {  // an accelerator only: its failure costs no request
        IGNIS_LOG(Error, "engine: speculative proposer {} failed on the hidden states of request {}: {}",
                  proposer->name(), r->id, e.what());
      }
    }
  }
  proposer->on_verified(r->id, r->num_computed, *kv);
  pass_hidden(r, hrow + last_row, int(r->tokens.size()) + 1);
  policy->observe_tree(r->id, n, max_depth, m);
  {
    std::lock_guard lk(stats_mu);
    stats.spec_sequences++;
    stats.spec_proposed_tokens += n;
    stats.spec_accepted_tokens += m;
  }
  on_tokens(a, r, a.tree_samples.data(), m + 1, m);
}

void Engine::Impl::pass_hidden(const SchedRequest* r, int row, int num_tokens) {
  if (!spec_hidden) return;
  const size_t H = size_t(model->config().hidden_size);
  // A backend that took the sink but wrote no rows this pass gives no state: no proposal follows.
  if (hidden_rows.size() != hidden_count * H || row < 0 || size_t(row) >= hidden_count) return;
  try {
    proposer->on_hidden(r->id, num_tokens, std::span<const float>(hidden_rows.data() + size_t(row) * H, H));
  } catch (const std::exception& e) {  // an accelerator only: its failure costs no request
    IGNIS_LOG(Error, "engine: speculative proposer {} failed on the hidden state of request {}: {}", proposer->name(),
              r->id, e.what());
  }
}

bool Engine::Impl::wants_all_rows(const Active& a) const { return a.req.speculative && spec_all_rows; }

void Engine::Impl::pass_hidden_rows(const SchedRequest* r, int row, int first_pos, int count) {
  const size_t H = size_t(model->config().hidden_size);
  // A backend that took the sink but wrote no rows this pass gives no states: the proposer waits.
  if (count <= 0 || hidden_rows.size() != hidden_count * H || row < 0 || size_t(row) + size_t(count) > hidden_count)
    return;
  try {
    proposer->on_hidden_rows(r->id, first_pos, count,
                             std::span<const float>(hidden_rows.data() + size_t(row) * H, size_t(count) * H));
  } catch (const std::exception& e) {  // an accelerator only: its failure costs no request
    IGNIS_LOG(Error, "engine: speculative proposer {} failed on the hidden states of request {}: {}", proposer->name(),
              r->id, e.what());
  }
}

}  // namespace ignis
