#include "cuda/medusa_heads.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/cuda_check.h"
#include "kernels/medusa.h"
#include "kernels/sampling.h"
#include "sampling/sampler.h"

namespace ignis::cuda {

namespace {

constexpr int kChunkRows = 128;  // lm_head rows per GEMM (bounds the fp32 logits buffer)

// n fp32 values to a new device buffer of `dtype` (converted on the host in chunks).
DeviceBuffer upload(const float* src, size_t n, DType dtype, const std::string& what) {
  IGNIS_CHECK(src != nullptr, "medusa heads: {} missing", what);
  const size_t es = dtype_size(dtype);
  DeviceBuffer buf(n * es, what);
  if (dtype == DType::F32) {
    IGNIS_CUDA_CHECK(cudaMemcpy(buf.get(), src, n * 4, cudaMemcpyHostToDevice));
    return buf;
  }
  const size_t chunk = size_t(1) << 22;
  std::vector<uint16_t> staging(std::min(n, chunk));
  for (size_t i = 0; i < n; i += chunk) {
    const size_t c = std::min(chunk, n - i);
    for (size_t j = 0; j < c; ++j)
      staging[j] = dtype == DType::BF16 ? f32_to_bf16(src[i + j]) : f32_to_f16(src[i + j]);
    IGNIS_CUDA_CHECK(cudaMemcpy(buf.as<char>() + i * es, staging.data(), c * es, cudaMemcpyHostToDevice));
  }
  return buf;
}

}  // namespace

DeviceMedusaHeads::DeviceMedusaHeads(const MedusaHeadsHost& host, DType dtype)
    : hidden_(host.hidden), vocab_(host.vocab), dtype_(dtype) {
  IGNIS_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
              "medusa heads: dtype {} (F32, F16 or BF16)", dtype_name(dtype));
  IGNIS_CHECK(hidden_ > 0 && vocab_ > 0 && !host.heads.empty() && host.lm_heads.size() == host.heads.size(),
              "medusa heads: {} heads with {} lm_heads, hidden {}, vocabulary {}", host.heads.size(),
              host.lm_heads.size(), hidden_, vocab_);
  IGNIS_CHECK(vocab_ <= kernels::kMaxSampleVocab, "medusa heads: vocabulary {} above the GPU ranking's {}", vocab_,
              kernels::kMaxSampleVocab);
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  const size_t H = size_t(hidden_);
  for (size_t i = 0; i < host.heads.size(); ++i) {
    std::vector<Block> blocks;
    for (const auto& b : host.heads[i]) {
      Block d;
      d.w = upload(b.w, H * H, dtype_, "medusa ResBlock weight");
      d.b = upload(b.b, H, DType::F32, "medusa ResBlock bias");
      weight_bytes_ += d.w.bytes() + d.b.bytes();
      blocks.push_back(std::move(d));
    }
    heads_.push_back(std::move(blocks));
    int lm = -1;
    for (size_t j = 0; j < i && lm < 0; ++j)
      if (host.lm_heads[j] == host.lm_heads[i]) lm = head_lm_[j];
    if (lm < 0) {
      lm = int(lm_.size());
      lm_.push_back(upload(host.lm_heads[i], size_t(vocab_) * H, dtype_, "medusa lm_head"));
      weight_bytes_ += lm_.back().bytes();
    }
    head_lm_.push_back(lm);
  }
  logits_ = DeviceBuffer(size_t(kChunkRows) * size_t(vocab_) * 4, "medusa logits");
}

DeviceMedusaHeads::~DeviceMedusaHeads() {
  if (stream_) cudaStreamDestroy(stream_);
}

void DeviceMedusaHeads::reserve(int m, int depth) {
  if (m <= cap_m_ && depth <= cap_depth_) return;
  cap_m_ = std::max(m, cap_m_);
  cap_depth_ = std::max(depth, cap_depth_);
  const size_t H = size_t(hidden_), M = size_t(cap_m_), R = M * size_t(cap_depth_);
  d_h_ = DeviceBuffer(M * H * 4, "medusa hidden states");
  x32_ = DeviceBuffer(M * H * 4, "medusa residual");
  y_ = DeviceBuffer(M * H * 4, "medusa ResBlock output");
  xs_ = DeviceBuffer(R * H * dtype_size(dtype_), "medusa lm_head input");
  d_rows_ = DeviceBuffer(R * sizeof(kernels::SampleRow), "medusa ranking rows");
  d_token_ = DeviceBuffer(R * 4, "medusa tokens");
  d_logprob_ = DeviceBuffer(R * 4, "medusa logprobs");
  d_top_ids_ = DeviceBuffer(R * kernels::kMaxTopLogprobs * 4, "medusa top ids");
  d_top_lp_ = DeviceBuffer(R * kernels::kMaxTopLogprobs * 4, "medusa top logprobs");
  d_status_ = DeviceBuffer(R * 4, "medusa row status");
  h_rows_ = PinnedBuffer(R * sizeof(kernels::SampleRow));
  h_top_ids_ = PinnedBuffer(R * kernels::kMaxTopLogprobs * 4);
  h_status_ = PinnedBuffer(R * 4);
}

