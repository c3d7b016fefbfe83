#include "sched/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace ignis {

const char* request_state_name(RequestState s) {
  switch (s) {
    case RequestState::Waiting: return "waiting";
    case RequestState::Prefilling: return "prefilling";
    case RequestState::Decoding: return "decoding";
    case RequestState::Preempted: return "preempted";
    case RequestState::Finished: return "finished";
  }
  return "?";
}

Scheduler::Scheduler(SchedulerConfig cfg, KvCacheManager& kv) : cfg_(cfg), kv_(kv) {
  IGNIS_CHECK(cfg.max_batch_size >= 1, "scheduler: max_batch_size must be >= 1 (got {})", cfg.max_batch_size);
  IGNIS_CHECK(cfg.max_num_tokens >= 1, "scheduler: max_num_tokens must be >= 1 (got {})", cfg.max_num_tokens);
  IGNIS_CHECK(cfg.max_model_len >= 1, "scheduler: max_model_len must be >= 1 (got {})", cfg.max_model_len);
  running_.reserve(size_t(cfg.max_batch_size));
}

void Scheduler::check_fits(int num_prompt, int max_tokens) const {
  IGNIS_CHECK(num_prompt >= 1, "request: the prompt is empty");
  IGNIS_CHECK(max_tokens >= 1, "request: max_tokens must be >= 1 (got {})", max_tokens);
  const int64_t total = int64_t(num_prompt) + max_tokens;
  IGNIS_CHECK(total <= cfg_.max_model_len,
              "request: prompt ({} tokens) + max_tokens ({}) = {} exceeds the maximum model length {}", num_prompt,
              max_tokens, total, cfg_.max_model_len);
  // KV is written for every token but the last generated one.
  const int B = kv_.block_size();
  int64_t blocks = (total - 1 + B - 1) / B;
  if (int w = kv_.config().sliding_window; w > 0)  // at most the window plus one step's chunk
    blocks = std::min<int64_t>(blocks, (int64_t(w) + cfg_.max_num_tokens + B - 1) / B + 2);
  IGNIS_CHECK(blocks <= kv_.num_blocks(),
              "request: prompt ({} tokens) + max_tokens ({}) needs {} KV blocks of {} tokens but the KV pool has only "
              "{}",
              num_prompt, max_tokens, blocks, B, kv_.num_blocks());
}

SchedRequest* Scheduler::add(uint64_t id, std::vector<int32_t> prompt, int max_tokens, int priority,
                             uint64_t extra_key) {
  check_fits(int(prompt.size()), max_tokens);
  IGNIS_CHECK(!all_.count(id), "scheduler: request id {} added twice", id);
  auto r = std::make_unique<SchedRequest>();
  r->id = id;
  r->priority = priority;
  r->arrival = next_arrival_++;
  r->extra_key = extra_key;
  r->num_prompt = int(prompt.size());
  r->max_total = r->num_prompt + max_tokens;
  r->tokens = std::move(prompt);
  r->tokens.reserve(size_t(r->max_total));
  SchedRequest* p = r.get();
  all_.emplace(id, std::move(r));
  enqueue(p);
  return p;
}

SchedRequest* Scheduler::find(uint64_t id) {
  auto it = all_.find(id);
  return it == all_.end() ? nullptr : it->second.get();
}

void Scheduler::enqueue(SchedRequest* r) { waiting_.emplace(WaitKey{-r->priority, r->arrival}, r); }

BatchPlan Scheduler::plan_batch() const {
  BatchPlan plan;
  int budget = cfg_.max_num_tokens;
  // Decode tokens first (latency of running requests), then prefill chunks.
  thread_local std::vector<int> n;
  n.assign(running_.size(), 0);
  thread_local std::vector<int> d;  // proposal slots of speculative decodes
  d.assign(running_.size(), 0);
  for (size_t i = 0; i < running_.size() && budget > 0; ++i)
    if (running_[i]->remaining() == 1) n[i] = 1, --budget;
  // Then the proposals of speculative decodes (never beyond the request's last KV position).
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    const SchedRequest* r = running_[i];
    if (n[i] != 1 || r->spec_k <= 0 || r->state != RequestState::Decoding) continue;
    d[i] = std::min({r->spec_k, budget, r->max_total - int(r->tokens.size()) - 1});
    d[i] = std::max(d[i], 0);
    n[i] += d[i];
    budget -= d[i];
  }
  for (size_t i = 0; i < running_.size() && budget > 0; ++i)
    if (int rem = running_[i]->remaining(); rem > 1) {
      n[i] = std::min(rem, budget);
      budget -= n[i];
    }
  plan.running.reserve(running_.size());
  for (size_t i = 0; i < running_.size(); ++i)
    if (n[i] > 0) plan.running.push_back({running_[i], n[i], d[i]});

  int slots = cfg_.max_batch_size - int(running_.size());
  for (auto& [key, r] : waiting_) {
    if (slots <= 0 || budget <= 0) break;
    PrefixMatch m = kv_.match_prefix(r->tokens, r->extra_key);
    int k = std::min(int(r->tokens.size()) - m.num_tokens, budget);
    plan.admit.push_back({r, k});
    budget -= k;
    --slots;
  }
  return plan;
}

