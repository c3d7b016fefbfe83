// ignis tests/gpu: a tiny Llama config and batch sequences for the model-level GPU tests (trees,
// hidden states): dummy weights of this shape run on CpuModel and CudaModel alike.
#pragma once
#include <cstdint>

#include "cuda/cuda_model.h"
#include "model/batch.h"
#include "model/config.h"

namespace ignis::test {

// Vocabulary 512, hidden 256, 2 layers, 256 / head_dim * 2 heads over half as many KV heads (GQA 2).
inline ModelConfig tiny_llama(int head_dim) {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 512;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_layers = 2;
  c.num_heads = 256 / head_dim * 2;
  c.num_kv_heads = c.num_heads / 2;
  c.head_dim = head_dim;
  c.max_position_embeddings = 2048;
  c.rope_theta = 10000.0f;
  c.dtype = DType::BF16;
  return c;
}

// CudaModel options of these tests: compute dtype, batch and token limits, no progress bar.
inline cuda::CudaModelOptions model_options(DType dtype, int max_batch_size, int max_num_tokens) {
  cuda::CudaModelOptions o;
  o.dtype = dtype;
  o.progress = false;
  o.max_batch_size = max_batch_size;
  o.max_num_tokens = max_num_tokens;
  o.graph_warmup_runs = 0;  // graphs captured on first use: the tests' second run of a shape replays
  return o;
}

// Sequence `index` of a batch whose sequences own blocks [index * bps, (index + 1) * bps).
inline BatchSeq seq_at(int index, int num_cached, int num_tokens, int bps) {
  BatchSeq s;
  s.num_cached = num_cached;
  s.num_tokens = num_tokens;
  for (int j = 0; j < bps; ++j) s.block_table.push_back(index * bps + j);
  return s;
}

}  // namespace ignis::test
