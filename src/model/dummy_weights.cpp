// --load-format dummy: seeded random weights at the config's shapes and dtype.
// Deterministic from the seed whatever the thread count: each tensor is cut into
// fixed blocks, and each block has its own generator seeded from (seed, tensor
// name, block index). Values: N(0, 0.02) for matrices and biases, 1 + N(0, 0.02)
// for RMSNorm weights, so a forward pass stays numerically sane. For speed (an 8B
// model is 8e9 values) each value is drawn from a table of 65536 normal quantiles,
// already converted to the target dtype, indexed by 16 random bits. FP8 checkpoint configs get
// e4m3 codes and constant scales (see weights.h); integer checkpoint configs random packed words,
// constant scales, g_idx c / group and compressed-tensors' weight_shape.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string_view>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "core/error.h"
#include "model/linear_weights.h"
#include "model/weights.h"

namespace ignis {

namespace {

constexpr int64_t kBlock = int64_t(1) << 16;  // elements per generator block
constexpr int kTable = 1 << 16;               // normal quantiles per table
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

// Inverse of the standard normal CDF (Acklam's rational approximation, |err| < 1.2e-9).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549671010229782e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p < 0.02425) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -normal_quantile(1 - p);
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// Raw bits of mean + kStd * z_i for the kTable midpoint quantiles z_i, in dtype t.
std::vector<uint32_t> make_table(DType t, float mean) {
  std::vector<uint32_t> out(kTable);
  for (int i = 0; i < kTable; i++) {
    float x = mean + kStd * float(normal_quantile((i + 0.5) / kTable));
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    out[size_t(i)] = t == DType::F32 ? bits : t == DType::BF16 ? f32_to_bf16(x) : f32_to_f16(x);
  }
  return out;
}

// Anonymous pages, transparent huge pages where the kernel allows (page faults
// dominate filling many GB; 2 MB pages make 512x fewer of them).
std::shared_ptr<uint8_t> alloc_pages(size_t nbytes, const std::string& name) {
  size_t len = std::max<size_t>(nbytes, 1);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  IGNIS_CHECK(p != MAP_FAILED, "dummy weights: cannot allocate {} bytes for tensor {}", nbytes, name);
  if (len >= (size_t(2) << 20)) ::madvise(p, len, MADV_HUGEPAGE);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [len](uint8_t* q) { ::munmap(q, len); });
}

struct Job {
  uint8_t* dst;
  int64_t numel;
  uint64_t tensor_seed;
  const std::vector<uint32_t>* table;
  DType dtype;
};

// FP8 checkpoints: codes of N(0, kFp8CodeStd) (amax about 4.5 sigma = 448 after clipping), one
// weight scale everywhere so the dequantized weights are N(0, kStd) like the dense ones.
constexpr float kFp8CodeStd = 112.0f;
constexpr float kFp8WeightScale = kStd / kFp8CodeStd;
constexpr float kDummyActScale = 8.0f / 448.0f;  // static input and KV scales (|x| up to 8)

template <typename T>
void fill_range(T* dst, int64_t lo, int64_t hi, uint64_t s, const uint32_t* table) {
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    uint64_t r = splitmix64(s);
    dst[i] = T(table[r & 0xffff]);
    dst[i + 1] = T(table[(r >> 16) & 0xffff]);
    dst[i + 2] = T(table[(r >> 32) & 0xffff]);
    dst[i + 3] = T(table[r >> 48]);
  }
  for (uint64_t r = splitmix64(s); i < hi; i++, r >>= 16) dst[i] = T(table[r & 0xffff]);
}

// Fills elements [b*kBlock, min(numel, (b+1)*kBlock)) of job j.
void fill_block(const Job& j, int64_t b) {
  uint64_t s = j.tensor_seed ^ (uint64_t(b) * 0xd1b54a32d192ed03ull);
  splitmix64(s);
  const int64_t lo = b * kBlock, hi = std::min(j.numel, lo + kBlock);
  if (j.dtype == DType::F32 || j.dtype == DType::I32)
    fill_range(reinterpret_cast<uint32_t*>(j.dst), lo, hi, s, j.table->data());
  else if (j.dtype == DType::F8_E4M3) fill_range(j.dst, lo, hi, s, j.table->data());
  else fill_range(reinterpret_cast<uint16_t*>(j.dst), lo, hi, s, j.table->data());
}

}  // namespace

