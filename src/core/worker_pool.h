// ignis core: a small persistent pool for fan-out work (the engine thread's filling of
// constrained rows' token masks, the CPU backend's parallel_for). run() blocks until every job
// ran; the calling thread takes jobs too. A thread with nothing to do spins for at most kSpin
// (back-to-back runs, as a forward pass's matmuls are, then cost no futex wake-up), then sleeps on
// a condition variable: an idle pool burns no CPU (OpenBLAS's threads spin ~0.1 s after each call,
// which made a loaded machine 10-20x slower). Threads are started once, so a step pays a wake-up,
// not a thread creation.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ignis {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);  // threads besides the caller (0: run() is a plain loop)
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  int threads() const { return int(workers_.size()); }
  // job(i) for i in [0, n), on the caller and the pool's threads; rethrows the first exception.
  // One run() at a time (the engine thread's).
  void run(size_t n, const std::function<void(size_t)>& job);

 private:
  static constexpr std::chrono::microseconds kSpin{100};
  void work();
  void take_jobs();
  // Spins until pred() or kSpin passed; true when pred() held.
  template <class Pred>
  static bool spin(Pred pred);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t)>* job_ = nullptr;
  // Written under mu_; atomic so that spinning threads may read them without it.
  size_t n_ = 0, next_ = 0;
  std::atomic<size_t> finished_{0};
  std::atomic<unsigned> generation_{0};
  std::atomic<int> busy_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

}  // namespace ignis
