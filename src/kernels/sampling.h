// ignis kernels: sampling on the GPU — penalties, temperature / top-k / top-p / min-p, greedy,
// inverse-CDF draw with a host-given uniform, raw logprobs and top-n alternatives.
//
// Semantics are the host reference sampler's (src/sampling/sampler.h, sample_token_u), row by row:
//   raw logits --(logprobs: raw log-softmax, top-n)--> tokens outside the allowed mask -> -inf, bad ids -> -inf, bias ids += bias, repetition penalty over
//   pen ids, frequency/presence over pen ids with out_count > 0 --> greedy argmax (ties -> lowest id)
//   or weights exp((l - lmax) / T), top-k, then top-p inside the top-k set, then min-p, then the
//   first id (ascending) whose cumulative weight exceeds u * total.
// Kept-set weights are summed as 64-bit fixed point (2^-45 units of the largest weight), so the
// result does not depend on thread order: same inputs and u, same token, every run.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace ignis::kernels {

constexpr int kMaxTopLogprobs = 20;
constexpr int kMaxSampleVocab = 1 << 18;  // fixed-point weight sums fit 63 bits up to this vocabulary

// One logit row's parameters (host-built, uploaded each step). Plain data, 8-byte aligned.
struct SampleRow {
  double u = 0;                   // uniform draw in [0, 1) for non-greedy rows
  float temperature = 0;          // <= 0: greedy
  int32_t top_k = 0;              // <= 0: off
  float top_p = 1;                // >= 1: off
  float min_p = 0;                // <= 0: off
  float repetition_penalty = 1;   // 1: off
  float frequency_penalty = 0;
  float presence_penalty = 0;
  int32_t num_logprobs = -1;      // -1: none; 0: sampled token's raw logprob; n: plus top-n (<= kMaxTopLogprobs)
  int32_t pen_begin = 0, pen_count = 0;  // entries of SampleLists::pen_* for this row
  int32_t bad_begin = 0, bad_count = 0;  // entries of SampleLists::bad_ids for this row
  int32_t bias_begin = 0, bias_count = 0;  // entries of SampleLists::bias_* for this row (ids unique)
  int32_t mask_row = -1;  // constrained decoding: row of SampleLists::allowed for this row; -1: unconstrained
  int32_t pad_ = 0;
};

// Device arrays shared by all rows (each row addresses its own range).
struct SampleLists {
  const int32_t* pen_ids = nullptr;         // unique ids of prompt + output (repetition penalty applies to all)
  const int32_t* pen_out_counts = nullptr;  // occurrences in the output (frequency / presence use them)
  float* pen_orig = nullptr;                // scratch, same length: raw logits of pen_ids (for the logprob)
  const int32_t* bad_ids = nullptr;         // never sampled (-inf)
  const int32_t* bias_ids = nullptr;        // logit_bias: token ids, unique within a row
  const float* bias_vals = nullptr;         // logit_bias: added to the logit after the bad ids
  float* bias_orig = nullptr;               // scratch, same length: raw logits of bias_ids (for the logprob)
  // (masked rows, mask_words) allowed-token bitmasks: bit (id % 32) of word id / 32 set = allowed
  // (structured::Matcher::fill_mask); mask_words = ceil(vocab / 32).
  const uint32_t* allowed = nullptr;
  int32_t mask_words = 0;
};

enum SampleStatus : int32_t { kSampleOk = 0, kSampleBadLogit = 1, kSampleAllMasked = 2 };

struct SampleOut {
  int32_t* token = nullptr;         // (rows)
  float* logprob = nullptr;         // (rows) raw logprob of token (0 when num_logprobs < 0)
  int32_t* top_ids = nullptr;       // (rows, kMaxTopLogprobs) first num_logprobs entries: ids by raw logit desc, ties by id
  float* top_logprobs = nullptr;    // (rows, kMaxTopLogprobs)
  int32_t* status = nullptr;        // (rows) SampleStatus
};

// logits: (num_rows, vocab) fp32, modified in place (penalties, masks). rows: device array (num_rows).
// vocab <= 2^18 (throws above: the fixed-point sums would overflow). One 1024-thread block per row.
// On kSampleBadLogit the row is left untouched; on any error token = 0 and logprob = 0.
void sample_rows(const SampleRow* rows, int num_rows, float* logits, int vocab, const SampleLists& lists,
                 const SampleOut& out, cudaStream_t stream);

}  // namespace ignis::kernels
