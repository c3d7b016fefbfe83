// ignis cuda: host side of GPU sampling. Turns the engine's RowSampling rows into the kernel's
// SampleRow parameters and penalty / bad-id / logit-bias lists and allowed-token masks (uploaded once per
// step, masks in one copy; the bans of
// bad-word sequences are found on the host from each row's tokens so far), launches
// kernels::sample_rows over each chunk of logit rows as the lm_head produces it, and copies the
// tokens, logprobs and statuses back.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "cuda/device_buffer.h"
#include "kernels/sampling.h"
#include "model/model.h"

namespace ignis::cuda {

class DeviceSampler {
 public:
  // Whether every row is plain greedy (no penalties, bad ids, bad words, logit bias, top-n, allowed mask):
  // argmax suffices.
  static bool plain_greedy(const std::vector<RowSampling>& rows);
  // Rows whose top-n logprobs exceed kernels::kMaxTopLogprobs, or a vocabulary above
  // kernels::kMaxSampleVocab, cannot be sampled on the device (the caller samples on the host).
  static bool fits_device(const std::vector<RowSampling>& rows, int vocab);

  // The kernel's penalty list of one row: the unique ids (ascending) of its output and, when a
  // repetition penalty applies, of its prompt, each with its count in the output; empty when the
  // row has no penalty. Throws on an id outside [0, vocab).
  static void penalty_list(const RowSampling& r, int vocab, std::vector<std::pair<int32_t, int32_t>>& out);

  // Builds and uploads (async on `stream`) the parameters of all rows of one step, except the
  // contents of the rows' allowed masks: stage_masks() copies those (the host may still be filling
  // them meanwhile: Model::forward_sample's before_sample), before the first launch().
  void stage(const std::vector<RowSampling>& rows, int vocab, cudaStream_t stream);
  void stage_masks(cudaStream_t stream);
  // Samples rows [row_begin, row_begin + n) of the staged step from logits (n, vocab) fp32.
  void launch(float* logits, int row_begin, int n, cudaStream_t stream);
  // Copies every row's result back (synchronizes the stream) and fills out.
  void collect(const std::vector<RowSampling>& rows, cudaStream_t stream, std::vector<RowSample>& out);

 private:
  void reserve(size_t rows, size_t pen, size_t bad, size_t bias, size_t mask_words);

  int vocab_ = 0;
  std::vector<const uint32_t*> mask_src_;  // the staged rows' masks, in mask-row order (stage_masks)
  size_t cap_rows_ = 0, cap_pen_ = 0, cap_bad_ = 0, cap_bias_ = 0, cap_mask_ = 0;
  // (masked rows, ceil(vocab / 32)) allowed-token masks of the step, pinned staging and device copy
  PinnedBuffer h_mask_;
  DeviceBuffer d_mask_;
  // host staging (pinned) and device copies
  PinnedBuffer h_rows_, h_pen_ids_, h_pen_counts_, h_bad_, h_bias_ids_, h_bias_vals_;
  DeviceBuffer d_rows_, d_pen_ids_, d_pen_counts_, d_pen_orig_, d_bad_, d_bias_ids_, d_bias_vals_, d_bias_orig_;
  // outputs: token, logprob, status (rows each), top ids / logprobs (rows x kMaxTopLogprobs)
  DeviceBuffer d_token_, d_logprob_, d_status_, d_top_ids_, d_top_lp_;
  PinnedBuffer h_token_, h_logprob_, h_status_, h_top_ids_, h_top_lp_;
  std::vector<std::pair<int32_t, int32_t>> scratch_;  // one row's penalty list (id, output count)
  std::vector<int32_t> banned_;                       // one row's bad-word bans this step
};

}  // namespace ignis::cuda
