// ignis bench: report arithmetic, the human table and the JSON form (definitions in report.h).
#include "bench/lib/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace ignis::bench {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

Stat summarize(const std::vector<double>& v) {
  Stat s;
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.p50 = percentile(v, 50);
  s.p90 = percentile(v, 90);
  s.p99 = percentile(v, 99);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

Report compute_report(const std::string& mode, const std::vector<RequestRecord>& recs, const EngineObservations& obs) {
  Report r;
  r.mode = mode;
  r.num_requests = static_cast<int>(recs.size());
  r.hardware = obs.hardware;
  if (recs.empty()) return r;

  double t0 = recs[0].arrival, t1 = recs[0].finish;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestRecord& q : recs) {
    t0 = std::min(t0, q.arrival);
    t1 = std::max(t1, q.finish);
    if (!q.ok) {
      r.failed++;
      if (r.errors.size() < 5) r.errors.push_back(q.error);
      continue;
    }
    r.completed++;
    r.input_tokens += q.prompt_tokens;
    r.output_tokens += q.output_tokens;
    const double lat = q.finish - q.arrival;
    e2e.push_back(lat);
    if (q.output_tokens >= 1) ttft.push_back(q.first_token - q.arrival);
    if (q.output_tokens >= 2) tpot.push_back((lat - (q.first_token - q.arrival)) / (q.output_tokens - 1));
    for (size_t i = 1; i < q.token_times.size(); i++) itl.push_back(q.token_times[i] - q.token_times[i - 1]);
  }
  r.duration_s = t1 - t0;
  if (r.duration_s > 0) {
    r.requests_per_s = r.completed / r.duration_s;
    r.input_tokens_per_s = static_cast<double>(r.input_tokens) / r.duration_s;
    r.output_tokens_per_s = static_cast<double>(r.output_tokens) / r.duration_s;
    r.total_tokens_per_s = r.input_tokens_per_s + r.output_tokens_per_s;
  }
  r.ttft = summarize(ttft);
  r.tpot = summarize(tpot);
  r.itl = summarize(itl);
  r.e2e = summarize(e2e);

  if (!obs.kv_utilization_samples.empty()) {
    double s = 0, m = 0;
    for (double u : obs.kv_utilization_samples) s += u, m = std::max(m, u);
    r.kv_util_mean = s / static_cast<double>(obs.kv_utilization_samples.size());
    r.kv_util_max = m;
  }
  if (obs.prefix_queries > 0) r.prefix_hit_rate = static_cast<double>(obs.prefix_hits) / obs.prefix_queries;
  else if (obs.prefix_queries == 0) r.prefix_hit_rate = 0.0;
  if (obs.steps >= 0) r.engine_steps = obs.steps;
  if (obs.preemptions >= 0) r.preemptions = obs.preemptions;
  if (obs.computed_prefill_tokens >= 0) r.computed_prefill_tokens = obs.computed_prefill_tokens;
  if (obs.steps > 0 && obs.weight_bytes > 0 && r.duration_s > 0) {
    // Every step reads all weights once plus the resident KV (approximation: mean KV tokens per step).
    const double bytes = static_cast<double>(obs.steps) * (obs.weight_bytes + obs.mean_kv_tokens * obs.kv_bytes_per_token);
    r.decode_bandwidth_gbps = bytes / r.duration_s / 1e9;
    if (obs.copy_bandwidth_gbps && *obs.copy_bandwidth_gbps > 0)
      r.decode_bandwidth_fraction = *r.decode_bandwidth_gbps / *obs.copy_bandwidth_gbps;
  }

  r.spec_method = obs.spec_method;
  if (obs.spec_proposed >= 0 && !obs.spec_method.empty()) {
    r.spec_steps = obs.spec_steps;
    r.spec_proposed_tokens = obs.spec_proposed;
    r.spec_accepted_tokens = obs.spec_accepted;
    r.spec_acceptance_rate = obs.spec_proposed > 0 ? double(obs.spec_accepted) / double(obs.spec_proposed) : 0.0;
    r.spec_mean_accepted = obs.spec_sequences > 0 ? double(obs.spec_accepted) / double(obs.spec_sequences) : 0.0;
    if (obs.spec_propose_ns >= 0 && obs.spec_steps > 0)
      r.spec_propose_ms_per_step = double(obs.spec_propose_ns) / 1e6 / double(obs.spec_steps);
  }
  r.constraint = obs.constraint;
  if (!obs.constraint.empty()) {
    if (obs.constraint_complete >= 0) r.constraint_complete = obs.constraint_complete;
    if (obs.constraint_masks >= 0) r.constraint_masks = obs.constraint_masks;
    if (obs.mask_cache_hits >= 0) r.mask_cache_hits = obs.mask_cache_hits;
    if (obs.mask_cache_misses >= 0) r.mask_cache_misses = obs.mask_cache_misses;
    if (obs.constraint_mask_ns >= 0 && obs.steps > 0)
      r.mask_fill_ms_per_step = double(obs.constraint_mask_ns) / 1e6 / double(obs.steps);
    if (obs.constraint_mask_wall_ns >= 0 && obs.steps > 0)
      r.mask_fill_wall_ms_per_step = double(obs.constraint_mask_wall_ns) / 1e6 / double(obs.steps);
    if (obs.constraint_mask_ns >= 0 && obs.constraint_masks > 0)
      r.mask_fill_us_per_row = double(obs.constraint_mask_ns) / 1e3 / double(obs.constraint_masks);
  }

  // Output-token throughput over time, ~40 buckets.
  if (r.duration_s > 0) {
    r.bucket_s = r.duration_s / 40.0;
    r.output_tokens_per_s_series.assign(40, 0.0);
    for (const RequestRecord& q : recs)
      for (double t : q.token_times) {
        const int b = std::clamp(static_cast<int>((t - t0) / r.bucket_s), 0, 39);
        r.output_tokens_per_s_series[b] += 1.0 / r.bucket_s;
      }
  }
  return r;
}

