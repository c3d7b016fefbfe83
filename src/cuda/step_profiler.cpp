#include "cuda/step_profiler.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/cuda_check.h"

namespace ignis::cuda {

StepProfiler::~StepProfiler() {
  for (auto e : pool_) cudaEventDestroy(e);
}

cudaEvent_t StepProfiler::event() {
  if (next_ == pool_.size()) {
    cudaEvent_t e;
    IGNIS_CUDA_CHECK(cudaEventCreate(&e));
    pool_.push_back(e);
  }
  return pool_[next_++];
}

void StepProfiler::begin(cudaStream_t s, int num_tokens) {
  stream_ = s;
  tokens_ = num_tokens;
  next_ = 0;
  marks_.clear();
  mark("begin");
}

void StepProfiler::mark(const char* name) {
  cudaEvent_t e = event();
  IGNIS_CUDA_CHECK(cudaEventRecord(e, stream_));
  marks_.emplace_back(name, e);
}

void StepProfiler::end() {
  if (marks_.empty()) return;
  IGNIS_CUDA_CHECK(cudaEventSynchronize(marks_.back().second));
  // A pass is "decode" when it has one token per row; the caller passes tokens, so classify by size.
  std::string cls = tokens_ <= 256 ? fmt::format("pass of {} tokens", tokens_) : "prefill pass (>256 tokens)";
  passes_[cls]++;
  for (size_t i = 1; i < marks_.size(); ++i) {
    float ms = 0;
    IGNIS_CUDA_CHECK(cudaEventElapsedTime(&ms, marks_[i - 1].second, marks_[i].second));
    Acc& a = totals_[cls][marks_[i].first];
    a.ms += ms;
    a.calls++;
  }
}

std::string StepProfiler::report() const {
  std::string out;
  for (auto& [cls, ops] : totals_) {
    long n = passes_.at(cls);
    double total = 0;
    for (auto& [op, a] : ops) total += a.ms;
    out += fmt::format("profile: {} ({} passes, {:.3f} ms per pass)\n", cls, n, total / double(n));
    std::vector<std::pair<std::string, Acc>> v(ops.begin(), ops.end());
    std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.second.ms > y.second.ms; });
    for (auto& [op, a] : v)
      out += fmt::format("  {:<16} {:9.3f} ms/pass {:6.1f} %  ({} launches/pass)\n", op, a.ms / double(n),
                         100.0 * a.ms / total, a.calls / n);
  }
  return out;
}

}  // namespace ignis::cuda
