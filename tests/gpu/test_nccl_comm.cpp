// NcclComm on the GPUs present (label gpu; skips without a device): one rank per GPU through
// ncclCommInitAll, one thread per rank. All-reduce sums (integers: exact), all-gather order,
// send / recv between neighbours (with 2+ GPUs), barrier; abort makes later calls throw CommAborted.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "parallel_nccl/nccl_comm.h"

namespace ignis::parallel {
namespace {

int gpus() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

struct Ranks {
  std::vector<cudaStream_t> streams;
  std::vector<std::unique_ptr<NcclComm>> comms;
  explicit Ranks(int n) {
    std::vector<int> devs;
    for (int d = 0; d < n; ++d) {
      devs.push_back(d);
      cudaSetDevice(d);
      cudaStream_t s;
      cudaStreamCreate(&s);
      streams.push_back(s);
    }
    NcclCommOptions o;
    o.timeout = std::chrono::seconds(30);
    comms = NcclComm::create_all(devs, streams, o);
  }
  ~Ranks() {
    comms.clear();
    for (size_t d = 0; d < streams.size(); ++d) {
      cudaSetDevice(int(d));
      cudaStreamDestroy(streams[d]);
    }
  }
};

TEST(NcclComm, CollectivesOnEveryGpu) {
  const int n = gpus();
  if (n == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped";
  Ranks ranks(n);
  const size_t count = 4099;
  std::vector<std::string> errs(static_cast<size_t>(n));
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] {
      try {
        NcclComm& c = *ranks.comms[size_t(r)];
        cudaSetDevice(r);
        std::vector<float> h(count);
        for (size_t i = 0; i < count; ++i) h[i] = float(int(i % 101) + 1000 * r);
        float *d = nullptr, *g = nullptr;
        cudaMalloc(&d, count * sizeof(float));
        cudaMalloc(&g, count * sizeof(float) * size_t(n));
        cudaMemcpy(d, h.data(), count * sizeof(float), cudaMemcpyHostToDevice);
        c.all_gather(d, g, count);
        c.all_reduce_sum(d, count);
        if (n > 1) {  // ring: send to the next rank, receive from the previous one (grouped)
          float* rx = nullptr;
          cudaMalloc(&rx, count * sizeof(float));
          ncclGroupStart();
          c.send(d, count, (r + 1) % n);
          c.recv(rx, count, (r + n - 1) % n);
          ncclGroupEnd();
          c.synchronize();
          cudaFree(rx);
        }
        c.barrier();
        std::vector<float> sum(count), all(count * size_t(n));
        cudaMemcpy(sum.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost);
        cudaMemcpy(all.data(), g, all.size() * sizeof(float), cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int j = 0; j < n; ++j) want += float(int(i % 101) + 1000 * j);
          if (sum[i] != want) throw Error(fmt::format("sum[{}] = {}, want {}", i, sum[i], want));
          for (int j = 0; j < n; ++j)
            if (all[size_t(j) * count + i] != float(int(i % 101) + 1000 * j)) throw Error("all_gather order");
        }
        cudaFree(d);
        cudaFree(g);
      } catch (const std::exception& e) {
        errs[size_t(r)] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  for (auto& e : errs) EXPECT_EQ(e, "");
}

TEST(NcclComm, AbortMakesLaterCallsThrow) {
  if (gpus() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped";
  Ranks ranks(1);
  NcclComm& c = *ranks.comms[0];
  c.barrier();
  c.abort("test abort");
  EXPECT_TRUE(c.aborted());
  try {
    c.barrier();
    ADD_FAILURE() << "no error";
  } catch (const CommAborted& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0: test abort"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ignis::parallel
