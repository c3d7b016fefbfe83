// ignis bench: in-process runs on the Engine. Timings come from the engine's own RequestTimings
// (arrival at submit, first token, each token, finish), so a slow consumer does not skew them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "bench/lib/progress.h"
#include "bench/lib/runners.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "structured/constraint.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

namespace ignis::bench {

namespace {
double secs(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

GenerateRequest make_request(const WorkItem& w, const Tokenizer* tok, const EngineRunOptions& o) {
  GenerateRequest r;
  if (!w.prompt_ids.empty()) {
    r.prompt_ids = w.prompt_ids;
  } else {
    IGNIS_CHECK(tok != nullptr, "bench: the workload has text prompts but the model has no tokenizer.json");
    r.prompt_ids = tok->encode(w.prompt, true);
  }
  r.sampling.max_tokens = w.output_len;
  r.sampling.ignore_eos = o.ignore_eos;
  r.sampling.temperature = o.temperature;
  r.detokenize = false;  // benchmarks measure the engine, not the detokenizer
  r.speculative = o.speculative;
  r.cache_salt = o.cache_salt;
  r.constraint = o.constraint;
  return r;
}

// Drains a handle to its end and turns its timings into a record.
RequestRecord collect(RequestHandle& h, int prompt_tokens, Clock::time_point t0) {
  RequestRecord rec;
  StreamChunk c;
  int produced = 0;
  while (h.next(&c)) {
    produced += static_cast<int>(c.tokens.size());
    rec.output_ids.insert(rec.output_ids.end(), c.tokens.begin(), c.tokens.end());
    if (c.finish != FinishReason::None) {
      if (c.finish == FinishReason::Error || c.finish == FinishReason::Cancelled) {
        rec.ok = false;
        rec.error = c.error.empty() ? finish_reason_name(c.finish) : c.error;
      }
      break;
    }
  }
  const RequestTimings t = h.timings();
  rec.prompt_tokens = prompt_tokens;
  rec.output_tokens = produced;
  rec.arrival = secs(t0, t.arrival);
  rec.finish = secs(t0, t.finished);
  rec.first_token = produced > 0 ? secs(t0, t.first_token) : rec.finish;
  for (const auto& tt : t.token_times) rec.token_times.push_back(secs(t0, tt));
  return rec;
}

// Requests whose output, replayed through a fresh Matcher, is a complete match (an end id was
// accepted or the text can end there). Every token must be accepted: the engine masked it.
int64_t count_complete(const std::shared_ptr<const structured::CompiledConstraint>& c,
                       const std::vector<RequestRecord>& recs) {
  int64_t n = 0;
  for (const RequestRecord& rec : recs) {
    if (!rec.ok) continue;
    structured::Matcher m(c);
    bool all = true;
    for (int32_t t : rec.output_ids)
      if (!(all = m.accept(t))) break;
    n += all && (m.finished() || m.can_end());
  }
  return n;
}
}  // namespace

std::vector<RequestRecord> run_engine(Engine& engine, const Tokenizer* tok, const std::vector<WorkItem>& items,
                                      const EngineRunOptions& o, EngineObservations* obs) {
  IGNIS_CHECK(o.concurrency >= 0, "--concurrency must be >= 0");
  std::vector<GenerateRequest> reqs;
  reqs.reserve(items.size());
  for (const WorkItem& w : items) reqs.push_back(make_request(w, tok, o));

  const EngineStats before = engine.stats();
  const structured::CompiledConstraint::CacheStats cache_before =
      o.constraint ? o.constraint->cache_stats() : structured::CompiledConstraint::CacheStats{};
  std::atomic<bool> running{true};
  std::vector<double> kv_samples;
  std::thread sampler([&] {  // KV utilization every 10 ms while the run lasts
    while (running.load()) {
      const EngineStats s = engine.stats();
      if (s.kv_blocks_total > 0 && (s.running > 0 || s.queued > 0))
        kv_samples.push_back(static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  std::vector<RequestRecord> recs(items.size());
  Progress bar(static_cast<int>(items.size()), "requests", o.progress);
  const Clock::time_point t0 = Clock::now();
  try {
    if (o.concurrency == 0) {
      std::vector<std::shared_ptr<RequestHandle>> hs(reqs.size());
      std::vector<int> prompt_len(reqs.size());
      for (size_t i = 0; i < reqs.size(); i++) {
        prompt_len[i] = static_cast<int>(reqs[i].prompt_ids.size());
        try {
          hs[i] = engine.submit(std::move(reqs[i]));
        } catch (const Error& e) {  // rejected (too long for the context / pool): a failed request
          recs[i].ok = false;
          recs[i].error = e.what();
          recs[i].arrival = recs[i].finish = secs(t0, Clock::now());
        }
      }
      for (size_t i = 0; i < hs.size(); i++) {
        if (hs[i]) recs[i] = collect(*hs[i], prompt_len[i], t0);
        bar.add();
      }
    } else {
      std::atomic<size_t> next{0};
      std::vector<std::thread> workers;
      for (int k = 0; k < o.concurrency; k++)
        workers.emplace_back([&] {
          for (size_t i; (i = next.fetch_add(1)) < reqs.size();) {
            try {
              const int np = static_cast<int>(reqs[i].prompt_ids.size());
              auto h = engine.submit(std::move(reqs[i]));
              recs[i] = collect(*h, np, t0);
            } catch (const Error& e) {  // rejected: a failed request
              recs[i].ok = false;
              recs[i].error = e.what();
              recs[i].arrival = recs[i].finish = secs(t0, Clock::now());
            }
            bar.add();
          }
        });
      for (auto& w : workers) w.join();
    }
  } catch (...) {
    running = false;
    sampler.join();
    throw;
  }
  running = false;
  sampler.join();
  bar.done();

  if (obs) {
    const EngineStats after = engine.stats();
    obs->kv_utilization_samples = std::move(kv_samples);
    obs->prefix_queries = after.prefix_cache_queries - before.prefix_cache_queries;
    obs->prefix_hits = after.prefix_cache_hits - before.prefix_cache_hits;
    obs->steps = after.steps - before.steps;
    obs->preemptions = after.preemptions - before.preemptions;
    obs->computed_prefill_tokens = after.computed_prefill_tokens - before.computed_prefill_tokens;
    obs->spec_steps = after.spec_steps - before.spec_steps;
    obs->spec_sequences = after.spec_sequences - before.spec_sequences;
    obs->spec_proposed = after.spec_proposed_tokens - before.spec_proposed_tokens;
    obs->spec_accepted = after.spec_accepted_tokens - before.spec_accepted_tokens;
    obs->spec_propose_ns = after.spec_propose_ns - before.spec_propose_ns;
    if (o.constraint) {
      obs->constraint = o.constraint_name.empty() ? "constrained" : o.constraint_name;
      obs->constraint_masks = after.constraint_masks - before.constraint_masks;
      obs->constraint_mask_ns = after.constraint_mask_ns - before.constraint_mask_ns;
      obs->constraint_mask_wall_ns = after.constraint_mask_wall_ns - before.constraint_mask_wall_ns;
      const auto cache_after = o.constraint->cache_stats();
      obs->mask_cache_hits = int64_t(cache_after.hits - cache_before.hits);
      obs->mask_cache_misses = int64_t(cache_after.misses - cache_before.misses);
      obs->constraint_complete = count_complete(o.constraint, recs);
    }
    if (o.speculative && engine.config().spec.method != SpecMethod::None)
      obs->spec_method = spec_method_name(engine.config().spec.method);
    double used = 0;
    for (double u : obs->kv_utilization_samples) used += u;
    if (!obs->kv_utilization_samples.empty())
      obs->mean_kv_tokens = used / static_cast<double>(obs->kv_utilization_samples.size()) * after.kv_blocks_total *
                            engine.config().kv_block_size;
  }
  return recs;
}

}  // namespace ignis::bench
