// CudaModel construction: config checks, weight upload (dtype conversion, fused q/k/v and
// gate/up), progress bar. The forward pass is in cuda_model.cpp.
#include <cstdlib>
#include <cuda_runtime_api.h>

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "cuda/cuda_model.h"
#include "cuda/int_weights.h"
#include "kernels/cuda_check.h"
#include "kernels/int_gemm.h"
#include "kernels/int_gemv.h"
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

  // Copies `n` bytes (FP8 codes) into a new device buffer as they are.
  DeviceBuffer upload_bytes(const void* src, size_t n, const std::string& what) {
    DeviceBuffer buf(n, what);
    IGNIS_CUDA_CHECK(cudaMemcpy(buf.get(), src, n, cudaMemcpyHostToDevice));
    done_ += n;
    report();
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
  if (opt_.profile) {
    profiler_ = std::make_unique<StepProfiler>();
    opt_.cuda_graphs = false;  // events are recorded between eager launches only
  }
  opt_.batch_invariant = opt_.batch_invariant || opt_.invariant_prefill;  // the prefill level implies the flag
  use_gemv_ = opt_.gemv;
  attention_impl_ = opt_.attention;
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
  alloc_tokens_ = (max_tokens_ + 15) / 16 * 16;  // activation rows: FP8 products run on multiples of 16 (fp8_rows)
  kv_dtype_ = resolve_kv_cache_dtype(opt_.kv_cache_dtype, cfg_, dtype_);
  IGNIS_CHECK(kv_dtype_ == dtype_ || kv_dtype_ == DType::F8_E4M3, "cuda backend: KV cache dtype {} with compute dtype {}",
              dtype_name(kv_dtype_), dtype_name(dtype_));
  kv_esize_ = dtype_size(kv_dtype_);
  max_logit_rows_ = std::max(opt.max_logit_rows, max_seqs_);

  int dev = 0;
  IGNIS_CUDA_CHECK(cudaGetDevice(&dev));
  IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, dev));
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  const bool fp8_weights = cfg_.quant.quantized() && cfg_.quant.linear.fp8();  // integer weight-only: dequantized at upload
  if (fp8_weights || kv_dtype_ == DType::F8_E4M3) {
    int major = 0, minor = 0;
    IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    IGNIS_CHECK(major * 10 + minor >= 89,
                "cuda backend: FP8 ({}) needs FP8 tensor cores (compute capability 8.9 or newer); this GPU is {}.{}",
                fp8_weights ? cfg_.quant.linear.describe() : "KV cache", major, minor);
    IGNIS_CHECK(dtype_ != DType::F32, "cuda backend: FP8 with an fp32 compute dtype is not supported (bf16 or fp16)");
  }
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

  {  // bytes on the device: FP8 projections 1 byte per weight, everything else in the compute dtype
    ModelConfig c = cfg_;
    c.dtype = dtype_;
    weight_bytes_ = size_t(model_weight_bytes(c));
  }
  Uploader up(ws, dtype_, weight_bytes_, opt_.progress);
  // An FP8 projection: codes as they are, per-tensor scales expanded to n (the kernels read
  // per-channel or 128x128-block scales only), the static input scale on the device.
  bool int_fallback_logged = false;
  auto upload_linear = [&](const HostLinear& hl, bool int_gemv = true) {
    Linear w;
    w.spec = hl.spec;
    w.n = int(hl.n);
    w.k = int(hl.k);
    if (hl.spec.wint()) {
      const IntLinear& q = hl.wq;
      IGNIS_CHECK(q.n == hl.n && q.k == hl.k, "{}: integer weights of ({}, {}) for ({}, {})", hl.name, q.n, q.k, hl.n,
                  hl.k);
      std::string why;
      if (!int_gemv) why = "the lm_head";
      if (int_gemv && int_gemv_fits(q, dtype_, &why)) {
        // Integer weight-only (AWQ / GPTQ / compressed-tensors / --quantization int4 | int8-wo) on the
        // integer GEMV: codes and group scales stay on the device (cuda/int_weights.h).
        IntGemvWeights d = int_gemv_weights(q);
        w.bits = d.bits;
        w.group = d.group;
        w.w = up.upload_bytes(d.q.data(), d.q.size() * 4, hl.name);
        w.ptr = w.w.get();
        w.meta = DeviceBuffer(d.meta.size() * 4, hl.name + " group scales and zeros");
        IGNIS_CUDA_CHECK(cudaMemcpy(w.meta.get(), d.meta.data(), d.meta.size() * 4, cudaMemcpyHostToDevice));
        int_scratch_elems_ = std::max(int_scratch_elems_, size_t(q.n) * size_t(q.k));
        const bool gemm = opt_.int_gemm && kernels::gemm_int_supported(dtype_, d.bits, 1, int(q.k), d.group);
        ++int_projections_;
        int_gemm_projections_ += gemm ? 1 : 0;
        if (gemm)
          int_gemm_ws_floats_ = std::max(int_gemm_ws_floats_,
                                         kernels::gemm_int_workspace_floats(std::min(max_tokens_, kIntGemmRows),
                                                                            int(q.n), int(q.k), d.bits, num_sms_));
        return w;
      }
      // Other integer layouts: dequantized exactly in fp32 (quant/int_quant.h) and rounded to the
      // compute dtype here, so they run on the dense GEMMs.
      if (!int_fallback_logged) {
        IGNIS_LOG(Info, "cuda: {}: {}: integer projections like it are dequantized to {} at upload", hl.name, why,
                  dtype_name(dtype_));
        int_fallback_logged = true;
      }
      std::vector<float> f(size_t(q.n * q.k));
      dequantize_int(q, f.data());
      std::vector<uint8_t> host(f.size() * dtype_size(dtype_));
      convert(DType::F32, f.data(), dtype_, host.data(), f.size());
      w.spec = LinearSpec{};
      w.spec.weight = dtype_;
      w.w = up.upload_bytes(host.data(), host.size(), hl.name);
      w.ptr = w.w.get();
      return w;
    }
    if (!hl.spec.fp8()) {
      std::vector<std::pair<std::string, std::vector<int64_t>>> parts;
      for (const TensorRef* t : hl.dense) parts.push_back({t->name, t->shape});
      w.w = up.upload(parts, hl.name);
      w.ptr = w.w.get();
      return w;
    }
    const QuantizedLinear& q = hl.q;
    IGNIS_CHECK(q.n == hl.n && q.k == hl.k && q.data.size() == size_t(q.n * q.k), "{}: FP8 codes of {} x {} expected",
                hl.name, hl.n, hl.k);
    w.w = up.upload_bytes(q.data.data(), q.data.size(), hl.name);
    w.ptr = w.w.get();
    std::vector<float> sc;
    switch (q.spec.wscale) {
      case WeightScale::Tensor:
        IGNIS_CHECK(q.scale.size() == 1, "{}: one weight scale expected, got {}", hl.name, q.scale.size());
        sc.assign(size_t(q.n), q.scale[0]);
        w.scaling = kernels::Fp8Scaling::Channel;
        break;
      case WeightScale::Channel:
        IGNIS_CHECK(q.scale.size() == size_t(q.n), "{}: {} channel scales for {} rows", hl.name, q.scale.size(), q.n);
        sc = q.scale;
        w.scaling = kernels::Fp8Scaling::Channel;
        break;
      case WeightScale::Block: {
        IGNIS_CHECK(q.spec.block_n == kernels::kFp8Group && q.spec.block_k == kernels::kFp8Group,
                    "{}: FP8 weight blocks of {} x {}: the CUDA backend takes 128 x 128 blocks only", hl.name,
                    q.spec.block_n, q.spec.block_k);
        const int64_t nb = (q.n + 127) / 128, kb = (q.k + 127) / 128, ld = kernels::fp8_block_scale_ld(int(q.k));
        IGNIS_CHECK(q.scale.size() == size_t(nb * kb), "{}: {} block scales, expected {} x {}", hl.name,
                    q.scale.size(), nb, kb);
        sc.assign(size_t(nb * ld), 1.0f);  // padding columns: unused
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t j = 0; j < kb; ++j) sc[size_t(i * ld + j)] = q.scale[size_t(i * kb + j)];
        w.scaling = kernels::Fp8Scaling::Block;
        break;
      }
      default: IGNIS_FAIL("{}: FP8 weights without scales", hl.name);
    }
    const bool block = w.scaling == kernels::Fp8Scaling::Block;
    IGNIS_CHECK(block == (q.spec.act == ActScale::DynamicGroup),
                "{}: {}: the CUDA backend pairs 128x128 weight blocks with dynamic per-128-group inputs only",
                hl.name, q.spec.describe());
    IGNIS_CHECK(q.spec.act != ActScale::None, "{}: FP8 weight-only layers are not supported (inputs must be quantized)",
                hl.name);
    if (q.spec.act == ActScale::DynamicGroup)
      IGNIS_CHECK(q.spec.act_group == kernels::kFp8Group, "{}: input groups of {}: the CUDA backend takes 128",
                  hl.name, q.spec.act_group);
    w.scale = DeviceBuffer(sc.size() * 4, hl.name + " scales");
    IGNIS_CUDA_CHECK(cudaMemcpy(w.scale.get(), sc.data(), sc.size() * 4, cudaMemcpyHostToDevice));
    if (q.spec.act == ActScale::StaticTensor) {
      IGNIS_CHECK(std::isfinite(q.input_scale) && q.input_scale > 0, "{}: input scale {} must be finite and positive",
                  hl.name, q.input_scale);
      w.in_scale = DeviceBuffer(4, hl.name + " input scale");
      IGNIS_CUDA_CHECK(cudaMemcpy(w.in_scale.get(), &q.input_scale, 4, cudaMemcpyHostToDevice));
    }
    any_fp8_ = true;
    return w;
  };

  embed_ = up.upload({{"model.embed_tokens.weight", {V, H}}}, "model.embed_tokens.weight");
  if (cfg_.fusion.enabled) {  // an EAGLE head's fc: dense in the compute dtype (never quantized)
    fc_w_ = up.upload({{"model.fc.weight", {H, 2 * H}}}, "model.fc.weight");
    if (cfg_.fusion.fc_bias) fc_b_ = up.upload({{"model.fc.bias", {H}}}, "model.fc.bias");
  }
  layers_.resize(cfg_.num_layers);
  for (int l = 0; l < cfg_.num_layers; ++l) {
    LayerWeights& w = layers_[l];
    const LayerLinears mods = layer_linears(l);
    if (l > 0 || !cfg_.fusion.enabled || cfg_.fusion.first_input_norm)
      w.attn_norm = up.upload({{L(l, "input_layernorm.weight"), {H}}}, L(l, "input_layernorm.weight"));
    w.qkv = upload_linear(load_linear(ws, cfg_, mods.qkv, H));
    if (qkv_bias)
      w.bqkv = up.upload({{L(l, "self_attn.q_proj.bias"), {Q}},
                          {L(l, "self_attn.k_proj.bias"), {KV}},
                          {L(l, "self_attn.v_proj.bias"), {KV}}},
                         L(l, "self_attn.qkv bias (fused)"));
    w.o = upload_linear(load_linear(ws, cfg_, mods.o, Q));
    if (o_bias) w.bo = up.upload({{L(l, "self_attn.o_proj.bias"), {H}}}, L(l, "self_attn.o_proj.bias"));
    w.mlp_norm = up.upload({{L(l, "post_attention_layernorm.weight"), {H}}}, L(l, "post_attention_layernorm.weight"));
    w.gate_up = upload_linear(load_linear(ws, cfg_, mods.gate_up, H));
    w.down = upload_linear(load_linear(ws, cfg_, mods.down, I));
  }
  if (!cfg_.fusion.enabled || cfg_.fusion.final_norm)
    final_norm_ = up.upload({{"model.norm.weight", {H}}}, "model.norm.weight");
  if (cfg_.tie_word_embeddings) {
    lm_head_.n = int(V);
    lm_head_.k = int(H);
    lm_head_.spec.weight = dtype_;
    lm_head_.ptr = embed_.get();
  } else {
    lm_head_ = upload_linear(load_linear(ws, cfg_, {"lm_head"}, H), false);  // the logits GEMM reads it dense
  }
  IGNIS_CHECK(!lm_head_.fp8(), "lm_head: an FP8 lm_head is not supported by the CUDA backend (keep it in the "
              "checkpoint's ignore list)");
  std::vector<float> inv = cpu::rope_inv_freq(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
  IGNIS_CHECK(int(inv.size()) == cfg_.head_dim / 2, "rope: {} frequencies for head_dim {}", inv.size(), cfg_.head_dim);
  inv_freq_ = DeviceBuffer(inv.size() * 4, "rope inv_freq");
  IGNIS_CUDA_CHECK(cudaMemcpy(inv_freq_.get(), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
  if (kv_dtype_ == DType::F8_E4M3) {
    kv_scales_ = kv_scales_or_default(ws, cfg_, opt_.kv_scales, "cuda");
    IGNIS_CHECK(int(kv_scales_.size()) == cfg_.num_layers, "cuda: {} KV scale pairs for {} layers", kv_scales_.size(),
                cfg_.num_layers);
    for (size_t l = 0; l < kv_scales_.size(); ++l)
      IGNIS_CHECK(std::isfinite(kv_scales_[l].first) && kv_scales_[l].first > 0 && std::isfinite(kv_scales_[l].second) &&
                      kv_scales_[l].second > 0,
                  "cuda: layer {} KV scales ({}, {}) must be finite and positive", l, kv_scales_[l].first,
                  kv_scales_[l].second);
  }
}

void CudaModel::allocate_activations() {
  const size_t T = alloc_tokens_, H = cfg_.hidden_size, Q = cfg_.q_size(), KV = cfg_.kv_size();
  const size_t I = cfg_.intermediate_size, es = esize_;
  residual_ = DeviceBuffer(T * H * 4, "residual stream (max_num_tokens, hidden) fp32");
  x_ = DeviceBuffer(T * H * es, "normed activations (max_num_tokens, hidden)");
  qkv_ = DeviceBuffer(T * (Q + 2 * KV) * es, "qkv activations (max_num_tokens, q + 2 kv)");
  attn_ = DeviceBuffer(T * Q * es, "attention output (max_num_tokens, q)");
  o_ = DeviceBuffer(T * H * es, "projection output (max_num_tokens, hidden)");
  gate_up_ = DeviceBuffer(T * 2 * I * es, "gate_up activations (max_num_tokens, 2 * intermediate)");
  act_ = DeviceBuffer(T * I * es, "SwiGLU output (max_num_tokens, intermediate)");
  logits_ = DeviceBuffer(size_t(max_logit_rows_) * cfg_.vocab_size * 4, "logits (max_logit_rows, vocab) fp32");
  int_gemm_ = int_projections_ > 0 && int_gemm_projections_ == int_projections_;
  bool dense_int = false;  // some row count up to max_tokens_ takes the dequantized scratch
  for (int T : {1, max_tokens_}) dense_int = dense_int || (int_scratch_elems_ > 0 && int_path(T, dtype_) == IntPath::Dense);
  if (dense_int)
    int_scratch_ = DeviceBuffer(int_scratch_elems_ * es, "integer projection dequantized for large batches (n, k)");
  else
    int_scratch_elems_ = 0;
  if (int_gemm_ && int_gemm_ws_floats_ > 0) {
    int_gemm_ws_ = DeviceBuffer(int_gemm_ws_floats_ * 4, "integer GEMM split-k partial sums and tile counters");
    IGNIS_CUDA_CHECK(cudaMemset(int_gemm_ws_.get(), 0, int_gemm_ws_.bytes()));
  }
  if (any_fp8_) {  // the input codes of the FP8 layer running now, and their scales (per row or per 128 columns)
    const size_t K = std::max({H, Q, I});
    act8_ = DeviceBuffer(T * K, "FP8 layer input codes (max_num_tokens, max k)");
    act_scale_ = DeviceBuffer(T * ((K + 127) / 128) * 4, "FP8 layer input scales");
    // padding rows of the products (fp8_rows) read these before any producer wrote them: finite zeros
    IGNIS_CUDA_CHECK(cudaMemset(act8_.get(), 0, act8_.bytes()));
    IGNIS_CUDA_CHECK(cudaMemset(act_scale_.get(), 0, act_scale_.bytes()));
  }
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
  // batch invariance: fixed splits for decode / verification passes of up to kInvariantMaxTokens tokens;
  // larger passes fall back to equal splits (stage_pass)
  split_keys_ = kernels::attention_invariant_split_keys(max_model_len_);
  // invariant_prefill: whole passes at the splits of max_model_len (a pass that did not fit would fall back to
  // equal splits, stage_pass: not invariant). max_num_tokens x num_heads x up to 32 splits x (head_dim + 2)
  // floats: 1.1 GB at 8192 tokens, 32 heads and 8 splits (max_model_len 512); --max-num-tokens and
  // --max-model-len bound it.
  if (opt_.batch_invariant) {
    const int rows = opt_.invariant_prefill ? int(T) : int(std::min<size_t>(T, kInvariantMaxTokens));
    ws = std::max(ws, kernels::attention_workspace_floats(rows, cfg_.num_heads, cfg_.head_dim,
                                                          kernels::attention_invariant_num_splits(max_model_len_, split_keys_)));
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
  // tree verification: attention's slot positions, each token's tree root slot and mask row
  d_attn_positions_ = DeviceBuffer(T * 4, "step attention positions");
  d_tree_begin_ = DeviceBuffer(T * 4, "step tree roots");
  d_tree_mask_ = DeviceBuffer(size_t(T) * kMaxTreeWords * 4, "step tree masks");
  h_attn_positions_ = PinnedBuffer(T * 4);
  h_tree_begin_ = PinnedBuffer(T * 4);
  h_tree_mask_ = PinnedBuffer(size_t(T) * kMaxTreeWords * 4);
  if (opt_.batch_invariant) {
    d_tree_path_ = DeviceBuffer(size_t(T) * kMaxGraphTokens * 4, "step tree paths");
    h_tree_path_ = PinnedBuffer(size_t(T) * kMaxGraphTokens * 4);
  }
  if (cfg_.fusion.enabled) {  // the fused input rows, and each pass's features (fp32)
    fusion_in_ = DeviceBuffer(T * 2 * H * es, "fusion fc input (max_num_tokens, 2 * hidden)");
    d_features_ = DeviceBuffer(T * H * 4, "step features (max_num_tokens, hidden) fp32");
    h_features_ = PinnedBuffer(T * H * 4);
  }
}

std::unique_ptr<CudaModel> CudaModel::load(const std::filesystem::path& dir, LoadFormat fmt, uint64_t seed,
                                           CudaModelOptions opt) {
  ModelConfig cfg = load_model_config(dir);
  apply_quantization_flag(cfg, opt.quantization);  // --quantization fp8: load_linear quantizes the dense weights
  WeightStore ws = WeightStore::load(dir, cfg, fmt, seed);
  return std::make_unique<CudaModel>(cfg, ws, opt);
}

CudaModel::~CudaModel() {
  if (profiler_) std::fputs(profiler_->report().c_str(), stderr);
  for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
  if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace ignis::cuda
