#include "model/cpu/parallel.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/worker_pool.h"

namespace ignis::cpu {

int num_threads() {
  static const int n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}

namespace {

std::mutex pool_mu;  // held by the one parallel_for that uses the pool
// Set while this thread runs a pooled call (as its caller or for one of its chunks): a nested call
// must not try_lock pool_mu, which this very thread may hold.
thread_local bool in_pooled_call = false;

struct PooledCallFlag {
  bool saved = in_pooled_call;
  PooledCallFlag() { in_pooled_call = true; }
  ~PooledCallFlag() { in_pooled_call = saved; }
};

thread_local int thread_cap = 0;  // 0: no cap (ThreadCap)

WorkerPool& pool() {
  static WorkerPool p(num_threads() - 1);
  return p;
}

// The fallback: threads for this call only.
void run_on_new_threads(int64_t chunks, const std::function<void(int64_t)>& chunk) {
  std::exception_ptr err;
  std::mutex err_mu;
  auto run = [&](int64_t c) {
    try {
      chunk(c);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!err) err = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (int64_t c = 1; c < chunks; ++c) workers.emplace_back(run, c);
  run(0);
  for (auto& t : workers) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

ThreadCap::ThreadCap(int threads) : saved_(thread_cap) { thread_cap = std::max(1, threads); }
ThreadCap::~ThreadCap() { thread_cap = saved_; }

void parallel_for(int64_t n, int64_t min_grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  min_grain = std::max<int64_t>(1, min_grain);
  const int threads = thread_cap > 0 ? std::min(thread_cap, num_threads()) : num_threads();
  int64_t chunks = std::min<int64_t>(threads, (n + min_grain - 1) / min_grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  chunks = (n + per - 1) / per;  // every chunk non-empty
  auto chunk = [&](int64_t c) { fn(c * per, std::min(n, (c + 1) * per)); };
  if (!in_pooled_call) {
    std::unique_lock lk(pool_mu, std::try_to_lock);
    if (lk.owns_lock()) {
      PooledCallFlag caller;
      pool().run(size_t(chunks), [&](size_t c) {
        PooledCallFlag worker;
        chunk(int64_t(c));
      });
      return;
    }
  }
  run_on_new_threads(chunks, chunk);
}

}  // namespace ignis::cpu