void add_baseline(Report& r, const Report& baseline, const std::vector<RequestRecord>& recs,
                  const std::vector<RequestRecord>& baseline_recs, bool greedy) {
  r.baseline_output_tokens_per_s = baseline.output_tokens_per_s;
  if (baseline.output_tokens_per_s > 0) r.speedup = r.output_tokens_per_s / baseline.output_tokens_per_s;
  if (!greedy) return;
  int same = 0, compared = 0;
  for (size_t i = 0; i < recs.size() && i < baseline_recs.size(); ++i) {
    if (!recs[i].ok || !baseline_recs[i].ok) continue;
    ++compared;
    same += recs[i].output_ids == baseline_recs[i].output_ids;
  }
  r.greedy_identical = same;
  r.greedy_compared = compared;
}

void add_unconstrained_baseline(Report& r, const Report& baseline) {
  r.unconstrained_output_tokens_per_s = baseline.output_tokens_per_s;
  if (baseline.tpot.n == 0) return;
  r.unconstrained_tpot_p50 = baseline.tpot.p50;
  if (r.tpot.n > 0 && baseline.tpot.p50 > 0) r.tpot_overhead_pct = (r.tpot.p50 / baseline.tpot.p50 - 1.0) * 100.0;
}

namespace {
std::string opt_pct(const std::optional<double>& v) { return v ? fmt::format("{:.1f} %", *v * 100) : "n/a"; }
std::string stat_row(const char* name, const Stat& s) {
  if (s.n == 0) return fmt::format("  {:<10} {:>10} {:>10} {:>10} {:>10}\n", name, "n/a", "n/a", "n/a", "n/a");
  return fmt::format("  {:<10} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f}\n", name, s.mean * 1e3, s.p50 * 1e3,
                     s.p90 * 1e3, s.p99 * 1e3);
}
nlohmann::json stat_json(const Stat& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"min", s.min}, {"max", s.max}};
}
template <class T>
nlohmann::json opt_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
}  // namespace

