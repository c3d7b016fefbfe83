#include "core/worker_pool.h"

namespace ignis {

template <class Pred>
bool WorkerPool::spin(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

// Takes jobs of the current run until none is left (mu_ not held on entry or exit).
void WorkerPool::take_jobs() {
  std::unique_lock lk(mu_);
  while (next_ < n_) {
    const size_t i = next_++;
    const auto* job = job_;
    lk.unlock();
    try {
      (*job)(i);
    } catch (...) {
      std::lock_guard elk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    lk.lock();
    if (++finished_ == n_) done_.notify_all();
  }
}

void WorkerPool::work() {
  unsigned seen = 0;
  for (;;) {
    spin([&] { return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock lk(mu_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      ++busy_;
    }
    take_jobs();
    {
      std::lock_guard lk(mu_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
}

void WorkerPool::run(size_t n, const std::function<void(size_t)>& job) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (size_t i = 0; i < n; ++i) job(i);
    return;
  }
  {
    std::lock_guard lk(mu_);
    job_ = &job;
    n_ = n;
    next_ = finished_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  take_jobs();
  std::exception_ptr err;
  spin([&] { return finished_.load(std::memory_order_acquire) == n && busy_.load(std::memory_order_acquire) == 0; });
  {
    std::unique_lock lk(mu_);
    // Every job finished and no worker still inside take_jobs() of this run (it reads job_ / n_).
    done_.wait(lk, [&] { return finished_ == n_ && busy_ == 0; });
    job_ = nullptr;
    n_ = 0;
    err = error_;
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace ignis
