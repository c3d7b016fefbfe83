// ignis model: the interface every backend's model implements (CPU reference, CUDA).
#pragma once
#include <memory>
#include <vector>

#include "model/batch.h"
#include "model/config.h"

namespace ignis {

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const char* backend_name() const = 0;
  // Allocates the KV pool: num_blocks blocks of block_size tokens over all layers.
  virtual void init_kv_cache(int num_blocks, int block_size) = 0;
  virtual int kv_block_size() const = 0;
  virtual int kv_num_blocks() const = 0;
  // Runs one step: writes K/V of the new tokens into the cache and returns logits,
  // (batch.num_logit_rows(), vocab_size) fp32 row-major, in sequence order.
  virtual void forward(const ForwardBatch& batch, std::vector<float>& logits) = 0;

  // Optional fast path for greedy decoding: runs forward() and takes the argmax of every logit
  // row on the device (ties -> lowest id), with its raw log-softmax log-probability, so no
  // logits cross to the host. Backends without it return false from supports_device_greedy().
  virtual bool supports_device_greedy() const { return false; }
  virtual void forward_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens, std::vector<float>& logprobs);
};

}  // namespace ignis