// Rows [row0, row0 + rows) of xs_ through lm_ `lm`, ranked: on the GPU when every row's k fits the
// kernel (results in d_top_ids_ / d_status_), else on the host (results in host_ids_ /
// host_status_).
void DeviceMedusaHeads::rank_rows(int row0, int rows, int lm, const std::vector<int>& row_k) {
  const size_t H = size_t(hidden_), V = size_t(vocab_);
  const char* x = xs_.as<char>() + size_t(row0) * H * dtype_size(dtype_);
  gemm_.matmul(dtype_, DType::F32, x, lm_[size_t(lm)].get(), logits_.get(), rows, vocab_, hidden_, stream_);
  bool device = true;
  for (int r = 0; r < rows; ++r) device &= row_k[size_t(row0 + r)] <= kernels::kMaxTopLogprobs;
  if (device) {
    auto* hr = h_rows_.as<kernels::SampleRow>() + row0;
    for (int r = 0; r < rows; ++r) {
      hr[r] = kernels::SampleRow{};
      hr[r].temperature = 0;
      hr[r].num_logprobs = row_k[size_t(row0 + r)];
    }
    auto* dr = d_rows_.as<kernels::SampleRow>() + row0;
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(dr, hr, size_t(rows) * sizeof(kernels::SampleRow), cudaMemcpyHostToDevice, stream_));
    kernels::SampleOut out;
    out.token = d_token_.as<int32_t>() + row0;
    out.logprob = d_logprob_.as<float>() + row0;
    out.top_ids = d_top_ids_.as<int32_t>() + size_t(row0) * kernels::kMaxTopLogprobs;
    out.top_logprobs = d_top_lp_.as<float>() + size_t(row0) * kernels::kMaxTopLogprobs;
    out.status = d_status_.as<int32_t>() + row0;
    kernels::sample_rows(dr, rows, logits_.as<float>(), vocab_, kernels::SampleLists{}, out, stream_);
    return;
  }
  host_logits_.resize(size_t(rows) * V);
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(host_logits_.data(), logits_.get(), host_logits_.size() * 4, cudaMemcpyDeviceToHost,
                                   stream_));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int r = 0; r < rows; ++r) {
    const float* lg = host_logits_.data() + size_t(r) * V;
    const size_t row = size_t(row0 + r);
    host_ids_[row].resize(size_t(row_k[row]));
    const bool ok = top_k_ids(lg, int(V), row_k[row], host_ids_[row].data());
    if (!ok) host_ids_[row].clear();
    host_status_[row] = ok ? kernels::kSampleOk : kernels::kSampleBadLogit;
  }
}

void DeviceMedusaHeads::top_tokens(const float* h, int m, const std::vector<int>& topk,
                                   std::vector<std::vector<int32_t>>& top, std::vector<char>& bad) {
  const int depth = int(topk.size());
  IGNIS_CHECK(depth <= num_heads(), "medusa heads: top tokens of {} heads, there are {}", depth, num_heads());
  IGNIS_CHECK(m >= 0, "medusa heads: {} rows", m);
  for (int k : topk) IGNIS_CHECK(k >= 1 && k <= vocab_, "medusa heads: top {} of a vocabulary of {}", k, vocab_);
  top.resize(size_t(depth));
  bad.assign(size_t(m), 0);
  if (m == 0 || depth == 0) {
    for (auto& t : top) t.clear();
    return;
  }
  reserve(m, depth);
  const size_t H = size_t(hidden_), M = size_t(m), es = dtype_size(dtype_);
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_h_.get(), h, M * H * 4, cudaMemcpyHostToDevice, stream_));
  for (int d = 0; d < depth; ++d) {
    void* x = xs_.as<char>() + size_t(d) * M * H * es;
    kernels::medusa_input(dtype_, d_h_.as<float>(), m, hidden_, x32_.as<float>(), x, stream_);
    for (const Block& b : heads_[size_t(d)]) {
      gemm_.matmul(dtype_, DType::F32, x, b.w.get(), y_.get(), m, hidden_, hidden_, stream_);
      kernels::medusa_resblock(dtype_, y_.as<float>(), b.b.as<float>(), m, hidden_, x32_.as<float>(), x, stream_);
    }
  }
  // Heads sharing an lm_head (consecutive in the stack) run as one GEMM over all their rows.
  const size_t R = M * size_t(depth);
  std::vector<int> row_k(R);
  for (int d = 0; d < depth; ++d) std::fill_n(row_k.begin() + long(size_t(d) * M), M, topk[size_t(d)]);
  host_ids_.resize(R);
  host_status_.assign(R, -1);
  for (int d = 0; d < depth;) {
    int e = d + 1;
    while (e < depth && head_lm_[size_t(e)] == head_lm_[size_t(d)]) ++e;
    const int end = e * m;
    for (int row = d * m; row < end; row += kChunkRows) rank_rows(row, std::min(kChunkRows, end - row), head_lm_[size_t(d)], row_k);
    d = e;
  }
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_top_ids_.as<void>(), d_top_ids_.get(), R * kernels::kMaxTopLogprobs * 4,
                                   cudaMemcpyDeviceToHost, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_status_.as<void>(), d_status_.get(), R * 4, cudaMemcpyDeviceToHost, stream_));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int d = 0; d < depth; ++d) {
    const size_t k = size_t(topk[size_t(d)]);
    top[size_t(d)].assign(M * k, 0);
    for (size_t r = 0; r < M; ++r) {
      const size_t row = size_t(d) * M + r;
      const bool on_host = host_status_[row] >= 0;
      const int32_t status = on_host ? host_status_[row] : h_status_.as<int32_t>()[row];
      if (status != kernels::kSampleOk) {
        bad[r] = 1;
        continue;
      }
      const int32_t* ids = on_host ? host_ids_[row].data() : h_top_ids_.as<int32_t>() + row * kernels::kMaxTopLogprobs;
      std::copy_n(ids, k, top[size_t(d)].begin() + long(r * k));
    }
  }
}

}  // namespace ignis::cuda
