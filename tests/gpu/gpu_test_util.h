// ignis tests/gpu: helpers for comparing CUDA kernels with host references.
#pragma once
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "cuda/device_buffer.h"
#include "kernels/cuda_check.h"

#define IGNIS_SKIP_WITHOUT_GPU()                                                         \
  do {                                                                                   \
    if (::ignis::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"; \
  } while (0)

namespace ignis::test {

// Values of dtype t stored as raw bytes, plus their exact fp32 values (what the GPU sees).
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<uint8_t> raw;
  std::vector<float> f;  // exact decoded values
  size_t n() const { return f.size(); }
};

inline HostTensor make_tensor(DType t, const std::vector<float>& v) {
  HostTensor h;
  h.dtype = t;
  h.raw.resize(v.size() * dtype_size(t));
  h.f.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&h.raw[i * 4], &v[i], 4);
      h.f[i] = v[i];
    } else {
      uint16_t b = t == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(&h.raw[i * 2], &b, 2);
      h.f[i] = t == DType::BF16 ? bf16_to_f32(b) : f16_to_f32(b);
    }
  }
  return h;
}

inline std::vector<float> random_vec(std::mt19937_64& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline HostTensor random_tensor(std::mt19937_64& rng, DType t, size_t n, float lo = -1.0f, float hi = 1.0f) {
  return make_tensor(t, random_vec(rng, n, lo, hi));
}

inline cuda::DeviceBuffer to_device(const void* data, size_t bytes) {
  cuda::DeviceBuffer b(bytes ? bytes : 4, "test buffer");
  if (bytes) IGNIS_CUDA_CHECK(cudaMemcpy(b.get(), data, bytes, cudaMemcpyHostToDevice));
  return b;
}
inline cuda::DeviceBuffer to_device(const HostTensor& h) { return to_device(h.raw.data(), h.raw.size()); }
template <class T>
cuda::DeviceBuffer to_device(const std::vector<T>& v) {
  return to_device(v.data(), v.size() * sizeof(T));
}

// Poisons a device buffer (0xff bytes: NaN for every float type) so unwritten outputs show.
inline void poison(cuda::DeviceBuffer& b) { IGNIS_CUDA_CHECK(cudaMemset(b.get(), 0xff, b.bytes())); }

inline std::vector<float> from_device(const cuda::DeviceBuffer& b, DType t, size_t n) {
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint8_t> raw(n * dtype_size(t));
  IGNIS_CUDA_CHECK(cudaMemcpy(raw.data(), b.get(), raw.size(), cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  to_f32(t, raw.data(), f.data(), n);
  return f;
}

// Relative L2 error tolerance of a kernel's output in dtype t against an fp32 reference.
inline double tolerance(DType t) { return t == DType::F32 ? 2e-5 : (t == DType::F16 ? 3e-3 : 1.5e-2); }

// ||got - want|| / ||want||; NaN anywhere fails. Prints the first mismatches.
inline double rel_error(const std::vector<float>& got, const std::vector<float>& want, const std::string& what,
                        double tol) {
  EXPECT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (!std::isfinite(got[i])) nan = true;
    num += double(got[i] - want[i]) * double(got[i] - want[i]);
    den += double(want[i]) * double(want[i]);
  }
  const double err = nan ? INFINITY : std::sqrt(num / std::max(den, 1e-30));
  if (!(err <= tol)) {
    int shown = 0;
    const double scale = std::sqrt(den / std::max<size_t>(1, want.size()));
    for (size_t i = 0; i < got.size() && shown < 8; ++i)
      if (!std::isfinite(got[i]) || std::fabs(got[i] - want[i]) > 8 * tol * scale + 1e-6) {
        std::fprintf(stderr, "  %s mismatch [%zu]: got %g want %g\n", what.c_str(), i, got[i], want[i]);
        ++shown;
      }
  }
  EXPECT_LE(err, tol) << what << ": relative error " << err;
  return err;
}

// A random token tree of n nodes (model/batch.h BatchSeq::tree_parent): node 0 the root, node i > 0
// under a node in [max(0, i - reach), i).
inline std::vector<int32_t> random_tree(std::mt19937_64& rng, int n, int reach) {
  std::vector<int32_t> p(size_t(n), -1);
  for (int i = 1; i < n; ++i) {
    const int lo = std::max(0, i - reach);
    p[size_t(i)] = lo + int(rng() % uint64_t(i - lo));
  }
  return p;
}

inline const char* dname(DType t) { return t == DType::F32 ? "f32" : (t == DType::F16 ? "f16" : "bf16"); }

// tests/data, overridable with $IGNIS_TEST_DATA_DIR (carried builds run from another checkout path).
inline std::string test_data_dir() {
  const char* e = std::getenv("IGNIS_TEST_DATA_DIR");
  return e && *e ? e : IGNIS_TEST_DATA_DIR;
}

// Runs enqueue(stream) captured in a CUDA graph on a non-blocking stream, after poisoning `out` (null: nothing).
template <class F>
void replay_in_graph(F&& enqueue, cuda::DeviceBuffer* out) {
  cudaStream_t st;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaGraph_t g;
  cudaGraphExec_t ge;
  IGNIS_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  enqueue(st);
  IGNIS_CUDA_CHECK(cudaStreamEndCapture(st, &g));
  IGNIS_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
  if (out) poison(*out);
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());  // the poison (legacy stream) before the non-blocking stream
  IGNIS_CUDA_CHECK(cudaGraphLaunch(ge, st));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(st));
  IGNIS_CUDA_CHECK(cudaGraphExecDestroy(ge));
  IGNIS_CUDA_CHECK(cudaGraphDestroy(g));
  IGNIS_CUDA_CHECK(cudaStreamDestroy(st));
}

}  // namespace ignis::test
