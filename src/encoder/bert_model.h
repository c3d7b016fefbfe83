// ignis encoder: BertModel / XLMRobertaModel forward on the CPU in float32 (the reference
// for a later CUDA path): absolute position + token-type embeddings, post-LayerNorm
// blocks, GELU, bidirectional attention within each sequence of a flat batch (no padding:
// each sequence attends only to its own tokens, which is what HF's padding mask computes).
#pragma once
#include <filesystem>
#include <vector>

#include "encoder/encoder_config.h"

namespace ignis::enc {

struct EncoderLayer {
  std::vector<float> wq, bq, wk, bk, wv, bv;  // (hidden, hidden), (hidden)
  std::vector<float> wo, bo, ln1_g, ln1_b;    // attention.output.dense, attention.output.LayerNorm
  std::vector<float> wi, bi;                  // intermediate.dense: (intermediate, hidden)
  std::vector<float> wo2, bo2, ln2_g, ln2_b;  // output.dense: (hidden, intermediate), output.LayerNorm
};

struct EncoderWeights {
  std::vector<float> word, pos, type;  // (vocab, hidden), (max_positions, hidden), (type_vocab, hidden)
  std::vector<float> emb_ln_g, emb_ln_b;
  std::vector<EncoderLayer> layers;
};

// One input sequence: token ids and token type ids (same length).
struct EncoderInput {
  std::vector<int32_t> ids, type_ids;
};

// What turns token ids into sentence embeddings: BertModel (the CPU reference, fp32) or a GPU
// backend (src/encoder_gpu CudaEncoder), chosen by whoever loads the SentenceEncoder.
class EncoderBackend {
 public:
  virtual ~EncoderBackend() = default;
  virtual const char* name() const = 0;
  // One embedding of config().hidden floats per input, pooled as config() says (pooling,
  // normalize). Throws Error for ids out of range or sequences longer than the position table.
  virtual std::vector<std::vector<float>> embed(const std::vector<EncoderInput>& batch) const = 0;
};

// Pools (n, dim) hidden states of one sequence into `out` (dim floats).
void pool(const float* hidden, int n, int dim, Pooling mode, bool normalize, float* out);

class BertModel : public EncoderBackend {
 public:
  // Reads model.safetensors (or the shards of model.safetensors.index.json) in `dir`;
  // F32 / F16 / BF16 tensors, with or without a "bert." / "roberta." prefix.
  BertModel(const EncoderConfig& cfg, const std::filesystem::path& dir);
  BertModel(const EncoderConfig& cfg, EncoderWeights w);
  // Last hidden states, (total tokens, hidden), sequences one after another. Throws Error
  // for ids out of range or sequences longer than the position table.
  std::vector<float> forward(const std::vector<EncoderInput>& batch) const;
  const char* name() const override { return "cpu"; }
  std::vector<std::vector<float>> embed(const std::vector<EncoderInput>& batch) const override;
  // Checks ids, type ids and lengths as forward() does (GPU backends call it before uploading).
  void check_inputs(const std::vector<EncoderInput>& batch) const;
  const EncoderConfig& config() const { return cfg_; }
  const EncoderWeights& weights() const { return w_; }

 private:
  void check_shapes() const;
  EncoderConfig cfg_;
  EncoderWeights w_;
};

}  // namespace ignis::enc
