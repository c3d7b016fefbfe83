// CudaModel: the GEMM tuning at load (tune_gemms) with its cache file, and the padded GEMM row
// counts of large passes.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "core/log.h"
#include "cuda/cuda_model.h"
#include "cuda/gemm_cache.h"
#include "kernels/cuda_check.h"
#include "kernels/fill.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_quantize.h"
#include "kernels/gemv.h"
#include "kernels/int_gemv.h"

namespace ignis::cuda {

namespace {

// The tuning cache of one load: the file's entries for this GPU and cuBLASLt (read at start), the
// shapes timed now (written back with them at the end). Any file error only costs the cache.
class GemmTuneCache {
 public:
  GemmTuneCache(Gemm& gemm, bool enabled) : gemm_(gemm) {
    if (!enabled) return;
    const std::filesystem::path dir = cache_dir();
    if (dir.empty()) return;
    int dev = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) return;
    key_ = std::string(prop.name) + "-cc" + std::to_string(prop.major) + std::to_string(prop.minor) + "-" +
           std::to_string(prop.multiProcessorCount) + "sm-" + gemm.library_key();  // (a MIG slice has fewer SMs)
    path_ = dir / ("gemm-" + gemm_cache_file_name(key_) + ".txt");
    std::ifstream f(path_);
    if (!f) return;
    std::ostringstream text;
    text << f.rdbuf();
    for (const GemmCacheEntry& c : parse_gemm_cache(text.str(), key_)) entries_[{c.in, c.out, c.m, c.n, c.k}] = c.algo;
  }

  // Uses the cached algorithm of this shape, if any and cuBLASLt accepts it.
  bool apply(const GemmType& t, int m, int n, int k) {
    auto it = entries_.find({t.cache_code(), int(t.out), m, n, k});
    if (it == entries_.end()) return false;
    cublasLtMatmulAlgo_t a;
    static_assert(sizeof(a) == sizeof(it->second));
    std::memcpy(&a, it->second.data(), sizeof(a));
    return gemm_.use_algo(t, m, n, k, a);
  }

  // Records the algorithm now chosen for this shape (after tuning).
  void add(const GemmType& t, int m, int n, int k) {
    if (path_.empty()) return;
    const cublasLtMatmulAlgo_t a = gemm_.algo(t, m, n, k);
    std::memcpy(entries_[{t.cache_code(), int(t.out), m, n, k}].data(), &a, sizeof(a));
    dirty_ = true;
  }

  // Writes every entry back (a temporary file renamed over the old one).
  void save() {
    if (!dirty_ || path_.empty()) return;
    std::vector<GemmCacheEntry> all;
    for (const auto& [s, algo] : entries_) {
      auto [in, out, m, n, k] = s;
      all.push_back({in, out, m, n, k, algo});
    }
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    std::string tmp = path_.string() + ".XXXXXX";  // a temporary file of this writer alone
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
      IGNIS_LOG(Warn, "cuda: cannot write the GEMM tuning cache in {}", path_.parent_path().string());
      return;
    }
    const std::string text = format_gemm_cache(key_, all);
    const bool written = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
    ::close(fd);
    if (written) std::filesystem::rename(tmp, path_, ec);
    if (!written || ec) {
      IGNIS_LOG(Warn, "cuda: cannot write the GEMM tuning cache {}", path_.string());
      std::filesystem::remove(tmp, ec);
    }
  }

 private:
  Gemm& gemm_;
  std::string key_;
  std::filesystem::path path_;
  std::map<std::tuple<int, int, int, int, int>, std::array<uint64_t, 8>> entries_;
  bool dirty_ = false;
};

}  // namespace

