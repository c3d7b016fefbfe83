// ignis bench: report arithmetic. Per-request records in, the numbers every mode prints out:
// requests/s, input/output tokens/s, TTFT, TPOT, ITL and E2E as mean/p50/p90/p99, KV-cache
// utilization, prefix-cache hit rate and (on a GPU) achieved decode bandwidth.
//
// Definitions (all times in seconds relative to the bench start):
//   duration   = last finish - first arrival (over all requests, failed ones included)
//   TTFT       = first_token - arrival                 (requests with >= 1 output token)
//   E2E        = finish - arrival                      (successful requests)
//   TPOT       = (E2E - TTFT) / (output_tokens - 1)    (requests with >= 2 output tokens)
//   ITL        = every gap between consecutive token times of a request, pooled over requests
//   percentile = linear interpolation between closest ranks, like numpy.percentile's default:
//                rank = q/100 * (n - 1), value = a[floor] + (a[ceil] - a[floor]) * frac(rank)
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ignis::bench {

struct RequestRecord {
  double arrival = 0, first_token = 0, finish = 0;
  std::vector<double> token_times;  // one per output token (several may share a time when streamed in chunks)
  int prompt_tokens = 0, output_tokens = 0;
  bool ok = true;
  std::string error;
  std::vector<int32_t> output_ids;  // in-process modes: the generated ids (greedy-identity checks)
};

// Engine-side observations (in-process modes; serve mode leaves them empty / n/a).
struct EngineObservations {
  std::vector<double> kv_utilization_samples;  // kv_blocks_used / kv_blocks_total, sampled during the run
  int64_t prefix_queries = -1, prefix_hits = -1;  // tokens; -1 = unknown
  int64_t steps = -1;
  // Preempted sequences (their KV freed, recomputed later) and prefill tokens the model computed
  // (prompts not served from the prefix cache, recomputations included); -1 = unknown.
  int64_t preemptions = -1, computed_prefill_tokens = -1;
  // Decode bandwidth inputs (GPU): bytes read per step and the device copy ceiling.
  double weight_bytes = 0, kv_bytes_per_token = 0, mean_kv_tokens = 0;
  std::optional<double> copy_bandwidth_gbps;  // measured device-to-device copy (GB/s); none on CPU
  std::string hardware;                        // "" = unknown
  // Speculative decoding (EngineStats' spec counters over the run); -1 = unknown / off.
  int64_t spec_steps = -1, spec_sequences = -1, spec_proposed = -1, spec_accepted = -1;
  int64_t spec_propose_ns = -1;  // host time spent drafting (Proposer::propose) over the run
  std::string spec_method;  // "" = no speculation
  // Constrained decoding (--json-schema / --regex); "" / -1 = free decoding or unknown.
  std::string constraint;             // what constrained every request, e.g. "json_schema FILE"
  int64_t constraint_complete = -1;   // requests whose output is a complete match of the constraint
  int64_t constraint_masks = -1, constraint_mask_ns = -1, constraint_mask_wall_ns = -1;  // EngineStats' mask rows / host fill time over the run
  int64_t mask_cache_hits = -1, mask_cache_misses = -1;    // the compiled constraint's mask cache over the run
};

struct Stat {
  int n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;
};
// Percentile q in [0, 100] of unsorted values (numpy's linear method); 0 for an empty vector.
double percentile(std::vector<double> v, double q);
Stat summarize(const std::vector<double>& v);

struct Report {
  std::string mode;  // "throughput" | "latency" | "serve"
  int num_requests = 0, completed = 0, failed = 0;
  double duration_s = 0;
  int64_t input_tokens = 0, output_tokens = 0;
  double requests_per_s = 0, input_tokens_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  Stat ttft, tpot, itl, e2e;  // seconds
  std::optional<double> kv_util_mean, kv_util_max, prefix_hit_rate;
  std::optional<double> decode_bandwidth_gbps, decode_bandwidth_fraction;
  std::optional<int64_t> engine_steps, preemptions, computed_prefill_tokens;  // in-process modes
  // Speculative decoding: accepted / proposed tokens, mean accepted tokens per verified
  // sequence-step (each yields that + 1 tokens), steps that verified proposals.
  std::string spec_method;
  std::optional<double> spec_acceptance_rate, spec_mean_accepted;
  std::optional<int64_t> spec_steps, spec_proposed_tokens, spec_accepted_tokens;
  std::optional<double> spec_propose_ms_per_step;  // drafting time per verified step
  // With a baseline run of the same workload without speculation (add_baseline): its output
  // tokens/s, the speedup (this run's output tokens/s over it) and, when both runs are greedy,
  // how many requests produced identical tokens.
  std::optional<double> baseline_output_tokens_per_s, speedup;
  std::optional<int> greedy_identical, greedy_compared;
  // Constrained decoding: see EngineObservations; mask fill time per engine step and per masked
  // row. With an unconstrained baseline of the same requests (add_unconstrained_baseline): its TPOT
  // p50 and output tokens/s, and this run's TPOT p50 overhead over it in percent.
  std::string constraint;
  std::optional<int64_t> constraint_complete, constraint_masks, mask_cache_hits, mask_cache_misses;
  std::optional<double> mask_fill_ms_per_step, mask_fill_us_per_row, mask_fill_wall_ms_per_step;
  std::optional<double> constraint_compile_ms;  // the run's one compile (set by the caller)
  std::optional<double> unconstrained_tpot_p50, unconstrained_output_tokens_per_s, tpot_overhead_pct;
  std::string hardware;
  // Output tokens per time bucket (for the plot): bucket_s wide, starting at the first arrival.
  double bucket_s = 0;
  std::vector<double> output_tokens_per_s_series;
  std::vector<std::string> errors;  // first few failure messages
};

Report compute_report(const std::string& mode, const std::vector<RequestRecord>& recs,
                      const EngineObservations& obs = {});

// Compares this run with a baseline run of the same requests (same order) without speculation;
// `greedy`: both runs were greedy, so their outputs must be identical (counted, request by request).
void add_baseline(Report& r, const Report& baseline, const std::vector<RequestRecord>& recs,
                  const std::vector<RequestRecord>& baseline_recs, bool greedy);

// Compares this (constrained) run with `baseline`, the same requests decoded without a constraint.
void add_unconstrained_baseline(Report& r, const Report& baseline);

std::string format_table(const Report& r);   // human table (milliseconds for latencies)
std::string to_json(const Report& r);        // machine form (seconds, as in the struct)
std::string render_svg(const Report& r);     // latency percentiles + throughput over time

}  // namespace ignis::bench
