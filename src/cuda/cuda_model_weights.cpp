// CudaModel construction: config checks, weight upload (dtype conversion, fused q/k/v and
// gate/up), progress bar. The forward pass is in cuda_model.cpp.
#include <cstdlib>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "cuda/cuda_model.h"
#include "kernels/cuda_check.h"
#include "model/cpu/rope.h"

namespace ignis::cuda {
namespace {

// Converts n elements of `src` (F32/F16/BF16) to `dst_type` into `dst` (host).
void convert(DType src_type, const void* src, DType dst_type, void* dst, size_t n) {
  std::vector<float> f(n);
  to_f32(src_type, src, f.data(), n);
  if (dst_type == DType::F32) {
    std::memcpy(dst, f.data(), n * 4);
  } else if (dst_type == DType::BF16) {
    auto* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(f[i]);
  } else {
    auto* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(f[i]);
  }
}

class Uploader {
 public:
  Uploader(const WeightStore& ws, DType dtype, size_t total_bytes, bool progress)
      : ws_(ws), dtype_(dtype), total_(total_bytes), progress_(progress) {}
  ~Uploader() {
    if (progress_ && last_pct_ >= 0) std::fprintf(stderr, "\n");
  }

  // Copies the named tensors, in order, one after another into one new device buffer;
  // each must have the given shape. Throws Error naming the tensor.
  DeviceBuffer upload(const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts, const std::string& what) {
    size_t numel = 0;
    for (auto& [name, shape] : parts) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      numel += size_t(n);
    }
    const size_t es = dtype_size(dtype_);
    DeviceBuffer buf(numel * es, what);
    size_t off = 0;
    for (auto& [name, shape] : parts) {
      const TensorRef& t = ws_.get(name);
      IGNIS_CHECK(t.shape == shape, "{}: tensor {} has shape [{}], expected [{}]", t.file, name,
                  fmt::join(t.shape, ", "), fmt::join(shape, ", "));
      IGNIS_CHECK(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16,
                  "{}: tensor {} has dtype {}; only F32, F16 and BF16 weights are supported", t.file, name,
                  dtype_name(t.dtype));
      const size_t n = size_t(t.numel());
      IGNIS_CHECK(t.nbytes == n * dtype_size(t.dtype), "{}: tensor {} has {} bytes for {} elements", t.file, name,
                  t.nbytes, n);
      char* dst = buf.as<char>() + off * es;
      if (t.dtype == dtype_) {
        IGNIS_CUDA_CHECK(cudaMemcpy(dst, t.data, n * es, cudaMemcpyHostToDevice));
      } else {
        const size_t chunk = size_t(1) << 22;
        std::vector<uint8_t> staging(std::min(n, chunk) * es);
        for (size_t i = 0; i < n; i += chunk) {
          const size_t m = std::min(chunk, n - i);
          convert(t.dtype, static_cast<const char*>(t.data) + i * dtype_size(t.dtype), dtype_, staging.data(), m);
          IGNIS_CUDA_CHECK(cudaMemcpy(dst + i * es, staging.data(), m * es, cudaMemcpyHostToDevice));
        }
      }
      off += n;
      done_ += n * es;
      report();
    }
    return buf;
  }

 private:
  void report() {
    if (!progress_ || total_ == 0) return;
    const int pct = int(100.0 * double(done_) / double(total_));
    if (pct / 2 == last_pct_ / 2 && last_pct_ >= 0) return;
    last_pct_ = pct;
    const int width = 40, fill = pct * width / 100;
    std::fprintf(stderr, "\rloading weights to GPU [%.*s%*s] %3d%% (%.2f / %.2f GB)", fill,
                 "########################################", width - fill, "", pct, done_ / 1e9, total_ / 1e9);
    std::fflush(stderr);
  }

  const WeightStore& ws_;
  DType dtype_;
  size_t total_ = 0, done_ = 0;
  bool progress_;
  int last_pct_ = -1;
};

}  // namespace

