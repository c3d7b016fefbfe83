#include "encoder_gpu/cuda_encoder.h"

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cuda_check.h"
#include "kernels/encoder_ops.h"

namespace ignis::encgpu {

namespace {

cuda::DeviceBuffer upload_f32(const std::vector<float>& v, const char* what) {
  cuda::DeviceBuffer b(std::max<size_t>(v.size(), 1) * 4, what);
  IGNIS_CUDA_CHECK(cudaMemcpy(b.get(), v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  return b;
}

cuda::DeviceBuffer upload_bf16(const std::vector<const std::vector<float>*>& parts, const char* what) {
  size_t n = 0;
  for (auto* p : parts) n += p->size();
  std::vector<uint16_t> h;
  h.reserve(n);
  for (auto* p : parts)
    for (float x : *p) h.push_back(f32_to_bf16(x));
  cuda::DeviceBuffer b(std::max<size_t>(n, 1) * 2, what);
  IGNIS_CUDA_CHECK(cudaMemcpy(b.get(), h.data(), n * 2, cudaMemcpyHostToDevice));
  return b;
}

std::vector<float> concat(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> out;
  for (auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

kernels::EncoderAct act_of(enc::Activation a) {
  switch (a) {
    case enc::Activation::GeluErf: return kernels::EncoderAct::GeluErf;
    case enc::Activation::GeluTanh: return kernels::EncoderAct::GeluTanh;
    case enc::Activation::Relu: return kernels::EncoderAct::Relu;
  }
  return kernels::EncoderAct::GeluErf;
}

kernels::EncoderPool pool_of(enc::Pooling p) {
  switch (p) {
    case enc::Pooling::Cls: return kernels::EncoderPool::Cls;
    case enc::Pooling::Mean: return kernels::EncoderPool::Mean;
    case enc::Pooling::Max: return kernels::EncoderPool::Max;
    case enc::Pooling::LastToken: return kernels::EncoderPool::LastToken;
  }
  return kernels::EncoderPool::Cls;
}

int round_up(int x, int m) { return (x + m - 1) / m * m; }

}  // namespace

CudaEncoder::CudaEncoder(std::unique_ptr<enc::BertModel> cpu, int max_batch_tokens)
    : cpu_(std::move(cpu)), cfg_(cpu_->config()), max_batch_tokens_(max_batch_tokens) {
  IGNIS_CHECK(cfg_.hidden % cfg_.heads == 0, "encoder: hidden {} not a multiple of {} heads", cfg_.hidden, cfg_.heads);
  IGNIS_CHECK(cfg_.hidden % 8 == 0 && cfg_.intermediate % 8 == 0,
              "encoder on the GPU: hidden ({}) and intermediate ({}) sizes must be multiples of 8", cfg_.hidden,
              cfg_.intermediate);
  IGNIS_CHECK(cfg_.hidden <= 2048, "encoder on the GPU: hidden size {} above 2048", cfg_.hidden);
  IGNIS_CHECK(cfg_.hidden / cfg_.heads <= 128, "encoder on the GPU: head size {} above 128", cfg_.hidden / cfg_.heads);
  const auto& w = cpu_->weights();
  word_ = upload_bf16({&w.word}, "encoder word embeddings");
  pos_ = upload_bf16({&w.pos}, "encoder position embeddings");
  if (cfg_.type_vocab > 0) type_ = upload_bf16({&w.type}, "encoder token type embeddings");
  emb_g_ = upload_f32(w.emb_ln_g, "encoder embedding LayerNorm");
  emb_b_ = upload_f32(w.emb_ln_b, "encoder embedding LayerNorm");
  for (const auto& L : w.layers) {
    Layer d;
    d.wqkv = upload_bf16({&L.wq, &L.wk, &L.wv}, "encoder q|k|v");
    d.bqkv = upload_f32(concat({&L.bq, &L.bk, &L.bv}), "encoder q|k|v bias");
    d.wo = upload_bf16({&L.wo}, "encoder attention output");
    d.bo = upload_f32(L.bo, "encoder attention output bias");
    d.ln1_g = upload_f32(L.ln1_g, "encoder LayerNorm");
    d.ln1_b = upload_f32(L.ln1_b, "encoder LayerNorm");
    d.wi = upload_bf16({&L.wi}, "encoder intermediate");
    d.bi = upload_f32(L.bi, "encoder intermediate bias");
    d.wo2 = upload_bf16({&L.wo2}, "encoder output");
    d.bo2 = upload_f32(L.bo2, "encoder output bias");
    d.ln2_g = upload_f32(L.ln2_g, "encoder LayerNorm");
    d.ln2_b = upload_f32(L.ln2_b, "encoder LayerNorm");
    layers_.push_back(std::move(d));
  }
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaEncoder::~CudaEncoder() {
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaEncoder::reserve(int tokens, int seqs) const {
  const int H = cfg_.hidden, I = cfg_.intermediate;
  if (tokens > cap_tokens_) {
    const int t = round_up(tokens, 128);
    ids_ = cuda::DeviceBuffer(size_t(t) * 4, "encoder ids");
    positions_ = cuda::DeviceBuffer(size_t(t) * 4, "encoder positions");
    type_ids_ = cuda::DeviceBuffer(size_t(t) * 4, "encoder type ids");
    x32_ = cuda::DeviceBuffer(size_t(t) * H * 4, "encoder residual");
    xb_ = cuda::DeviceBuffer(size_t(t) * H * 2, "encoder activations");
    qkv_ = cuda::DeviceBuffer(size_t(t) * 3 * H * 2, "encoder q|k|v");
    ctx_ = cuda::DeviceBuffer(size_t(t) * H * 2, "encoder attention");
    tmp_ = cuda::DeviceBuffer(size_t(t) * H * 2, "encoder projections");
    inter_ = cuda::DeviceBuffer(size_t(t) * I * 2, "encoder intermediate");
    cap_tokens_ = t;
  }
  if (seqs > cap_seqs_) {
    const int s = round_up(seqs, 64);
    starts_ = cuda::DeviceBuffer(size_t(s + 1) * 4, "encoder sequence starts");
    out_ = cuda::DeviceBuffer(size_t(s) * H * 4, "encoder embeddings");
    cap_seqs_ = s;
  }
}

void CudaEncoder::run(const std::vector<enc::EncoderInput>& batch, size_t first, size_t count, float* out) const {
  const int H = cfg_.hidden, I = cfg_.intermediate, heads = cfg_.heads, dh = H / heads;
  std::vector<int32_t> ids, positions, types, starts{0};
  int max_len = 0;
  for (size_t b = first; b < first + count; ++b) {
    const auto& in = batch[b];
    const int n = static_cast<int>(in.ids.size());
    ids.insert(ids.end(), in.ids.begin(), in.ids.end());
    types.insert(types.end(), in.type_ids.begin(), in.type_ids.end());
    for (int i = 0; i < n; ++i) positions.push_back(i + cfg_.position_offset);
    starts.push_back(starts.back() + n);
    max_len = std::max(max_len, n);
  }
  const int T = starts.back(), B = static_cast<int>(count);
  reserve(T, B);
  const int M = round_up(T, 128);  // GEMM rows: a few shapes only; rows past T are scratch
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(ids_.get(), ids.data(), size_t(T) * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(positions_.get(), positions.data(), size_t(T) * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(type_ids_.get(), types.data(), size_t(T) * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(starts_.get(), starts.data(), starts.size() * 4, cudaMemcpyHostToDevice, stream_));
  kernels::encoder_embed_ln(ids_.as<int32_t>(), positions_.as<int32_t>(), type_ids_.as<int32_t>(), word_.get(),
                            pos_.get(), cfg_.type_vocab > 0 ? type_.get() : nullptr, emb_g_.as<float>(),
                            emb_b_.as<float>(), x32_.as<float>(), xb_.get(), T, H, cfg_.ln_eps, stream_);
  const auto act = act_of(cfg_.act);
  for (const auto& L : layers_) {
    gemm_.matmul(DType::BF16, DType::BF16, xb_.get(), L.wqkv.get(), qkv_.get(), M, 3 * H, H, stream_);
    kernels::encoder_attention(qkv_.get(), L.bqkv.as<float>(), starts_.as<int32_t>(), B, max_len, heads, dh,
                               ctx_.get(), stream_, reference_attention_);
    gemm_.matmul(DType::BF16, DType::BF16, ctx_.get(), L.wo.get(), tmp_.get(), M, H, H, stream_);
    kernels::encoder_add_ln(x32_.as<float>(), xb_.get(), tmp_.get(), L.bo.as<float>(), L.ln1_g.as<float>(),
                            L.ln1_b.as<float>(), T, H, cfg_.ln_eps, stream_);
    gemm_.matmul(DType::BF16, DType::BF16, xb_.get(), L.wi.get(), inter_.get(), M, I, H, stream_);
    kernels::encoder_bias_act(inter_.get(), L.bi.as<float>(), T, I, act, stream_);
    gemm_.matmul(DType::BF16, DType::BF16, inter_.get(), L.wo2.get(), tmp_.get(), M, H, I, stream_);
    kernels::encoder_add_ln(x32_.as<float>(), xb_.get(), tmp_.get(), L.bo2.as<float>(), L.ln2_g.as<float>(),
                            L.ln2_b.as<float>(), T, H, cfg_.ln_eps, stream_);
  }
  kernels::encoder_pool(x32_.as<float>(), starts_.as<int32_t>(), B, H, pool_of(cfg_.pooling), cfg_.normalize,
                        out_.as<float>(), stream_);
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(out, out_.get(), size_t(B) * H * 4, cudaMemcpyDeviceToHost, stream_));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

std::vector<std::vector<float>> CudaEncoder::embed(const std::vector<enc::EncoderInput>& batch) const {
  cpu_->check_inputs(batch);
  for (const auto& in : batch) IGNIS_CHECK(!in.ids.empty(), "encoder: cannot pool an empty sequence");
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::vector<float>> out;
  out.reserve(batch.size());
  std::vector<float> pooled;
  for (size_t first = 0; first < batch.size();) {
    size_t count = 0;
    int tokens = 0;
    while (first + count < batch.size() && count < 65535 &&
           (count == 0 || tokens + int(batch[first + count].ids.size()) <= max_batch_tokens_))
      tokens += static_cast<int>(batch[first + count++].ids.size());
    pooled.resize(count * cfg_.hidden);
    run(batch, first, count, pooled.data());
    for (size_t i = 0; i < count; ++i)
      out.emplace_back(pooled.begin() + i * cfg_.hidden, pooled.begin() + (i + 1) * cfg_.hidden);
    first += count;
  }
  return out;
}

}  // namespace ignis::encgpu
