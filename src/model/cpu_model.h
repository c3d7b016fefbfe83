// ignis model: the CPU reference backend. fp32 compute over fp32 copies of the weights
// (converted from bf16/fp16/fp32 at load), a paged fp32 KV cache, and a forward pass
// that follows transformers' LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "model/cpu/paged_attention.h"
#include "model/model.h"
#include "model/weights.h"

namespace ignis {

class CpuModel : public Model {
 public:
  // Copies (and converts to fp32) every weight the config needs; throws Error naming the
  // tensor if one is missing, has the wrong shape or a non-float dtype.
  CpuModel(const ModelConfig& cfg, const WeightStore& weights);
  // config.json + weights of a model folder (or dummy weights from `seed`).
  static std::unique_ptr<CpuModel> load(const std::filesystem::path& dir, LoadFormat fmt = LoadFormat::Auto,
                                        uint64_t seed = 0);

  const ModelConfig& config() const override { return cfg_; }
  const char* backend_name() const override { return "cpu"; }
  void init_kv_cache(int num_blocks, int block_size) override;
  int kv_block_size() const override { return cache_shape_.block_size; }
  int kv_num_blocks() const override { return cache_shape_.num_blocks; }
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;

  // Read access to a layer's K or V cache, (num_blocks, block_size, num_kv_heads, head_dim).
  const float* k_cache(int layer) const { return layers_.at(layer).k_cache.data(); }
  const float* v_cache(int layer) const { return layers_.at(layer).v_cache.data(); }

 private:
  struct Layer {
    std::vector<float> attn_norm;  // (hidden)
    std::vector<float> wqkv;       // (q_size + 2 * kv_size, hidden): q_proj, k_proj, v_proj stacked
    std::vector<float> bqkv;       // (q_size + 2 * kv_size) or empty
    std::vector<float> wo;         // (hidden, q_size)
    std::vector<float> bo;         // (hidden) or empty
    std::vector<float> mlp_norm;   // (hidden)
    std::vector<float> w_gate_up;  // (2 * intermediate, hidden): gate_proj, up_proj stacked
    std::vector<float> w_down;     // (hidden, intermediate)
    std::vector<float> k_cache, v_cache;  // (num_blocks, block_size, num_kv_heads, head_dim)
  };

  void validate(const ForwardBatch& batch) const;

  ModelConfig cfg_;
  std::vector<float> embed_;       // (vocab, hidden)
  std::vector<float> final_norm_;  // (hidden)
  std::vector<float> lm_head_;     // (vocab, hidden); empty when tied to embed_
  std::vector<float> inv_freq_;    // (head_dim / 2)
  std::vector<Layer> layers_;
  cpu::PagedCacheShape cache_shape_;
};

}  // namespace ignis