WeightStore make_dummy_weights(const ModelConfig& cfg, uint64_t seed) {
  IGNIS_CHECK(cfg.dtype == DType::F32 || cfg.dtype == DType::F16 || cfg.dtype == DType::BF16,
              "dummy weights: unsupported dtype {}", dtype_name(cfg.dtype));
  WeightStore ws;
  ws.set_origin("<dummy>");
  const std::vector<uint32_t> zero_mean = make_table(cfg.dtype, 0.0f), one_mean = make_table(cfg.dtype, 1.0f);
  std::vector<uint32_t> fp8_codes(kTable);
  for (int i = 0; i < kTable; i++) fp8_codes[size_t(i)] = f32_to_e4m3(kFp8CodeStd * float(normal_quantile((i + 0.5) / kTable)));
  std::vector<uint32_t> words(kTable);  // integer checkpoints: random packed codes / zero points
  {
    uint64_t ws_seed = seed ^ 0x5eedull;
    for (auto& w : words) w = uint32_t(splitmix64(ws_seed));
  }
  std::map<std::string, std::vector<int64_t>> proj_shape;  // "<module>" -> (n, k)
  for (auto& [n, sh] : expected_tensors(cfg))
    if (sh.size() == 2 && n.size() > 7) proj_shape[n.substr(0, n.size() - 7)] = sh;
  const float int_scale = kStd / (cfg.quant.linear.bits == 8 ? 80.0f : 5.0f);
  std::vector<Job> jobs;
  std::vector<std::pair<size_t, int64_t>> blocks;  // (job, block)
  for (const CheckpointTensor& e : checkpoint_tensors(cfg)) {
    const std::string& name = e.names[0];
    const std::vector<int64_t>& shape = e.shapes[0];
    using CK = CheckpointTensor::Kind;
    const DType dtype = e.kind == CK::Fp8 ? DType::F8_E4M3
                        : e.kind == CK::Scale ? DType::F32
                        : e.kind == CK::Packed || e.kind == CK::Index ? DType::I32 : cfg.dtype;
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    size_t nbytes = size_t(numel) * dtype_size(dtype);
    std::shared_ptr<uint8_t> buf = alloc_pages(nbytes, name);
    if (e.kind == CK::Index) {  // g_idx [k]: c / group; weight_shape [2]: (n, k)
      const size_t dot = name.rfind('.');
      const std::string module = name.substr(0, dot);
      auto it = proj_shape.find(module);
      IGNIS_CHECK(it != proj_shape.end(), "dummy weights: {}: no projection {}", name, module);
      auto* v = reinterpret_cast<int32_t*>(buf.get());
      if (name.compare(dot + 1, std::string::npos, "weight_shape") == 0) {
        v[0] = int32_t(it->second[0]), v[1] = int32_t(it->second[1]);
      } else {
        const int64_t g = cfg.quant.spec_for(module, cfg.dtype).group_size(it->second[1]);
        for (int64_t i = 0; i < numel; i++) v[i] = int32_t(i / g);
      }
    } else if (e.kind == CK::Scale) {
      const bool weight_scale = name.find(".weight_scale") != std::string::npos;
      float v = weight_scale ? kFp8WeightScale : kDummyActScale;
      const bool int_scales = weight_scale || (name.size() > 7 && name.compare(name.size() - 7, 7, ".scales") == 0);
      if (cfg.quant.linear.wint() && int_scales) v = int_scale;
      for (int64_t i = 0; i < numel; i++) std::memcpy(buf.get() + 4 * i, &v, 4);
    } else {
      bool is_norm = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && shape.size() == 1;
      uint64_t ts = seed ^ name_hash(name);
      splitmix64(ts);
      const std::vector<uint32_t>* table = dtype == DType::F8_E4M3 ? &fp8_codes
                                           : dtype == DType::I32  ? &words
                                           : is_norm              ? &one_mean
                                                                  : &zero_mean;
      jobs.push_back(Job{buf.get(), numel, ts, table, dtype});
      for (int64_t b = 0; b * kBlock < numel; b++) blocks.push_back({jobs.size() - 1, b});
    }
    TensorRef t;
    t.name = name;
    t.file = "<dummy>";
    t.dtype = dtype;
    t.shape = shape;
    t.data = buf.get();
    t.nbytes = nbytes;
    ws.add(std::move(t));
    ws.keep_alive(std::shared_ptr<const void>(buf));
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
