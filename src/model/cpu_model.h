// ignis model: the CPU reference backend. fp32 compute over fp32 copies of the weights
// (converted from bf16/fp16/fp32 at load, FP8 dequantized), a paged fp32 KV cache, and a forward pass
// that follows transformers' LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM. Every
// projection is a cpu::Linear (model/cpu/linear.h): FP8 schemes are exact fake-quantization in fp32,
// the reference of every FP8 test. With an FP8 KV cache, K (after RoPE) and V are fake-quantized
// with the layer's scales when written (fake_quant_kv).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "model/cpu/linear.h"
#include "model/cpu/paged_attention.h"
#include "model/model.h"
#include "model/parallel_layout.h"
#include "model/weights.h"

namespace ignis {

namespace parallel {
class Communicator;
}

// One rank of a tensor- and / or pipeline-parallel model (model/parallel_model.h builds them; the
// default is the whole model): the rank's slice of every projection (model/parallel_layout.h), an
// all-reduce after o_proj and down_proj, a vocabulary-parallel embedding (all-reduced) and lm_head
// (logits all-gathered); a pipeline stage's layers only, its hidden states received from the
// previous stage and sent to the next. The communicators are the caller's and outlive the model.
struct CpuShard {
  int tp_rank = 0, tp_size = 1;
  parallel::Communicator* tp = nullptr;  // this stage's tensor-parallel ranks (tp_size > 1)
  int stage = 0, stages = 1;
  parallel::Communicator* pp = nullptr;  // hidden states between stages (stages > 1)
  int prev_rank = -1, next_rank = -1;    // pp ranks of the previous / next stage's counterpart
};

struct CpuModelOptions {
  DType kv_dtype = DType::F32;  // F32, or F8_E4M3 (values fake-quantized, still stored as fp32)
  // Per-layer (k_scale, v_scale) of an FP8 KV cache; empty: the checkpoint's (load_kv_scales), else
  // 1.0 with a warning.
  std::vector<std::pair<float, float>> kv_scales;
  CpuShard shard;
};

class CpuModel : public Model {
 public:
  // Copies (and converts to fp32) every weight the config needs; throws Error naming the
  // tensor if one is missing, has the wrong shape or a non-float dtype.
  CpuModel(const ModelConfig& cfg, const WeightStore& weights, CpuModelOptions opt = {});
  // config.json + weights of a model folder (or dummy weights from `seed`).
  static std::unique_ptr<CpuModel> load(const std::filesystem::path& dir, LoadFormat fmt = LoadFormat::Auto,
                                        uint64_t seed = 0);

  const ModelConfig& config() const override { return cfg_; }
  const char* backend_name() const override { return "cpu"; }
  DType kv_dtype() const override { return kv_dtype_; }
  bool set_calibration_observer(CalibrationObserver* obs) override {
    observer_ = obs;
    return true;
  }
  bool set_hidden_state_sink(std::vector<float>* sink) override {
    hidden_sink_ = sink;
    return true;
  }
  // Per-layer (k_scale, v_scale) of the FP8 KV cache (empty without one).
  const std::vector<std::pair<float, float>>& kv_scales() const { return kv_scales_; }
  // The projections as built (tests).
  const cpu::Linear& qkv_linear(int layer) const { return layers_.at(layer).qkv; }
  const cpu::Linear& lm_head_linear() const { return lm_head_; }
  void init_kv_cache(int num_blocks, int block_size) override;
  int kv_block_size() const override { return cache_shape_.block_size; }
  int kv_num_blocks() const override { return cache_shape_.num_blocks; }
  // A pipeline stage other than the last returns no logits (it sends its hidden states on).
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  bool supports_tree() const override { return true; }
  void compact_kv(const std::vector<int32_t>& block_table, const std::vector<int32_t>& src,
                  const std::vector<int32_t>& dst) override;

  // Read access to a layer's K or V cache, (num_blocks, block_size, num_kv_heads, head_dim).
  const float* k_cache(int layer) const { return layers_.at(layer).k_cache.data(); }
  const float* v_cache(int layer) const { return layers_.at(layer).v_cache.data(); }

 private:
  struct Layer {
    std::vector<float> attn_norm;  // (hidden); empty for a fusion model's layer 0 without an input norm
    cpu::Linear qkv;               // (q_size + 2 * kv_size, hidden): q_proj, k_proj, v_proj stacked (+ bias)
    cpu::Linear o;                 // (hidden, q_size) (+ bias)
    std::vector<float> mlp_norm;   // (hidden)
    cpu::Linear gate_up;           // (2 * intermediate, hidden): gate_proj, up_proj stacked
    cpu::Linear down;              // (hidden, intermediate)
    std::vector<float> k_cache, v_cache;  // (num_blocks, block_size, num_kv_heads, head_dim)
  };

  void validate(const ForwardBatch& batch) const;

  ModelConfig cfg_;
  CpuShard shard_;
  TpLayout tp_;                    // this rank's heads / columns / vocabulary rows (the whole model by default)
  int first_layer_ = 0, end_layer_ = 0;  // this stage's layers (layers_ outside it stay empty)
  std::vector<float> embed_;       // (vocab rows of this rank, hidden)
  std::vector<float> final_norm_;  // (hidden); empty for a fusion model without one
  cpu::Linear fc_;                 // (hidden, 2 * hidden) a fusion model's fc (+ bias), else empty
  cpu::Linear lm_head_;            // (vocab, hidden); a copy of embed_ when tied
  std::vector<float> inv_freq_;    // (head_dim / 2)
  std::vector<Layer> layers_;
  cpu::PagedCacheShape cache_shape_;
  DType kv_dtype_ = DType::F32;
  std::vector<std::pair<float, float>> kv_scales_;  // (num_layers) with an FP8 KV cache
  CalibrationObserver* observer_ = nullptr;
  std::vector<float>* hidden_sink_ = nullptr;  // set_hidden_state_sink: the hidden rows' final hidden states
};

}  // namespace ignis