void Scheduler::preempt(SchedRequest* r) {
  auto it = std::find(running_.begin(), running_.end(), r);
  IGNIS_CHECK(it != running_.end(), "scheduler: preempt of request {} that is not running", r->id);
  running_.erase(it);
  kv_.free(r->id);
  r->num_computed = 0;
  r->spec_k = 0;
  r->draft_tokens.clear();
  r->draft_parents.clear();
  r->state = RequestState::Preempted;
  ++r->num_preemptions;
  ++preemptions_;
  enqueue(r);
}

StepPlan Scheduler::fit_capacity(const BatchPlan& plan) {
  StepPlan out;
  out.seqs.reserve(plan.running.size() + plan.admit.size());
  // Running sequences, oldest first: each takes the blocks for its chunk, preempting the
  // newest running sequences if needed. The oldest can always proceed (check_fits).
  for (const auto& e : plan.running) {
    SchedRequest* r = e.req;
    if (r->state == RequestState::Preempted) continue;  // victim of an older one
    const int total = r->num_computed + e.num_tokens - e.num_draft;
    // Proposals are trimmed to the room left before anyone is preempted for them.
    int draft = e.num_draft;
    while (draft > 0 && !kv_.append_slots(r->id, total + draft)) --draft;
    bool ok = true;
    while (draft == 0 && !kv_.append_slots(r->id, total)) {
      SchedRequest* victim = running_.back();
      if (running_.size() == 1) {  // cannot happen for requests that passed check_fits
        IGNIS_FAIL("scheduler: request {} does not fit the KV pool even alone ({} blocks)", r->id, kv_.num_blocks());
      }
      out.preempted.push_back(victim->id);
      preempt(victim);
      if (victim == r) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    out.seqs.push_back({r, r->num_computed, total + draft - r->num_computed, r->state == RequestState::Prefilling,
                        draft});
  }
  // Waiting ones in queue order; stop at the first that does not fit.
  const int B = kv_.block_size();
  // (Not with a sliding window: blocks leave the window as a sequence grows, so its need does not
  // grow with its length.)
  const int R = kv_.config().sliding_window > 0 ? 0 : cfg_.kv_reserve_tokens;
  // KV is written for every token but the last generated one (as check_fits counts).
  auto reserve_target = [R](const SchedRequest* q) {
    return std::min(q->max_total - 1, int(q->tokens.size()) + R);
  };
  int reserved = 0;  // blocks the running requests' next R tokens will take
  if (R > 0 && !plan.admit.empty())
    for (const SchedRequest* q : running_) reserved += kv_.blocks_needed(q->id, reserve_target(q));
  for (const auto& e : plan.admit) {
    if (int(running_.size()) >= cfg_.max_batch_size) break;
    SchedRequest* r = e.req;
    PrefixMatch m = kv_.match_prefix(r->tokens, r->extra_key);
    const int n = std::min(e.num_tokens, int(r->tokens.size()) - m.num_tokens);
    const int need = (m.num_tokens + n + B - 1) / B - m.num_blocks + m.num_evictable;
    if (need > kv_.num_allocatable()) break;
    if (R > 0) {  // blocks it takes later to reach its own reserve target
      const int later = std::max(0, (reserve_target(r) + B - 1) / B - (m.num_tokens + n + B - 1) / B);
      // With nothing running it is admitted as without a reserve: whatever passed check_fits runs.
      if (!running_.empty() && need + later + reserved > kv_.num_allocatable()) break;
      reserved += later;
    }
    const int cached = kv_.allocate(r->id, r->tokens, r->extra_key);
    IGNIS_CHECK(cached == m.num_tokens && kv_.append_slots(r->id, cached + n),
                "scheduler: internal error admitting request {}", r->id);
    waiting_.erase(WaitKey{-r->priority, r->arrival});
    if (r->num_cached_prompt < 0) r->num_cached_prompt = std::min(cached, r->num_prompt);
    r->num_computed = cached;
    r->state = RequestState::Prefilling;
    r->admit_order = next_admit_++;
    running_.push_back(r);
    out.seqs.push_back({r, cached, n, true});
  }
  // Decode tokens first, then prefill chunks (stable; no allocation in the common case).
  size_t first_prefill = 0;
  while (first_prefill < out.seqs.size() && !out.seqs[first_prefill].prefill) ++first_prefill;
  for (size_t i = first_prefill; i < out.seqs.size(); ++i)
    if (!out.seqs[i].prefill) {
      std::rotate(out.seqs.begin() + long(first_prefill), out.seqs.begin() + long(i), out.seqs.begin() + long(i) + 1);
      ++first_prefill;
    }
  for (auto& s : out.seqs) out.num_tokens += s.num_tokens;
  return out;
}

StepPlan Scheduler::step() { return fit_capacity(plan_batch()); }

void Scheduler::set_drafts(StepPlan& plan) {
  plan.num_tokens = 0;
  for (auto& s : plan.seqs) {
    SchedRequest* r = s.req;
    const int made = int(r->draft_tokens.size());
    IGNIS_CHECK(made <= s.num_draft, "scheduler: request {} got {} proposals for {} slots", r->id, made, s.num_draft);
    IGNIS_CHECK(r->draft_parents.empty() || r->draft_parents.size() == r->draft_tokens.size(),
                "scheduler: request {} has {} tree parents for {} proposals", r->id, r->draft_parents.size(), made);
    if (made < s.num_draft) {
      s.num_tokens -= s.num_draft - made;
      s.num_draft = made;
      kv_.truncate(r->id, s.num_cached + s.num_tokens);
    }
    plan.num_tokens += s.num_tokens;
  }
}

void Scheduler::commit_drafts(const ScheduledSeq& s, int num_accepted) {
  SchedRequest* r = s.req;
  IGNIS_CHECK(s.num_draft > 0 && int(r->draft_tokens.size()) == s.num_draft && num_accepted >= 0 &&
                  num_accepted <= s.num_draft && r->num_computed == s.num_cached &&
                  s.num_cached + 1 == int(r->tokens.size()),
              "scheduler: commit of {} accepted proposals of {} for request {} in the wrong state", num_accepted,
              s.num_draft, r->id);
  r->tokens.insert(r->tokens.end(), r->draft_tokens.begin(), r->draft_tokens.begin() + num_accepted);
  r->draft_tokens.clear();
  r->draft_parents.clear();
  r->num_computed = int(r->tokens.size());  // the last token and the accepted proposals
  kv_.truncate(r->id, r->num_computed);
  kv_.commit(r->id, r->tokens, r->num_computed);
}

void Scheduler::on_step_done(const StepPlan& plan) {
  for (const auto& s : plan.seqs) {
    if (s.num_draft > 0) continue;  // commit_drafts, once acceptance is known
    SchedRequest* r = s.req;
    r->num_computed = s.num_cached + s.num_tokens;
    kv_.commit(r->id, r->tokens, r->num_computed);
  }
}

void Scheduler::append_token(SchedRequest* r, int32_t token) {
  IGNIS_CHECK(r->num_computed == int(r->tokens.size()),
              "scheduler: token appended to request {} before its last chunk ran", r->id);
  r->tokens.push_back(token);
  r->state = RequestState::Decoding;
}

void Scheduler::finish(uint64_t id) {
  auto it = all_.find(id);
  if (it == all_.end()) return;
  SchedRequest* r = it->second.get();
  if (auto rit = std::find(running_.begin(), running_.end(), r); rit != running_.end()) running_.erase(rit);
  if (r->state == RequestState::Waiting || r->state == RequestState::Preempted)
    waiting_.erase(WaitKey{-r->priority, r->arrival});
  if (kv_.contains(id)) kv_.free(id);
  r->state = RequestState::Finished;
  all_.erase(it);
}

}  // namespace ignis
