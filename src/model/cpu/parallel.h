// ignis model/cpu: a minimal parallel-for for the reference ops, on one process-wide persistent
// pool (core/worker_pool.h: sleeping, not spinning, between calls). A call made while another
// thread holds the pool (the engine and an embeddings request at once, or a nested call) starts
// threads of its own instead of waiting.
#pragma once
#include <cstdint>
#include <functional>

namespace ignis::cpu {

// Number of worker threads the CPU ops use (hardware concurrency, at least 1).
int num_threads();

// While alive, parallel_for calls made on this thread use at most `threads` threads (>= 1): the
// ranks of a ParallelCpuModel share the cores instead of each starting num_threads() per op.
class ThreadCap {
 public:
  explicit ThreadCap(int threads);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int saved_;
};

// Calls fn(begin, end) over [0, n) split into contiguous chunks of at least
// `min_grain` items, on up to num_threads() threads (the caller's thread included).
// Exceptions thrown by fn are rethrown on the caller's thread.
void parallel_for(int64_t n, int64_t min_grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace ignis::cpu
