// ignis server (internal): the pieces shared between the I/O loops, the handler workers and
// HttpResponder. Not part of the server's API; include only from src/server/http_*.cpp.
//
// Threads: an I/O loop owns each connection (socket, input buffer, timers); a worker thread runs
// each request's handler on a Fiber. They meet in the connection's Exchange (its own mutex): the
// handler appends response bytes (sent at once when the socket has room, else buffered and
// flushed by the loop on EPOLLOUT), the loop marks the client gone (reset, error, write timeout,
// shutdown) and wakes the handler through its Waiter.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace ignis::server::detail {

class Worker;
struct Task;

// What a handler blocks on: woken by wake() from any thread (a token arrived, socket space, the
// client went away). On a fiber, wait() yields the worker thread; on a plain thread it sleeps.
class Waiter {
 public:
  // Returns when woken (a wake() since the last wait() returned counts) or after `timeout`.
  void wait(std::chrono::milliseconds timeout);
  void wake();
  // Worker side: binds the waiter to the fiber task running its handler. A connection's waiter
  // serves its requests one after another, and the next one may start on another worker before
  // the previous task has finished returning: unbind(t) clears the binding only while it is t's.
  void bind(Worker* w, Task* t);
  void unbind(Task* t);
  // Worker side, on its own thread: resume t if it is the bound task and still waiting (its timer
  // fired). Returns t to resume, or nullptr.
  Task* take_if_waiting(Task* t);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool signaled_ = false;
  bool waiting_ = false;  // a fiber task is suspended in wait()
  Worker* worker_ = nullptr;
  Task* task_ = nullptr;
};

// One connection's response channel (lives as long as the connection and any handler using it).
struct Exchange {
  std::mutex mu;
  int fd = -1;              // -1 once the loop closed the socket
  std::string out;          // response bytes not yet on the socket
  size_t out_sent = 0;      // bytes of `out` already sent (compacted by the flusher)
  bool gone = false;        // client reset / write failed / timed out / server closing
  bool want_space = false;  // the handler waits for `out` to drain below the low-water mark
  std::chrono::steady_clock::time_point stalled_since{};  // first time `out` could not be sent
  std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  size_t high_water = 256 * 1024;  // a streaming write waits while more than this is pending
  size_t low_water = 64 * 1024;

  // Under mu: sends as much of `out` as the socket takes. False when the client is gone
  // (EPIPE, ECONNRESET, ...), which also sets gone.
  bool flush_locked();
  size_t pending_locked() const { return out.size() - out_sent; }
};

}  // namespace ignis::server::detail