std::string format_table(const Report& r) {
  std::string s = fmt::format("=== ignis bench {} ===\n", r.mode);
  if (!r.hardware.empty()) s += fmt::format("  hardware              {}\n", r.hardware);
  s += fmt::format("  requests              {} completed, {} failed\n", r.completed, r.failed);
  s += fmt::format("  duration              {:.3f} s\n", r.duration_s);
  s += fmt::format("  requests/s            {:.3f}\n", r.requests_per_s);
  s += fmt::format("  input tokens/s        {:.1f}   ({} tokens)\n", r.input_tokens_per_s, r.input_tokens);
  s += fmt::format("  output tokens/s       {:.1f}   ({} tokens)\n", r.output_tokens_per_s, r.output_tokens);
  s += fmt::format("  total tokens/s        {:.1f}\n", r.total_tokens_per_s);
  s += fmt::format("  {:<10} {:>10} {:>10} {:>10} {:>10}   (ms)\n", "latency", "mean", "p50", "p90", "p99");
  s += stat_row("TTFT", r.ttft) + stat_row("TPOT", r.tpot) + stat_row("ITL", r.itl) + stat_row("E2E", r.e2e);
  s += fmt::format("  KV-cache utilization  mean {}, max {}\n", opt_pct(r.kv_util_mean), opt_pct(r.kv_util_max));
  s += fmt::format("  prefix-cache hit rate {}\n", opt_pct(r.prefix_hit_rate));
  if (r.engine_steps && r.preemptions && r.computed_prefill_tokens)
    s += fmt::format("  engine steps          {} ({} preemptions; {} prefill tokens computed, {:.3f} x the input)\n",
                     *r.engine_steps, *r.preemptions, *r.computed_prefill_tokens,
                     r.input_tokens > 0 ? double(*r.computed_prefill_tokens) / double(r.input_tokens) : 0.0);
  if (!r.spec_method.empty() && r.spec_acceptance_rate && r.spec_mean_accepted && r.spec_steps)
    s += fmt::format("  speculative ({})     acceptance {:.1f} % ({} of {} proposed), {:.2f} accepted per verified "
                     "sequence-step, {} steps verified\n",
                     r.spec_method, *r.spec_acceptance_rate * 100, r.spec_accepted_tokens.value_or(0),
                     r.spec_proposed_tokens.value_or(0), *r.spec_mean_accepted, *r.spec_steps);
  if (r.spec_propose_ms_per_step && r.spec_steps && r.duration_s > 0)
    s += fmt::format("  drafting              {:.2f} ms per verified step ({:.1f} % of the run)\n", *r.spec_propose_ms_per_step,
                     *r.spec_propose_ms_per_step * double(*r.spec_steps) / 10.0 / r.duration_s);
  if (r.speedup && r.baseline_output_tokens_per_s)
    s += fmt::format("  vs no speculation     {:.3f} x output tokens/s ({:.1f} without)\n", *r.speedup,
                     *r.baseline_output_tokens_per_s);
  if (r.greedy_identical && r.greedy_compared)
    s += fmt::format("  greedy output         {} of {} requests identical to no speculation\n", *r.greedy_identical,
                     *r.greedy_compared);
  if (!r.constraint.empty()) {
    s += fmt::format("  constraint            {}{}\n", r.constraint,
                     r.constraint_compile_ms ? fmt::format(" (compiled in {:.2f} ms)", *r.constraint_compile_ms) : "");
    if (r.constraint_complete)
      s += fmt::format("  complete outputs      {} of {} requests match the whole constraint\n", *r.constraint_complete,
                       r.completed);
    if (r.constraint_masks && r.mask_fill_ms_per_step && r.mask_fill_us_per_row)
      s += fmt::format("  mask fill             {:.3f} ms per step, {:.1f} us per row ({} rows); engine thread {:.3f} ms per step\n",
                       *r.mask_fill_ms_per_step, *r.mask_fill_us_per_row, *r.constraint_masks,
                       r.mask_fill_wall_ms_per_step.value_or(0.0));
    if (r.mask_cache_hits && r.mask_cache_misses)
      s += fmt::format("  mask cache            {} hits, {} misses\n", *r.mask_cache_hits, *r.mask_cache_misses);
  }
  if (r.unconstrained_tpot_p50 && r.tpot_overhead_pct)
    s += fmt::format("  vs unconstrained      TPOT p50 {:.3f} ms vs {:.3f} ms: {:+.2f} % ({:.1f} output tokens/s without)\n",
                     r.tpot.p50 * 1e3, *r.unconstrained_tpot_p50 * 1e3, *r.tpot_overhead_pct,
                     r.unconstrained_output_tokens_per_s.value_or(0));
  if (r.decode_bandwidth_gbps && r.decode_bandwidth_fraction)
    s += fmt::format("  decode bandwidth      {:.1f} GB/s ({:.1f} % of measured copy bandwidth)\n",
                     *r.decode_bandwidth_gbps, *r.decode_bandwidth_fraction * 100);
  else
    s += "  decode bandwidth      n/a\n";
  for (const std::string& e : r.errors) s += fmt::format("  error: {}\n", e);
  return s;
}

