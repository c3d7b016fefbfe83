// ignis model: the interface every backend's model implements (CPU reference, CUDA).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "sampling/sampler.h"

namespace ignis {

// Host work deferred into a forward pass (Model::forward_sample): today, filling the allowed-token
// masks of constrained rows while the device runs the pass.
using BeforeSample = std::function<void()>;

// How to sample one logit row (see forward_sample). The pointers must stay valid for the call.
struct RowSampling {
  const SamplingParams* params = nullptr;  // null: a row whose result is discarded (greedy, no logprobs)
  double u = 0;                            // uniform draw in [0, 1) for non-greedy params (RequestRng::uniform)
  const int32_t* prompt_ids = nullptr;     // penalties: prompt and generated ids so far
  size_t n_prompt = 0;
  const int32_t* output_ids = nullptr;
  size_t n_output = 0;
  // Speculative verification (sampling/sampler.h verify_draft_u has the exact semantics): the
  // proposal this row judges, -1 = none (a bonus row, or no speculation: sampled as above). The
  // row's output ids (penalties) then include the proposals before it.
  int32_t draft_token = -1;
  float draft_prob = 1;               // q(draft_token) under the proposer's processed distribution; 1 = deterministic
  const float* draft_dist = nullptr;  // (vocab) the proposer's processed distribution; null = one-hot at draft_token
  double u_accept = 0;                // second uniform in [0, 1) (RequestRng), read only with draft_dist
  // Constrained decoding: (ceil(vocab / 32)) words, bit set = token allowed (structured::Matcher's
  // fill_mask); null = unconstrained. Disallowed logits become -inf before every other processing
  // step (sample_token_u's `allowed`); logprobs stay those of the raw logits.
  const uint32_t* allowed_mask = nullptr;
  // Typical acceptance (spec/medusa.h typical_accept_path): when typical_entropy is set, the
  // backend also reports, before sampling the row, the processed distribution p that
  // sample_token_u draws from (penalties, then temperature, top-k, top-p, min-p):
  // typical_probs[j] = p(typical_tokens[j]) for j < n_typical and *typical_entropy = -sum p ln p.
  // A backend that cannot leaves them as they were (the engine then accepts exactly).
  const int32_t* typical_tokens = nullptr;
  int n_typical = 0;
  float* typical_probs = nullptr;
  float* typical_entropy = nullptr;
  // *params, or greedy without logprobs for a discarded row.
  const SamplingParams& sampling() const;
};
struct RowSample {
  SampleResult result;
  bool accepted = false;  // draft_token >= 0: result.token is the proposal (else the corrected token)
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
  // The input rows themselves (rows x k, fp32), for calibrations that need more than amax (AWQ's
  // scale search); a backend may not report them (the CPU backend does, for the four layer slots).
  virtual void input_rows(int layer, LinearSlot slot, const float* x, int64_t rows, int64_t k) {}
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
  // Final hidden states (what Medusa / EAGLE heads read): sets (nullptr: clears) the vector later
  // forward passes (forward, forward_sample, forward_verify) fill with the hidden state of every
  // hidden row of the pass (BatchSeq::hidden_rows: the logit rows, plus every token of all_hidden
  // sequences), after the final norm (the lm_head's input, transformers' last hidden_states):
  // (batch.num_hidden_rows(), hidden_size) fp32, sequence after sequence, from the same pass that
  // produced the logits. False when the backend cannot (then nothing is written, and the
  // engine refuses hidden-state proposers there). The CPU and CUDA backends can.
  virtual bool set_hidden_state_sink(std::vector<float>* sink) { return false; }
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
  // `before_sample` (may be empty) is host work the caller defers into the forward pass: the
  // backend calls it exactly once, after it has enqueued (or run) the pass and before it reads the
  // contents of any RowSampling::allowed_mask, so a device backend's GPU computes while the host
  // fills the masks. A forward that throws may not have called it.
  virtual void forward_sample(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                              std::vector<RowSample>& out, const BeforeSample& before_sample = {});
  // forward_sample for a step whose rows judge proposals (RowSampling::draft_token >= 0, on the
  // all_logits rows of BatchSeq::num_draft > 0 sequences): out[i].accepted and the token follow
  // verify_draft_u. The default is Model::forward_sample (forward() + the host sampler, which
  // judges proposals), correct on every backend; a backend whose own forward_sample implements
  // the same contract on its device overrides this to call it.
  virtual void forward_verify(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                              std::vector<RowSample>& out, const BeforeSample& before_sample = {});

  // Tree verification (model/batch.h BatchSeq::tree_parent): whether forward* runs tree sequences
  // (positions num_cached + depth, the tree attention mask). A backend that returns false rejects
  // tree batches with an error; the engine then refuses tree proposers at start.
  virtual bool supports_tree() const { return false; }
  // After a tree verification: copies every layer's K and V at KV slots src[i] to slots dst[i]
  // (logical positions through `block_table`, in order i = 0, 1, ...), so the accepted path's K/V
  // sits at positions num_cached + depth. The default throws (backends without tree support).
  virtual void compact_kv(const std::vector<int32_t>& block_table, const std::vector<int32_t>& src,
                          const std::vector<int32_t>& dst);

 protected:
  // Host sampling of (rows.size(), vocab) logits in place, for forward_sample implementations;
  // rows with a draft_token are judged by verify_draft_u.
  static void sample_on_host(float* logits, int vocab, const std::vector<RowSampling>& rows, std::vector<RowSample>& out);

 private:
  std::vector<float> host_logits_;  // default forward_sample's logits, reused across steps
};

}  // namespace ignis
