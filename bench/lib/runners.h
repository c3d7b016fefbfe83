// ignis bench: the two drivers that turn a workload into per-request records.
//   run_serve : HTTP load generator against an OpenAI-compatible /v1/completions (streaming).
//   run_engine: the in-process Engine (throughput: everything at once; latency: fixed concurrency).
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/lib/report.h"
#include "bench/lib/workload.h"

namespace ignis {
class Engine;
class Tokenizer;
namespace structured {
class CompiledConstraint;
}
}  // namespace ignis

namespace ignis::bench {

struct ServeOptions {
  std::string url;                  // http://host:port
  std::string model;                // "model" field of the request ("" = omitted)
  std::string api_key;              // sent as "Authorization: Bearer <key>" ("" = none)
  double request_rate = std::numeric_limits<double>::infinity();  // Poisson arrivals (req/s); inf = all at t=0
  int concurrency = 0;              // max requests in flight; 0 = unlimited
  bool send_text = false;           // send "prompt" text instead of token ids
  bool ignore_eos = true;
  float temperature = 0.0f;
  uint64_t seed = 0;                // arrival times
  double timeout_s = 600;
  bool progress = true;
};

// Counting from the stream: each SSE event whose choice carries non-empty text is one arrival
// (its time goes into token_times, so ITL is per streamed chunk as in vLLM's benchmark);
// output_tokens is usage.completion_tokens when the server sends it, else the number of such events.
// When obs is given, GET /metrics is polled every 100 ms during the run (Prometheus text): KV-cache
// utilization from ignis_kv_cache_usage_ratio (or vLLM's vllm:kv_cache_usage_perc /
// vllm:gpu_cache_usage_perc) and the prefix-cache hit rate from the change of
// ignis_prefix_cache_{queries,hits}_total (or vllm:prefix_cache_{queries,hits}_total) over the run.
// A server without /metrics leaves them unknown (n/a).
std::vector<RequestRecord> run_serve(const std::vector<WorkItem>& items, const ServeOptions& o,
                                     EngineObservations* obs = nullptr);

// Prometheus text exposition -> {"name{labels}": value}; comments and malformed lines skipped.
std::map<std::string, double> parse_prometheus(const std::string& text);

// Inter-arrival gaps of a Poisson process at `rate` req/s (exponential, own RNG, deterministic in seed);
// all zero when rate is infinite.
std::vector<double> poisson_arrivals(int n, double rate, uint64_t seed);

struct EngineRunOptions {
  int concurrency = 0;      // 0 = submit everything at once (throughput); N = at most N in flight (latency)
  bool ignore_eos = true;
  float temperature = 0.0f;
  bool progress = true;
  bool speculative = true;   // GenerateRequest::speculative (false: a baseline run on a speculating engine)
  uint64_t cache_salt = 0;   // GenerateRequest::cache_salt: runs with different salts share no prefix-cache blocks
  // Constrained decoding: every request carries this constraint (null = free decoding). run_engine
  // then fills obs' constraint fields: complete outputs (replayed through a Matcher), the engine's
  // mask rows and fill time, and the constraint's mask-cache hits / misses over the run.
  std::shared_ptr<const structured::CompiledConstraint> constraint;
  std::string constraint_name;  // EngineObservations::constraint (e.g. "json_schema FILE")
};

// Runs the workload on `engine`; prompts given only as text are tokenized with `tok` (required then).
// Fills obs (KV utilization samples, prefix-cache counters, steps) from Engine::stats().
std::vector<RequestRecord> run_engine(Engine& engine, const Tokenizer* tok, const std::vector<WorkItem>& items,
                                      const EngineRunOptions& o, EngineObservations* obs);

}  // namespace ignis::bench