std::string to_json(const Report& r) {
  nlohmann::json j = {
      {"mode", r.mode},
      {"hardware", r.hardware},
      {"num_requests", r.num_requests},
      {"completed", r.completed},
      {"failed", r.failed},
      {"duration_s", r.duration_s},
      {"input_tokens", r.input_tokens},
      {"output_tokens", r.output_tokens},
      {"requests_per_s", r.requests_per_s},
      {"input_tokens_per_s", r.input_tokens_per_s},
      {"output_tokens_per_s", r.output_tokens_per_s},
      {"total_tokens_per_s", r.total_tokens_per_s},
      {"ttft_s", stat_json(r.ttft)},
      {"tpot_s", stat_json(r.tpot)},
      {"itl_s", stat_json(r.itl)},
      {"e2e_s", stat_json(r.e2e)},
      {"kv_utilization_mean", opt_json(r.kv_util_mean)},
      {"kv_utilization_max", opt_json(r.kv_util_max)},
      {"prefix_cache_hit_rate", opt_json(r.prefix_hit_rate)},
      {"decode_bandwidth_gbps", opt_json(r.decode_bandwidth_gbps)},
      {"decode_bandwidth_fraction", opt_json(r.decode_bandwidth_fraction)},
      {"engine_steps", opt_json(r.engine_steps)},
      {"preemptions", opt_json(r.preemptions)},
      {"computed_prefill_tokens", opt_json(r.computed_prefill_tokens)},
      {"speculative_method", r.spec_method.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.spec_method)},
      {"spec_acceptance_rate", opt_json(r.spec_acceptance_rate)},
      {"spec_mean_accepted_per_step", opt_json(r.spec_mean_accepted)},
      {"spec_steps", opt_json(r.spec_steps)},
      {"spec_proposed_tokens", opt_json(r.spec_proposed_tokens)},
      {"spec_accepted_tokens", opt_json(r.spec_accepted_tokens)},
      {"spec_propose_ms_per_step", opt_json(r.spec_propose_ms_per_step)},
      {"baseline_output_tokens_per_s", opt_json(r.baseline_output_tokens_per_s)},
      {"speedup_vs_no_spec", opt_json(r.speedup)},
      {"greedy_identical", opt_json(r.greedy_identical)},
      {"greedy_compared", opt_json(r.greedy_compared)},
      {"constraint", r.constraint.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.constraint)},
      {"constraint_compile_ms", opt_json(r.constraint_compile_ms)},
      {"constraint_complete", opt_json(r.constraint_complete)},
      {"constraint_masks", opt_json(r.constraint_masks)},
      {"mask_fill_ms_per_step", opt_json(r.mask_fill_ms_per_step)},
      {"mask_fill_us_per_row", opt_json(r.mask_fill_us_per_row)},
      {"mask_fill_wall_ms_per_step", opt_json(r.mask_fill_wall_ms_per_step)},
      {"mask_cache_hits", opt_json(r.mask_cache_hits)},
      {"mask_cache_misses", opt_json(r.mask_cache_misses)},
      {"unconstrained_tpot_p50_s", opt_json(r.unconstrained_tpot_p50)},
      {"unconstrained_output_tokens_per_s", opt_json(r.unconstrained_output_tokens_per_s)},
      {"tpot_overhead_pct", opt_json(r.tpot_overhead_pct)},
      {"bucket_s", r.bucket_s},
      {"output_tokens_per_s_series", r.output_tokens_per_s_series},
      {"errors", r.errors},
  };
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace ignis::bench