CudaModel::CudaModel(const ModelConfig& cfg, const WeightStore& weights, CudaModelOptions opt)
    : cfg_(cfg), opt_(opt) {
  if (const char* e = std::getenv("IGNIS_PROFILE"); e && *e && std::string(e) != "0") {
    profiler_ = std::make_unique<StepProfiler>();
    opt_.cuda_graphs = false;  // events are recorded between eager launches only
  }
  if (const char* e = std::getenv("IGNIS_GEMV"); e && std::string(e) == "0") use_gemv_ = false;
  IGNIS_CHECK(device_count() > 0, "cuda backend: no CUDA device found (cudaGetDeviceCount)");
  dtype_ = opt.dtype ? *opt.dtype : (cfg.dtype == DType::F16 || cfg.dtype == DType::BF16 ? cfg.dtype : DType::BF16);
  IGNIS_CHECK(dtype_ == DType::F32 || dtype_ == DType::F16 || dtype_ == DType::BF16,
              "cuda backend: compute dtype {} not supported (F32, F16, BF16)", dtype_name(dtype_));
  esize_ = dtype_size(dtype_);
  IGNIS_CHECK(cfg.num_heads > 0 && cfg.num_kv_heads > 0 && cfg.num_heads % cfg.num_kv_heads == 0,
              "cuda backend: num_attention_heads {} must be a multiple of num_key_value_heads {}", cfg.num_heads,
              cfg.num_kv_heads);
  IGNIS_CHECK(cfg.num_heads / cfg.num_kv_heads <= 32, "cuda backend: GQA ratio {} above 32",
              cfg.num_heads / cfg.num_kv_heads);
  IGNIS_CHECK(cfg.head_dim > 0 && cfg.head_dim % 2 == 0 && cfg.head_dim <= 256,
              "cuda backend: head_dim {} must be even and at most 256", cfg.head_dim);
  max_model_len_ = opt.max_model_len > 0 ? opt.max_model_len : cfg.max_position_embeddings;
  IGNIS_CHECK(max_model_len_ > 0, "cuda backend: max_model_len unknown (config has no max_position_embeddings)");
  max_seqs_ = std::max(1, opt.max_batch_size);
  max_tokens_ = std::max(opt.max_num_tokens, max_seqs_);
  max_logit_rows_ = std::max(opt.max_logit_rows, max_seqs_);

  int dev = 0;
  IGNIS_CUDA_CHECK(cudaGetDevice(&dev));
  IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, dev));
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  gemm_ = std::make_unique<Gemm>();

  upload_weights(weights);
  allocate_activations();
  tune_gemms();
  auto [free_b, total_b] = device_memory_info();
  IGNIS_LOG(Info, "cuda: {} weights {:.2f} GB, {:.2f} GB free of {:.2f} GB after activations", dtype_name(dtype_),
            weight_bytes_ / 1e9, free_b / 1e9, total_b / 1e9);
}

