// ignis server: a stackful coroutine (ucontext) so a request handler written as straight-line
// blocking code can wait for tokens or socket space without holding a thread: it yields back to
// the worker thread that resumes it. A fiber runs only on the thread that created it (no
// migration: thread-locals and errno stay right). Stacks are mmap'd with a guard page below them
// (an overflow faults instead of corrupting memory); only touched pages cost memory.
#pragma once
#include <ucontext.h>

#include <cstddef>
#include <functional>

namespace ignis::server {

class Fiber {
 public:
  Fiber(std::function<void()> fn, size_t stack_bytes);
  ~Fiber();  // PRECOND: done() or never resumed
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Runs the fiber until it yields or returns (from the owning thread, not from inside a fiber).
  void resume();
  bool done() const { return done_; }
  // Inside a fiber: switches back to the resume() that ran it. PRECOND: current() != nullptr.
  // Never call it inside a catch block (the thread's caught-exception stack is per thread).
  static void yield();
  // The fiber running on this thread, nullptr on a plain thread stack.
  static Fiber* current();

 private:
  static void entry();
  std::function<void()> fn_;
  void* stack_ = nullptr;  // mapping: guard page + stack
  size_t map_bytes_ = 0;
  ucontext_t ctx_{}, caller_{};
  bool done_ = false;
  // AddressSanitizer bookkeeping of the stack we switch back to (unused without ASan).
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  void* fake_stack_ = nullptr;
};

}  // namespace ignis::server
