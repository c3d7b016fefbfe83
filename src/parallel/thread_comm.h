// ignis parallel: communicators for ranks that are threads of one process (the CPU backend's
// tensor / pipeline parallelism). Collectives read the other ranks' buffers directly (shared
// memory) between generation-counted barriers (mutex + condition variable); send copies into a
// per-(source, destination) mailbox and returns, recv waits for it. Every wait also wakes on
// abort() and, with a timeout, aborts the group naming the ranks that never arrived.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace ignis::parallel {

struct ThreadGroupOptions {
  // A rank that waits longer than this in one call aborts the group (0: wait until every rank
  // arrives or one aborts). A CPU forward pass of a large model may keep a rank busy for seconds.
  std::chrono::milliseconds timeout{0};
  std::string name = "thread group";  // for messages
};

class ThreadGroup {
 public:
  explicit ThreadGroup(int size, ThreadGroupOptions opt = {});
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  int size() const { return size_; }
  // The communicator of `rank` (owned by the group; one thread uses it at a time).
  Communicator& comm(int rank);
  void abort(const std::string& reason);
  bool aborted() const;
  // Clears an abort and every pending message. Only while no rank is inside a call (the owner of
  // the rank threads calls it after they all returned), so the group can run the next step.
  void reset();

 private:
  class Rank;
  friend class Rank;
  enum class Op : uint8_t { None, AllReduce, AllGather, Barrier };
  struct Slot {
    Op op = Op::None;
    size_t count = 0;
    const float* src = nullptr;
    float* dst = nullptr;
  };
  // Waits until every rank arrived at this phase; throws CommAborted on abort or timeout.
  void arrive_and_wait(std::unique_lock<std::mutex>& lk, int rank, const char* what);
  [[noreturn]] void throw_aborted_locked() const;
  void abort_locked(const std::string& reason);
  void collective(int rank, Op op, const float* src, float* dst, size_t count);
  void send(int from, int to, const float* data, size_t count);
  void recv(int to, int from, float* data, size_t count);

  const int size_;
  const ThreadGroupOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool aborted_ = false;
  std::string reason_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<uint8_t> present_;  // (size) which ranks arrived at the current phase (timeout message)
  std::vector<Slot> slots_;       // (size)
  std::vector<std::deque<std::vector<float>>> mail_;  // (size * size) [from * size + to]
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace ignis::parallel
