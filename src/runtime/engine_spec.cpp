// ignis runtime: speculative decoding's parts of an engine step (docs/ARCHITECTURE.md,
// "Speculative decoding"): the policy's proposal counts before planning, the proposer after the
// capacity pass, the verification rows, and acceptance + rollback after the forward.
#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "runtime/engine_impl.h"

namespace ignis {

void Engine::Impl::init_speculation(std::unique_ptr<Proposer> p, int num_blocks, int block_size) {
  const SpecConfig& sc = cfg.spec;
  if (!p && sc.method == SpecMethod::Ngram) p = make_proposer(sc);
  IGNIS_CHECK(p || sc.method != SpecMethod::Draft,
              "engine: --speculative draft needs the draft model's proposer (spec::make_proposer)");
  if (!p) return;
  IGNIS_CHECK(sc.num_speculative_tokens >= 1 && sc.num_speculative_tokens <= 64,
              "--num-speculative-tokens must be in [1, 64] (got {})", sc.num_speculative_tokens);
  p->init(model->config(), num_blocks, block_size);
  proposer = std::move(p);
  policy = std::make_unique<SpecPolicy>(sc.num_speculative_tokens, sc.policy);
  clock = sc.clock;
  if (!clock)
    clock = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
}

void Engine::Impl::choose_speculation() {
  spec_cands.clear();
  spec_cand_reqs.clear();
  int base = 0;  // the step's tokens without proposals (running requests; admissions unknown yet)
  const int K = cfg.spec.num_speculative_tokens;
  for (SchedRequest* r : sched->running()) {
    r->spec_k = 0;
    base += std::max(1, r->remaining());
    if (r->state != RequestState::Decoding || r->remaining() != 1) continue;
    const Active& a = *active.at(r->id);
    if (!a.req.speculative) continue;
    // Never more than max_tokens allows: k proposals make up to k + 1 tokens.
    const int cap = std::min(K, a.req.sampling.max_tokens - int(a.output.size()) - 1);
    if (cap <= 0) continue;
    spec_cands.push_back({r->id, cap});
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
    if (s.num_draft <= 0) continue;
    Active& a = *active.at(r->id);
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
  policy->observe_proposer(proposer->last_rounds(), wanted, now() - t0);
  for (size_t i = 0; i < spec_seqs.size(); ++i) {
    ScheduledSeq& s = *spec_plan_seqs[i];
    Proposal& p = proposals[i];
    const size_t n = std::min(p.tokens.size(), size_t(s.num_draft));
    bool ok = true;
    for (size_t j = 0; j < n; ++j) ok &= p.tokens[j] >= 0 && p.tokens[j] < vocab;
    const bool with_q = !p.dists.empty();
    ok &= !with_q || (p.dists.size() >= n && p.probs.size() >= n);
    if (!ok) continue;  // a broken proposal is dropped (the step runs as a plain decode)
    s.req->draft_tokens.assign(p.tokens.begin(), p.tokens.begin() + long(n));
    if (with_q) {
      Active& a = *active.at(s.req->id);
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

void Engine::Impl::verify_seq(const ScheduledSeq& s, Active& a, int row) {
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
  proposer->on_verified(r->id, r->num_computed, *kv);
  policy->observe_acceptance(r->id, k, j);
  {
    std::lock_guard lk(stats_mu);
    stats.spec_sequences++;
    stats.spec_proposed_tokens += k;
    stats.spec_accepted_tokens += j;
  }
  on_tokens(a, r, &samples[size_t(row)], j + 1, j);
}

}  // namespace ignis
