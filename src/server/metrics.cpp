// ignis server: Prometheus metrics.
#include "server/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace ignis::server {

namespace {
std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
void gauge(std::string* out, const char* name, const char* help, double v) {
  *out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, num(v));
}
void counter(std::string* out, const char* name, const char* help, double v) {
  *out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, num(v));
}
}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) i++;
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::render(const std::string& name, const std::string& help, std::string* out) const {
  *out += fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); i++) {
    cum += counts_[i];
    *out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, num(bounds_[i]), cum);
  }
  cum += counts_.back();
  *out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cum, name, num(sum_), name, count_);
}

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240}),
      prompt_len_({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}),
      gen_len_({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}),
      embedding_batch_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}),
      embedding_seconds_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}) {}

void Metrics::record_embedding_call(size_t inputs, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  embedding_batch_.observe(double(inputs));
  embedding_seconds_.observe(seconds);
}

void Metrics::count_request(const std::string& outcome) {
  std::lock_guard<std::mutex> lk(mu_);
  outcomes_[outcome]++;
}

void Metrics::count_http(int status) {
  std::lock_guard<std::mutex> lk(mu_);
  http_[status]++;
}

void Metrics::record_generation(const RequestUsage& u, const RequestTimings& t) {
  std::lock_guard<std::mutex> lk(mu_);
  prompt_tokens_ += static_cast<uint64_t>(u.prompt_tokens);
  generation_tokens_ += static_cast<uint64_t>(u.completion_tokens);
  cached_prompt_tokens_ += static_cast<uint64_t>(u.cached_prompt_tokens);
  prompt_len_.observe(u.prompt_tokens);
  gen_len_.observe(u.completion_tokens);
  const Clock::time_point zero{};
  if (t.arrival == zero) return;  // engine gave no timings
  if (t.first_token != zero && t.first_token >= t.arrival) {
    ttft_.observe(seconds(t.first_token - t.arrival));
    if (u.completion_tokens > 1 && t.finished > t.first_token)
      tpot_.observe(seconds(t.finished - t.first_token) / (u.completion_tokens - 1));
  }
  if (t.finished != zero && t.finished >= t.arrival) e2e_.observe(seconds(t.finished - t.arrival));
}

std::string Metrics::render(const EngineStats& s) const {
  std::string out;
  out.reserve(8192);
  gauge(&out, "ignis_queue_depth", "Requests waiting in the engine queue.", s.queued);
  gauge(&out, "ignis_running_sequences", "Sequences in the running batch.", s.running);
  gauge(&out, "ignis_kv_blocks_total", "KV cache blocks in the pool.", s.kv_blocks_total);
  gauge(&out, "ignis_kv_blocks_used", "KV cache blocks held by sequences.", s.kv_blocks_used);
  gauge(&out, "ignis_kv_blocks_free", "KV cache blocks free (including reusable cached ones).", s.kv_blocks_free);
  gauge(&out, "ignis_kv_cache_usage_ratio", "Fraction of KV blocks in use.",
        s.kv_blocks_total ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
  counter(&out, "ignis_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
          static_cast<double>(s.prefix_cache_queries));
  counter(&out, "ignis_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
          static_cast<double>(s.prefix_cache_hits));
  counter(&out, "ignis_prefix_cache_hash_mismatches_total",
          "Cached blocks whose chain hash matched but whose tokens or parent did not (computed, never reused).",
          static_cast<double>(s.prefix_hash_mismatches));
  gauge(&out, "ignis_prefix_cache_hit_rate", "Prefix-cache hits / queries, in tokens, since start.",
        s.prefix_cache_queries ? static_cast<double>(s.prefix_cache_hits) / s.prefix_cache_queries : 0.0);
  counter(&out, "ignis_engine_steps_total", "Engine steps run.", static_cast<double>(s.steps));
  counter(&out, "ignis_preemptions_total", "Sequences preempted for lack of KV blocks.", static_cast<double>(s.preemptions));
  counter(&out, "ignis_engine_prompt_tokens_total", "Prompt tokens accepted by the engine.", static_cast<double>(s.prompt_tokens));
  counter(&out, "ignis_engine_generation_tokens_total", "Tokens generated by the engine.", static_cast<double>(s.generated_tokens));
  counter(&out, "ignis_engine_computed_prefill_tokens_total", "Prompt tokens actually computed (not served from cache).",
          static_cast<double>(s.computed_prefill_tokens));
  counter(&out, "ignis_spec_steps_total", "Engine steps that verified speculative proposals.",
          static_cast<double>(s.spec_steps));
  counter(&out, "ignis_spec_verified_sequences_total",
          "Sequence-steps that verified proposals (each yields accepted + 1 tokens).", static_cast<double>(s.spec_sequences));
  counter(&out, "ignis_spec_proposed_tokens_total", "Speculative tokens proposed and verified by the target.",
          static_cast<double>(s.spec_proposed_tokens));
  counter(&out, "ignis_spec_accepted_tokens_total", "Speculative tokens the target accepted.",
          static_cast<double>(s.spec_accepted_tokens));
  gauge(&out, "ignis_spec_acceptance_rate", "Accepted / proposed speculative tokens since start.",
        s.spec_proposed_tokens ? static_cast<double>(s.spec_accepted_tokens) / s.spec_proposed_tokens : 0.0);

  std::lock_guard<std::mutex> lk(mu_);
  out += "# HELP ignis_requests_total Requests by outcome (stop, length, cancelled, error, rejected, queue_full, unauthorized, embeddings, documents).\n"
         "# TYPE ignis_requests_total counter\n";
  for (const char* o : {"stop", "length", "cancelled", "error", "rejected", "queue_full", "unauthorized"})
    if (!outcomes_.count(o)) out += fmt::format("ignis_requests_total{{outcome=\"{}\"}} 0\n", o);
  for (auto& [o, n] : outcomes_) out += fmt::format("ignis_requests_total{{outcome=\"{}\"}} {}\n", o, n);
  out += "# HELP ignis_http_responses_total HTTP responses by status code.\n# TYPE ignis_http_responses_total counter\n";
  for (auto& [code, n] : http_) out += fmt::format("ignis_http_responses_total{{code=\"{}\"}} {}\n", code, n);
  counter(&out, "ignis_prompt_tokens_total", "Prompt tokens of finished requests.", static_cast<double>(prompt_tokens_));
  counter(&out, "ignis_generation_tokens_total", "Generated tokens of finished requests.", static_cast<double>(generation_tokens_));
  counter(&out, "ignis_cached_prompt_tokens_total", "Prompt tokens of finished requests served from the prefix cache.",
          static_cast<double>(cached_prompt_tokens_));
  ttft_.render("ignis_time_to_first_token_seconds", "Time from arrival to the first generated token.", &out);
  tpot_.render("ignis_time_per_output_token_seconds", "Mean time between generated tokens, per request.", &out);
  e2e_.render("ignis_e2e_request_latency_seconds", "Time from arrival to the last token.", &out);
  prompt_len_.render("ignis_request_prompt_tokens", "Prompt length per request.", &out);
  gen_len_.render("ignis_request_generation_tokens", "Generated tokens per request.", &out);
  embedding_batch_.render("ignis_embedding_batch_inputs", "Inputs per /v1/embeddings encoder call.", &out);
  embedding_seconds_.render("ignis_embedding_call_seconds", "Time of one /v1/embeddings encoder call.", &out);
  return out;
}

}  // namespace ignis::server
