// --load-format dummy: seeded random weights at the config's shapes and dtype.
// Deterministic from the seed whatever the thread count: each tensor is cut into
// fixed blocks, and each block has its own generator seeded from (seed, tensor
// name, block index). Values: N(0, 0.02) (Irwin-Hall approximation of four 16-bit
// uniforms, bounded at +-3.5 sigma) for matrices and biases, 1 + N(0, 0.02) for
// RMSNorm weights, so a forward pass stays numerically sane.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string_view>
#include <thread>

#include "core/error.h"
#include "model/weights.h"

namespace ignis {

namespace {

constexpr int64_t kBlock = int64_t(1) << 16;  // elements per generator block
constexpr float kStd = 0.02f;

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t name_hash(std::string_view s) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return h;
}

struct Job {
  uint8_t* dst;
  DType dtype;
  int64_t numel;
  uint64_t tensor_seed;
  float mean;
};

// Fills elements [b*kBlock, min(numel, (b+1)*kBlock)) of job j.
void fill_block(const Job& j, int64_t b) {
  uint64_t s = j.tensor_seed ^ (uint64_t(b) * 0xd1b54a32d192ed03ull);
  splitmix64(s);
  const int64_t lo = b * kBlock, hi = std::min(j.numel, lo + kBlock);
  // sum of 4 uniforms on [0,1): mean 2, variance 1/3
  const float scale = kStd * std::sqrt(3.0f) / 65536.0f, offset = 2.0f * 65536.0f;
  for (int64_t i = lo; i < hi; i++) {
    uint64_t r = splitmix64(s);
    float sum = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
    float x = j.mean + (sum - offset) * scale;
    switch (j.dtype) {
      case DType::F32: reinterpret_cast<float*>(j.dst)[i] = x; break;
      case DType::BF16: reinterpret_cast<uint16_t*>(j.dst)[i] = f32_to_bf16(x); break;
      case DType::F16: reinterpret_cast<uint16_t*>(j.dst)[i] = f32_to_f16(x); break;
      default: break;  // rejected before
    }
  }
}

}  // namespace

WeightStore make_dummy_weights(const ModelConfig& cfg, uint64_t seed) {
  IGNIS_CHECK(cfg.dtype == DType::F32 || cfg.dtype == DType::F16 || cfg.dtype == DType::BF16,
              "dummy weights: unsupported dtype {}", dtype_name(cfg.dtype));
  WeightStore ws;
  ws.set_origin("<dummy>");
  std::vector<Job> jobs;
  std::vector<std::pair<size_t, int64_t>> blocks;  // (job, block)
  for (auto& [name, shape] : expected_tensors(cfg)) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    size_t nbytes = size_t(numel) * dtype_size(cfg.dtype);
    std::shared_ptr<uint8_t[]> buf(new uint8_t[std::max<size_t>(nbytes, 1)]);  // uninitialized on purpose
    bool is_norm = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && shape.size() == 1;
    uint64_t ts = seed ^ name_hash(name);
    splitmix64(ts);
    jobs.push_back(Job{buf.get(), cfg.dtype, numel, ts, is_norm ? 1.0f : 0.0f});
    for (int64_t b = 0; b * kBlock < numel; b++) blocks.push_back({jobs.size() - 1, b});
    TensorRef t;
    t.name = name;
    t.file = "<dummy>";
    t.dtype = cfg.dtype;
    t.shape = shape;
    t.data = buf.get();
    t.nbytes = nbytes;
    ws.add(std::move(t));
    ws.keep_alive(std::shared_ptr<const void>(buf, buf.get()));
  }
  unsigned n_threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 64));
  n_threads = unsigned(std::min<size_t>(n_threads, blocks.size()));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k; (k = next.fetch_add(1)) < blocks.size();) fill_block(jobs[blocks[k].first], blocks[k].second);
  };
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n_threads; i++) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return ws;
}

}  // namespace ignis
