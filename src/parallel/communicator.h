// ignis parallel: the collectives tensor and pipeline parallelism need, behind one interface.
// Two implementations: ThreadGroup's communicators (ranks are threads of this process, buffers are
// host memory; thread_comm.h), used by the CPU backend and `make test`, and NcclComm (ranks are
// GPUs, buffers are device memory, calls are enqueued on a CUDA stream; src/parallel_nccl/).
//
// Every rank of a communicator calls the same collectives in the same order with the same counts
// (an implementation may check it). A rank that fails calls abort(): every blocked or later call
// of every rank then throws CommAborted naming the rank and its reason, instead of waiting forever.
#pragma once
#include <cstddef>
#include <string>

#include "core/error.h"

namespace ignis::parallel {

// Thrown by a communicator's calls after abort() (from any rank), or after an implementation found
// the ranks out of step (different collectives, counts, or a timeout).
class CommAborted : public Error {
 public:
  explicit CommAborted(const std::string& msg) : Error(msg) {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data (count) := the element-wise sum over ranks, in place. The result is identical on every
  // rank (ThreadGroup sums in rank order 0, 1, ..., so it is also deterministic).
  virtual void all_reduce_sum(float* data, size_t count) = 0;
  // recv (size() * count) := every rank's send (count), in rank order. send may not alias recv.
  virtual void all_gather(const float* send, float* recv, size_t count) = 0;
  // Point to point; a send matches the peer's recv of the same count (in order per pair of ranks).
  // ThreadGroup's send is buffered (returns once copied); NCCL's pairs in a ncclGroup on its stream.
  virtual void send(const float* data, size_t count, int peer) = 0;
  virtual void recv(float* data, size_t count, int peer) = 0;
  virtual void barrier() = 0;
  // Marks the communicator failed for every rank (callable from any thread, idempotent: the first
  // reason wins) and wakes every rank blocked in a call.
  virtual void abort(const std::string& reason) = 0;
  virtual bool aborted() const = 0;
};

}  // namespace ignis::parallel
