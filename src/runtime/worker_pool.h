// ignis runtime: a small persistent pool for the engine thread's fan-out work inside a step
// (today: filling the allowed-token masks of constrained rows). run() blocks until every job
// ran; the calling thread takes jobs too. Threads are started once, so a step pays a wake-up,
// not a thread creation.
#pragma once
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
  void work();
  void take_jobs();
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t n_ = 0, next_ = 0, finished_ = 0;
  unsigned generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace ignis
