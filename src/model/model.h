// ignis model: the interface every backend's model implements (CPU reference, CUDA).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "sampling/sampler.h"

namespace ignis {

// How to sample one logit row (see forward_sample). The pointers must stay valid for the call.
struct RowSampling {
  const SamplingParams* params = nullptr;  // null: a row whose result is discarded (greedy, no logprobs)
  double u = 0;                            // uniform draw in [0, 1) for non-greedy params (RequestRng::uniform)
  const int32_t* prompt_ids = nullptr;     // penalties: prompt and generated ids so far
  size_t n_prompt = 0;
  const int32_t* output_ids = nullptr;
  size_t n_output = 0;
  // *params, or greedy without logprobs for a discarded row.
  const SamplingParams& sampling() const;
};
struct RowSample {
  SampleResult result;
  std::string error;  // non-empty: this row could not be sampled (bad logits, every token masked)
};

// Calibration (ignis quantize): what a backend reports while an observer is set, after each
// forward pass: the largest |x| of every projection's input over the pass's rows and of each
// layer's K (after RoPE, before any FP8 rounding) and V. amax only, so a device backend can reduce
// on the GPU and hand over a few floats per pass.
enum class LinearSlot : uint8_t { Qkv, O, GateUp, Down, LmHead };
class CalibrationObserver {
 public:
  virtual ~CalibrationObserver() = default;
  virtual void input_amax(int layer, LinearSlot slot, float amax) = 0;  // layer -1 for LmHead
  virtual void kv_amax(int layer, float k_amax, float v_amax) = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const char* backend_name() const = 0;
  // Element type of the KV pool (the engine's KV byte accounting); default: the config's dtype.
  // The CPU backend returns F32 or F8_E4M3 (fake-quantized FP8 values in fp32 storage).
  virtual DType kv_dtype() const { return config().dtype; }
  // Sets (nullptr: clears) the observer later forward passes report to; false when the backend
  // cannot observe (then nothing is reported).
  virtual bool set_calibration_observer(CalibrationObserver* obs) { return false; }
  // Allocates the KV pool: num_blocks blocks of block_size tokens over all layers.
  virtual void init_kv_cache(int num_blocks, int block_size) = 0;
  virtual int kv_block_size() const = 0;
  virtual int kv_num_blocks() const = 0;
  // Runs one step: writes K/V of the new tokens into the cache and returns logits,
  // (batch.num_logit_rows(), vocab_size) fp32 row-major, in sequence order.
  virtual void forward(const ForwardBatch& batch, std::vector<float>& logits) = 0;

  // Runs one step and samples every logit row: out[i] is row i sampled with rows[i], exactly as
  // sample_token_u would (rows.size() == batch.num_logit_rows()). The default runs forward() and
  // the host reference sampler; a device backend samples where the logits are, so none cross to
  // the host. Throws only for a failed forward; a row that cannot be sampled gets its error.
  virtual void forward_sample(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                              std::vector<RowSample>& out);

 protected:
  // Host sampling of (rows.size(), vocab) logits in place, for forward_sample implementations.
  static void sample_on_host(float* logits, int vocab, const std::vector<RowSampling>& rows, std::vector<RowSample>& out);

 private:
  std::vector<float> host_logits_;  // default forward_sample's logits, reused across steps
};

}  // namespace ignis
