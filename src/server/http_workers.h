// ignis server (internal): the handler worker pool. A few threads, each a scheduler of fibers:
// a submitted job runs on a new Fiber of the least-loaded worker; when it waits (Waiter::wait)
// the fiber yields and the thread runs other jobs, so thousands of streaming requests share
// O(workers) threads. Jobs stay on their worker until they return.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/fiber.h"
#include "server/http_exchange.h"

namespace ignis::server::detail {

struct Task {
  std::unique_ptr<Fiber> fiber;
  std::shared_ptr<Waiter> waiter;
  std::multimap<std::chrono::steady_clock::time_point, Task*>::iterator timer;
  bool has_timer = false;
};

class Worker {
 public:
  explicit Worker(size_t stack_bytes);
  ~Worker();  // PRECOND: stop() called; joins once every job has returned
  void submit(std::function<void()> job, std::shared_ptr<Waiter> waiter);
  void stop();  // no new jobs; the thread exits once the running ones return
  int load() const { return load_.load(); }

  // Called by Waiter (any thread): `t` waits no longer.
  void make_ready(Task* t);
  // Called by Waiter::wait on this worker's thread: arms a timer for the running task.
  void arm_timer(Task* t, std::chrono::steady_clock::time_point when);

 private:
  void run();
  void resume(Task* t);
  const size_t stack_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::function<void()>, std::shared_ptr<Waiter>>> incoming_;  // under mu_
  std::vector<Task*> ready_;                                                         // under mu_
  bool stop_ = false;                                                                // under mu_
  std::atomic<int> load_{0};
  // Worker thread only.
  std::vector<std::unique_ptr<Task>> tasks_;
  std::multimap<std::chrono::steady_clock::time_point, Task*> timers_;
  std::thread thread_;
};

class WorkerPool {
 public:
  WorkerPool(int threads, size_t stack_bytes);
  ~WorkerPool();  // stops and joins every worker (each after its jobs returned)
  // Runs `job` on a fiber; `waiter` is the one it will wait on (bound to the fiber while it runs).
  void submit(std::function<void()> job, std::shared_ptr<Waiter> waiter);
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<unsigned> next_{0};
};

}  // namespace ignis::server::detail
