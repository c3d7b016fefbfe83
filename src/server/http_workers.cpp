// ignis server: Waiter and the fiber worker pool (see http_workers.h).
#include "server/http_workers.h"

#include "core/log.h"

namespace ignis::server::detail {

using Clock = std::chrono::steady_clock;

// ---- Waiter ----
// Lock order: Waiter::mu_ before Worker::mu_. A bound task is alive and its worker too (a worker
// is destroyed only after its tasks returned, and a task unbinds itself before it is freed).

void Waiter::bind(Worker* w, Task* t) {
  std::lock_guard lk(mu_);
  worker_ = w;
  task_ = t;
  waiting_ = false;
}

void Waiter::wake() {
  std::lock_guard lk(mu_);
  signaled_ = true;
  if (waiting_ && task_) {
    waiting_ = false;
    worker_->make_ready(task_);
  }
  cv_.notify_all();
}

void Waiter::unbind(Task* t) {
  std::lock_guard lk(mu_);
  if (task_ != t) return;  // the connection's next request is already bound (another worker)
  worker_ = nullptr;
  task_ = nullptr;
  waiting_ = false;
}

Task* Waiter::take_if_waiting(Task* t) {
  std::lock_guard lk(mu_);
  if (!waiting_ || !task_ || task_ != t) return nullptr;
  waiting_ = false;
  return task_;
}

void Waiter::wait(std::chrono::milliseconds timeout) {
  Fiber* f = Fiber::current();
  std::unique_lock lk(mu_);
  if (signaled_) {
    signaled_ = false;
    return;
  }
  if (f && task_) {
    waiting_ = true;
    Worker* w = worker_;
    Task* t = task_;
    lk.unlock();
    w->arm_timer(t, Clock::now() + timeout);
    Fiber::yield();  // resumed by wake() or by the timer
    lk.lock();
    waiting_ = false;
    signaled_ = false;
    return;
  }
  cv_.wait_for(lk, timeout, [&] { return signaled_; });
  signaled_ = false;
}

// ---- Worker ----

Worker::Worker(size_t stack_bytes) : stack_bytes_(stack_bytes), thread_([this] { run(); }) {}

Worker::~Worker() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::submit(std::function<void()> job, std::shared_ptr<Waiter> waiter) {
  load_++;
  {
    std::lock_guard lk(mu_);
    incoming_.emplace_back(std::move(job), std::move(waiter));
  }
  cv_.notify_one();
}

void Worker::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
}

void Worker::make_ready(Task* t) {
  {
    std::lock_guard lk(mu_);
    ready_.push_back(t);
  }
  cv_.notify_one();
}

void Worker::arm_timer(Task* t, Clock::time_point when) {
  if (t->has_timer) timers_.erase(t->timer);
  t->timer = timers_.emplace(when, t);
  t->has_timer = true;
}

void Worker::resume(Task* t) {
  if (t->has_timer) {
    timers_.erase(t->timer);
    t->has_timer = false;
  }
  t->fiber->resume();
  if (!t->fiber->done()) return;
  t->waiter->unbind(t);  // late wake()s (an engine push after the end) go nowhere
  if (t->has_timer) timers_.erase(t->timer);
  for (auto& p : tasks_) {
    if (p.get() != t) continue;
    p = std::move(tasks_.back());
    tasks_.pop_back();
    break;
  }
  load_--;
}

void Worker::run() {
  for (;;) {
    decltype(incoming_) jobs;
    std::vector<Task*> ready;
    {
      std::unique_lock lk(mu_);
      auto has_work = [&] { return !incoming_.empty() || !ready_.empty() || (stop_ && tasks_.empty()); };
      if (timers_.empty()) cv_.wait(lk, has_work);
      else cv_.wait_until(lk, timers_.begin()->first, has_work);
      jobs.swap(incoming_);
      ready.swap(ready_);
      if (stop_ && tasks_.empty() && jobs.empty() && ready.empty()) return;
    }
    for (auto& [job, waiter] : jobs) {
      auto task = std::make_unique<Task>();
      Task* t = task.get();
      t->waiter = waiter;
      t->fiber = std::make_unique<Fiber>(std::move(job), stack_bytes_);
      waiter->bind(this, t);
      tasks_.push_back(std::move(task));
      resume(t);
    }
    for (Task* t : ready) resume(t);
    // Timers that are due: the task resumes if it is still waiting (a wake() may have won).
    auto now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      Task* t = timers_.begin()->second;
      timers_.erase(timers_.begin());
      t->has_timer = false;
      if (Task* r = t->waiter->take_if_waiting(t)) resume(r);
    }
  }
}

// ---- WorkerPool ----

WorkerPool::WorkerPool(int threads, size_t stack_bytes) {
  for (int i = 0; i < std::max(1, threads); i++) workers_.push_back(std::make_unique<Worker>(stack_bytes));
}

WorkerPool::~WorkerPool() {
  for (auto& w : workers_) w->stop();
  workers_.clear();  // joins each
}

void WorkerPool::submit(std::function<void()> job, std::shared_ptr<Waiter> waiter) {
  // The least-loaded worker, starting from a rotating index so ties spread.
  size_t n = workers_.size(), start = next_++ % n, best = start;
  for (size_t k = 1; k < n; k++) {
    size_t i = (start + k) % n;
    if (workers_[i]->load() < workers_[best]->load()) best = i;
  }
  workers_[best]->submit(std::move(job), std::move(waiter));
}

}  // namespace ignis::server::detail
