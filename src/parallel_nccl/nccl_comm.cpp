#include "parallel_nccl/nccl_comm.h"

#include <cstdlib>
#include <cstring>
#include <thread>

namespace ignis::parallel {

namespace {

void nvls_off(const NcclCommOptions& opt) {
  if (!opt.allow_nvls) ::setenv("NCCL_NVLS_ENABLE", "0", 1);  // read by NCCL when a communicator is created
}

void check_cuda(cudaError_t e, const char* what) {
  IGNIS_CHECK(e == cudaSuccess, "nccl comm: {}: {}", what, cudaGetErrorString(e));
}

}  // namespace

std::string NcclComm::make_unique_id() {
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  IGNIS_CHECK(r == ncclSuccess, "nccl comm: ncclGetUniqueId: {}", ncclGetErrorString(r));
  return std::string(id.internal, sizeof(id.internal));
}

NcclComm::NcclComm(ncclComm_t comm, int size, int rank, int device, cudaStream_t stream, NcclCommOptions opt)
    : comm_(comm), size_(size), rank_(rank), device_(device), stream_(stream), opt_(opt) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  check_cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc");
}

NcclComm::NcclComm(const std::string& unique_id, int size, int rank, int device, cudaStream_t stream,
                   NcclCommOptions opt)
    : size_(size), rank_(rank), device_(device), stream_(stream), opt_(opt) {
  IGNIS_CHECK(unique_id.size() == sizeof(ncclUniqueId::internal), "nccl comm: a unique id has {} bytes, got {}",
              sizeof(ncclUniqueId::internal), unique_id.size());
  IGNIS_CHECK(size >= 1 && rank >= 0 && rank < size, "nccl comm: rank {} of {}", rank, size);
  nvls_off(opt_);
  ncclUniqueId id;
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 1;
  const ncclResult_t r = ncclCommInitRankConfig(&comm_, size, id, rank, &config);
  IGNIS_CHECK(r == ncclSuccess, "nccl comm: rank {} of {} on GPU {}: ncclCommInitRankConfig: {}", rank, size, device,
              ncclGetErrorString(r));
  check_cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc");
}

std::vector<std::unique_ptr<NcclComm>> NcclComm::create_all(const std::vector<int>& devices,
                                                            const std::vector<cudaStream_t>& streams,
                                                            NcclCommOptions opt) {
  IGNIS_CHECK(!devices.empty() && devices.size() == streams.size(), "nccl comm: {} devices with {} streams",
              devices.size(), streams.size());
  nvls_off(opt);
  std::vector<ncclComm_t> comms(devices.size());
  const ncclResult_t r = ncclCommInitAll(comms.data(), int(devices.size()), devices.data());
  IGNIS_CHECK(r == ncclSuccess, "nccl comm: ncclCommInitAll over {} GPUs: {}", devices.size(), ncclGetErrorString(r));
  std::vector<std::unique_ptr<NcclComm>> out;
  for (size_t i = 0; i < devices.size(); ++i)
    out.emplace_back(new NcclComm(comms[i], int(devices.size()), int(i), devices[i], streams[i], opt));
  return out;
}

NcclComm::~NcclComm() {
  if (scratch_) {
    cudaSetDevice(device_);
    cudaFree(scratch_);
  }
  if (comm_ && !aborted_.load()) ncclCommDestroy(comm_);
}

void NcclComm::throw_aborted() const {
  std::lock_guard lk(mu_);
  throw CommAborted(fmt::format("nccl communicator (rank {} of {}) aborted: {}", rank_, size_, reason_));
}

void NcclComm::abort(const std::string& reason) {
  {
    std::lock_guard lk(mu_);
    if (reason_.empty()) reason_ = fmt::format("rank {}: {}", rank_, reason);
  }
  if (!aborted_.exchange(true) && comm_) ncclCommAbort(comm_);
}

void NcclComm::check(ncclResult_t r, const char* what) {
  if (r == ncclSuccess || r == ncclInProgress) return;
  abort(fmt::format("{}: {} ({})", what, ncclGetErrorString(r), ncclGetLastError(comm_)));
  throw_aborted();
}

void NcclComm::all_reduce_sum(float* data, size_t count) {
  if (aborted_) throw_aborted();
  check(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
}

void NcclComm::all_gather(const float* send, float* recv, size_t count) {
  if (aborted_) throw_aborted();
  check(ncclAllGather(send, recv, count, ncclFloat32, comm_, stream_), "ncclAllGather");
}

void NcclComm::send(const float* data, size_t count, int peer) {
  IGNIS_CHECK(peer >= 0 && peer < size_ && peer != rank_, "nccl comm: rank {} cannot send to rank {}", rank_, peer);
  if (aborted_) throw_aborted();
  check(ncclSend(data, count, ncclFloat32, peer, comm_, stream_), "ncclSend");
}

void NcclComm::recv(float* data, size_t count, int peer) {
  IGNIS_CHECK(peer >= 0 && peer < size_ && peer != rank_, "nccl comm: rank {} cannot receive from rank {}", rank_,
              peer);
  if (aborted_) throw_aborted();
  check(ncclRecv(data, count, ncclFloat32, peer, comm_, stream_), "ncclRecv");
}

void NcclComm::barrier() {
  all_reduce_sum(scratch_, 1);
  synchronize();
}

void NcclComm::synchronize() {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (aborted_) throw_aborted();
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) {
      abort(fmt::format("stream: {}", cudaGetErrorString(e)));
      throw_aborted();
    }
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) {
      abort(fmt::format("asynchronous NCCL error: {} ({})", ncclGetErrorString(async), ncclGetLastError(comm_)));
      throw_aborted();
    }
    if (opt_.timeout.count() > 0 && std::chrono::steady_clock::now() - start > opt_.timeout) {
      abort(fmt::format("waited more than {} ms for the stream (a peer stopped?)", opt_.timeout.count()));
      throw_aborted();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace ignis::parallel
