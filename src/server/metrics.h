// ignis server: Prometheus metrics (text exposition format 0.0.4). Counters and
// histograms are recorded by the HTTP handlers; engine gauges (queue depth,
// running sequences, KV blocks, prefix-cache hits) are read at scrape time.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace ignis::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends "# HELP/# TYPE" and the _bucket/_sum/_count lines.
  void render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::vector<double> bounds_;   // upper bounds, ascending; +Inf implied
  std::vector<uint64_t> counts_; // non-cumulative, last = above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // outcome: "stop", "length", "cancelled", "error", "rejected", "queue_full", "unauthorized".
  void count_request(const std::string& outcome);
  void count_http(int status);
  // One finished generation: its usage and timings (seconds).
  void record_generation(const RequestUsage& u, const RequestTimings& t);
  // One /v1/embeddings encoder call (EmbeddingBatcher): its size and time, for the histograms (the
  // batcher's own Stats hold the totals, rendered by the server).
  void record_embedding_call(size_t inputs, double seconds);
  std::string render(const EngineStats& s) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> outcomes_;
  std::map<int, uint64_t> http_;
  uint64_t prompt_tokens_ = 0, generation_tokens_ = 0, cached_prompt_tokens_ = 0;
  Histogram ttft_, tpot_, e2e_, prompt_len_, gen_len_;
  Histogram embedding_batch_, embedding_seconds_;
};

}  // namespace ignis::server
