// ignis parallel_nccl: the Communicator over NCCL, for GPU ranks. Buffers are device memory of
// the rank's GPU; every call is enqueued on the rank's CUDA stream and returns before the data
// moved (stream order is the contract: a kernel enqueued after all_reduce_sum sees the sum), except
// barrier(), which waits. send / recv are ncclSend / ncclRecv: a send completes when the peer's
// recv runs (not buffered, unlike ThreadGroup), so pipeline stages must pair them in order.
//
// Failure: synchronize() (and barrier) wait by polling the stream, ncclCommGetAsyncError, the abort
// flag and the timeout, so a dead peer or a failing rank ends in CommAborted instead of a hung
// cudaStreamSynchronize. abort() (from any thread) calls ncclCommAbort, which also unblocks the
// rank's in-flight NCCL kernels; the communicator cannot be used afterwards.
//
// Not wired into the CUDA backend yet (`ignis` refuses --tensor-parallel-size > 1 on --device
// cuda); what remains is in docs/ARCHITECTURE.md. NVLink multicast (NVLS) stays off: creation sets
// NCCL_NVLS_ENABLE=0 unless NcclCommOptions::allow_nvls.
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace ignis::parallel {

struct NcclCommOptions {
  std::chrono::milliseconds timeout{0};  // synchronize() gives up (and aborts) after this; 0: no limit
  bool allow_nvls = false;               // false: NCCL_NVLS_ENABLE=0 before the communicator is created
};

class NcclComm : public Communicator {
 public:
  // Rank 0 makes the id (ncclGetUniqueId) and hands its bytes to every other rank out of band
  // (same process: a variable; several processes: MPI_Bcast / a file).
  static std::string make_unique_id();
  // One rank of `size` (its GPU `device` is made current); stream: where its calls are enqueued.
  NcclComm(const std::string& unique_id, int size, int rank, int device, cudaStream_t stream, NcclCommOptions opt = {});
  // Every rank of this process at once, one per device (ncclCommInitAll): thread-per-GPU ranks.
  static std::vector<std::unique_ptr<NcclComm>> create_all(const std::vector<int>& devices,
                                                           const std::vector<cudaStream_t>& streams,
                                                           NcclCommOptions opt = {});
  ~NcclComm() override;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* data, size_t count) override;
  void all_gather(const float* send, float* recv, size_t count) override;
  void send(const float* data, size_t count, int peer) override;
  void recv(float* data, size_t count, int peer) override;
  void barrier() override;  // an all-reduce of one float, then synchronize()
  void abort(const std::string& reason) override;
  bool aborted() const override { return aborted_.load(); }
  // Waits for the stream (see above); throws CommAborted on abort, an NCCL async error or the timeout.
  void synchronize();
  ncclComm_t handle() const { return comm_; }
  cudaStream_t stream() const { return stream_; }

 private:
  NcclComm(ncclComm_t comm, int size, int rank, int device, cudaStream_t stream, NcclCommOptions opt);
  void check(ncclResult_t r, const char* what);
  [[noreturn]] void throw_aborted() const;

  ncclComm_t comm_ = nullptr;
  int size_ = 0, rank_ = 0, device_ = 0;
  cudaStream_t stream_ = nullptr;
  NcclCommOptions opt_;
  float* scratch_ = nullptr;  // (1) device float of barrier()
  std::atomic<bool> aborted_{false};
  mutable std::mutex mu_;     // reason_
  std::string reason_;
};

}  // namespace ignis::parallel
