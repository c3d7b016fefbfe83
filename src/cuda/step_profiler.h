// ignis cuda: per-op device time of forward passes, from CUDA events (IGNIS_PROFILE=1).
// Used for the per-kernel breakdown of a decode step in docs/PERF.md; graphs are off while
// profiling (events between graph nodes cannot be read), so figures are for eager passes.
#pragma once
#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <vector>

namespace ignis::cuda {

class StepProfiler {
 public:
  ~StepProfiler();
  // Starts a pass on `s` (its first event).
  void begin(cudaStream_t s, int num_tokens);
  // Records that the op named `name` ended here (time since the previous mark is charged to it).
  void mark(const char* name);
  // Waits for the pass and adds its op times to the totals.
  void end();
  // Totals per op, per pass-size class ("decode" = 1 token per sequence, else "prefill").
  std::string report() const;

 private:
  cudaEvent_t event();
  cudaStream_t stream_ = nullptr;
  int tokens_ = 0;
  std::vector<cudaEvent_t> pool_;
  std::vector<std::pair<const char*, cudaEvent_t>> marks_;  // this pass
  struct Acc {
    double ms = 0;
    long calls = 0;
  };
  std::map<std::string, std::map<std::string, Acc>> totals_;  // class -> op -> time
  std::map<std::string, long> passes_;
  size_t next_ = 0;
};

}  // namespace ignis::cuda