// GEMM tuning (CudaModelOptions::gemm_tune; the CLI takes IGNIS_GEMM_TUNE=0/1 over its flag). cuBLASLt's heuristic
// often picks an algorithm 5-20% slower than its fastest candidate, for the prefill shapes and for
// the decode batches alike, and the fastest one changes with the token count
// (bench/gpu/gemm_bench.cpp, docs/PERF.md). So each token count a pass can run its GEMMs on is
// timed here once, on random inputs, with layer 0's weights (Gemm::tune): the decode graph buckets
// (powers of two up to max_batch_size, with the lm_head) and, since passes of more than kGemmPad
// tokens run the four layer GEMMs on the token count rounded up to a multiple of kGemmPad (the
// extra rows compute on stale activations and are never read), every multiple of kGemmPad up to
// max_num_tokens. The choices are kept in a file (gemm_cache.h; gemm_cache off (IGNIS_GEMM_CACHE=0) neither reads
// nor writes it): a later load on the same GPU kind and cuBLASLt version times only what is missing.
void CudaModel::tune_gemms() {
  if (!opt_.gemm_tune || dtype_ == DType::F32) return;
  const auto t0 = std::chrono::steady_clock::now();
  GemmTuneCache cache(*gemm_, opt_.gemm_cache);
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_size();
  const size_t T = size_t(alloc_tokens_);
  kernels::fill_uniform(dtype_, x_.get(), T * H, 1.0f, 1, stream_);
  kernels::fill_uniform(dtype_, attn_.get(), T * Q, 1.0f, 2, stream_);
  kernels::fill_uniform(dtype_, act_.get(), T * I, 1.0f, 3, stream_);
  const LayerWeights& w = layers_[0];
  struct Case {
    const Linear* w;
    const void* x;  // dense input (dtype_); FP8 inputs are codes of it (quantized below per row count)
    void* y;
    DType out;
  };
  const Case layer[] = {{&w.qkv, x_.get(), qkv_.get(), dtype_},
                        {&w.o, attn_.get(), o_.get(), dtype_},
                        {&w.gate_up, x_.get(), gate_up_.get(), dtype_},
                        {&w.down, act_.get(), o_.get(), dtype_}};
  const Case lm_head = {&lm_head_, x_.get(), logits_.get(), DType::F32};
  double heur = 0, tuned = 0;
  int timed = 0, cached = 0;
  auto tune = [&](const Case& c, int m) {
    const Linear& L = *c.w;
    GemmType type;
    GemmOperands ops;
    ops.w = L.ptr;
    ops.y = c.y;
    type.out = c.out;
    if (L.wint()) {
      if (int_path(m, c.out) != IntPath::Dense) return;  // the integer GEMV or GEMM, not cuBLASLt
      ops.w = int_scratch_.get();                         // the dense GEMM runs on the dequantized scratch
      if (!ops.w) return;
    }
    if (L.fp8()) {
      if (use_gemv_ && m <= kernels::kFp8GemvMaxM) return;  // the FP8 GEMV, not cuBLASLt
      type.in = DType::F8_E4M3;
      type.scaling = L.scaling;
      kernels::Fp8Out q;  // random codes and their scales for this row count (dynamic scales)
      q.data = act8_.as<uint8_t>();
      q.scale = act_scale_.as<float>();
      if (L.scaling == kernels::Fp8Scaling::Block) {
        q.group = kernels::kFp8Group;
        q.scale_ld = m;
      }
      kernels::quantize_rows_fp8(dtype_, c.x, L.k, m, L.k, q, stream_);
      ops.x = act8_.get();
      ops.sx = act_scale_.as<float>();
      ops.sw = L.scale.as<float>();
    } else {
      if (dense_path(m, c.out, c.x, ops.w, L.k) != DensePath::Gemm) return;  // a GEMV, not cuBLASLt
      type.in = dtype_;
      ops.x = c.x;
    }
    if (cache.apply(type, m, L.n, L.k)) {
      ++cached;
      return;
    }
    try {
      auto [h, t] = gemm_->tune(type, ops, m, L.n, L.k, kGemmTuneAlgos, kGemmTuneIters, stream_);
      heur += h;
      tuned += t;
      ++timed;
      cache.add(type, m, L.n, L.k);
    } catch (const std::exception& e) {  // tuning is an optimization: the heuristic's choice stays
      IGNIS_LOG(Warn, "cuda: GEMM tuning of {} x {} x {} ({}) failed ({}); keeping cuBLASLt's heuristic choice", m,
                L.n, L.k, L.fp8() ? "fp8" : "dense", e.what());
    }
  };
  // The row counts the GEMMs run on (padded_gemm_rows): every count of a pass of up to kGemmPad
  // tokens (decode buckets, verification and small mixed steps) and every padded prefill count;
  // the lm_head at every count of up to max_logit_rows (head_rows).
  gemm_pad_ = max_tokens_ >= 2 * kGemmPad;
  std::set<int> layer_rows, fp8_layer_rows, lm_rows;
  for (int t = 1; t <= std::min(max_tokens_, kGemmPad); ++t) {
    layer_rows.insert(gemm_rows(t));
    fp8_layer_rows.insert(fp8_rows(t));
  }
  for (int t = 1; t <= max_logit_rows_; ++t) lm_rows.insert(head_rows(t));
  if (gemm_pad_)
    for (int m = 2 * kGemmPad; m <= max_tokens_; m += kGemmPad) {
      layer_rows.insert(m);
      fp8_layer_rows.insert(fp8_rows(m));
    }
  for (const Case& c : layer)
    for (int m : c.w->fp8() ? fp8_layer_rows : layer_rows) tune(c, m);
  for (int m : lm_rows) tune(lm_head, m);
  cache.save();
  gemm_cached_ = cached;
  gemm_timed_ = timed;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  IGNIS_LOG(Info, "cuda: GEMMs for passes of 1..{} and {}..{} tokens: {} from the tuning cache, {} "
            "timed in {:.1f} s ({:.1f}% less time than the heuristic's choices)", std::min(max_tokens_, kGemmPad), 2 * kGemmPad,
            max_tokens_ / kGemmPad * kGemmPad, cached, timed, secs, heur > 0 ? 100.0 * (1.0 - tuned / heur) : 0.0);
}

int CudaModel::padded_gemm_rows(int num_tokens, int pad, int max_tokens) {
  const int step = num_tokens <= 8 ? 1 : num_tokens <= 64 ? 8 : num_tokens <= kGemmPad ? 32 : pad;
  if (step <= 1) return num_tokens;
  const int r = (num_tokens + step - 1) / step * step;
  return r <= max_tokens ? r : num_tokens;
}

int CudaModel::gemm_rows(int T) const { return padded_gemm_rows(T, gemm_pad_ ? kGemmPad : 0, max_tokens_); }

// The lm_head's input rows are x_'s (alloc_tokens_) and its output logits_ (max_logit_rows_).
int CudaModel::head_rows(int rows) const { return padded_gemm_rows(rows, 0, std::min(max_logit_rows_, alloc_tokens_)); }

}  // namespace ignis::cuda