void CudaModel::upload_weights(const WeightStore& ws) {
  const int64_t H = cfg_.hidden_size, V = cfg_.vocab_size, I = cfg_.intermediate_size;
  const int64_t Q = cfg_.q_size(), KV = cfg_.kv_size();
  const bool qkv_bias = cfg_.attention_bias || cfg_.arch == Arch::Qwen2;
  const bool o_bias = cfg_.o_proj_bias;
  auto L = [](int l, const char* s) { return layer_tensor_name(l, s); };

  int64_t per_layer = 2 * H + (Q + 2 * KV) * H + H * Q + 2 * I * H + H * I + (qkv_bias ? Q + 2 * KV : 0) +
                      (o_bias ? H : 0);
  int64_t total = V * H + H + (cfg_.tie_word_embeddings ? 0 : V * H) + per_layer * cfg_.num_layers;
  weight_bytes_ = size_t(total) * esize_;
  Uploader up(ws, dtype_, weight_bytes_, opt_.progress);

  embed_ = up.upload({{"model.embed_tokens.weight", {V, H}}}, "model.embed_tokens.weight");
  layers_.resize(cfg_.num_layers);
  for (int l = 0; l < cfg_.num_layers; ++l) {
    LayerWeights& w = layers_[l];
    w.attn_norm = up.upload({{L(l, "input_layernorm.weight"), {H}}}, L(l, "input_layernorm.weight"));
    w.wqkv = up.upload({{L(l, "self_attn.q_proj.weight"), {Q, H}},
                        {L(l, "self_attn.k_proj.weight"), {KV, H}},
                        {L(l, "self_attn.v_proj.weight"), {KV, H}}},
                       L(l, "self_attn.qkv (fused)"));
    if (qkv_bias)
      w.bqkv = up.upload({{L(l, "self_attn.q_proj.bias"), {Q}},
                          {L(l, "self_attn.k_proj.bias"), {KV}},
                          {L(l, "self_attn.v_proj.bias"), {KV}}},
                         L(l, "self_attn.qkv bias (fused)"));
    w.wo = up.upload({{L(l, "self_attn.o_proj.weight"), {H, Q}}}, L(l, "self_attn.o_proj.weight"));
    if (o_bias) w.bo = up.upload({{L(l, "self_attn.o_proj.bias"), {H}}}, L(l, "self_attn.o_proj.bias"));
    w.mlp_norm = up.upload({{L(l, "post_attention_layernorm.weight"), {H}}}, L(l, "post_attention_layernorm.weight"));
    w.w_gate_up = up.upload({{L(l, "mlp.gate_proj.weight"), {I, H}}, {L(l, "mlp.up_proj.weight"), {I, H}}},
                            L(l, "mlp.gate_up (fused)"));
    w.w_down = up.upload({{L(l, "mlp.down_proj.weight"), {H, I}}}, L(l, "mlp.down_proj.weight"));
  }
  final_norm_ = up.upload({{"model.norm.weight", {H}}}, "model.norm.weight");
  if (cfg_.tie_word_embeddings) {
    lm_head_ptr_ = embed_.get();
  } else {
    lm_head_ = up.upload({{"lm_head.weight", {V, H}}}, "lm_head.weight");
    lm_head_ptr_ = lm_head_.get();
  }
  std::vector<float> inv = cpu::rope_inv_freq(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
  IGNIS_CHECK(int(inv.size()) == cfg_.head_dim / 2, "rope: {} frequencies for head_dim {}", inv.size(), cfg_.head_dim);
  inv_freq_ = DeviceBuffer(inv.size() * 4, "rope inv_freq");
  IGNIS_CUDA_CHECK(cudaMemcpy(inv_freq_.get(), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
}

void CudaModel::allocate_activations() {
  const size_t T = max_tokens_, H = cfg_.hidden_size, Q = cfg_.q_size(), KV = cfg_.kv_size();
  const size_t I = cfg_.intermediate_size, es = esize_;
  residual_ = DeviceBuffer(T * H * 4, "residual stream (max_num_tokens, hidden) fp32");
  x_ = DeviceBuffer(T * H * es, "normed activations (max_num_tokens, hidden)");
  qkv_ = DeviceBuffer(T * (Q + 2 * KV) * es, "qkv activations (max_num_tokens, q + 2 kv)");
  attn_ = DeviceBuffer(T * Q * es, "attention output (max_num_tokens, q)");
  o_ = DeviceBuffer(T * H * es, "projection output (max_num_tokens, hidden)");
  gate_up_ = DeviceBuffer(T * 2 * I * es, "gate_up activations (max_num_tokens, 2 * intermediate)");
  act_ = DeviceBuffer(T * I * es, "SwiGLU output (max_num_tokens, intermediate)");
  logits_ = DeviceBuffer(size_t(max_logit_rows_) * cfg_.vocab_size * 4, "logits (max_logit_rows, vocab) fp32");
  sample_tokens_ = DeviceBuffer(T * 4, "sampled tokens");
  sample_logprobs_ = DeviceBuffer(T * 4, "sampled logprobs");
  h_sample_tokens_ = PinnedBuffer(T * 4);
  h_sample_logprobs_ = PinnedBuffer(T * 4);
  // attention split workspace: the decode buckets' needs, and at least 32 MB for prefill passes
  size_t ws = size_t(8) << 20;
  for (int b = 1; b <= max_seqs_; b *= 2) {
    const int s = kernels::attention_num_splits(b, cfg_.num_kv_heads, max_model_len_, num_sms_);
    ws = std::max(ws, kernels::attention_workspace_floats(b, cfg_.num_heads, cfg_.head_dim, s));
  }
  attn_ws_floats_ = ws;
  attn_ws_ = DeviceBuffer(ws * 4, "attention split workspace");
  d_tokens_ = DeviceBuffer(T * 4, "step tokens");
  d_positions_ = DeviceBuffer(T * 4, "step positions");
  d_slots_ = DeviceBuffer(T * 4, "step slot mapping");
  d_tiles_ = DeviceBuffer(T * sizeof(kernels::AttentionTile), "step attention tiles");
  d_logit_rows_ = DeviceBuffer(T * 4, "step logit rows");
  h_tokens_ = PinnedBuffer(T * 4);
  h_positions_ = PinnedBuffer(T * 4);
  h_slots_ = PinnedBuffer(T * 4);
  h_tiles_ = PinnedBuffer(T * sizeof(kernels::AttentionTile));
  h_logit_rows_ = PinnedBuffer(T * 4);
}

std::unique_ptr<CudaModel> CudaModel::load(const std::filesystem::path& dir, LoadFormat fmt, uint64_t seed,
                                           CudaModelOptions opt) {
  ModelConfig cfg = load_model_config(dir);
  WeightStore ws = WeightStore::load(dir, cfg, fmt, seed);
  return std::make_unique<CudaModel>(cfg, ws, opt);
}

CudaModel::~CudaModel() {
  if (profiler_) std::fputs(profiler_->report().c_str(), stderr);
  for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
  if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace ignis::cuda
