// ignis sampling: the host reference sampler (backend-independent).
//
// One call per generated token per request:
//   raw logits --(bad_token_ids / bad_word_ids -> -inf, logit_bias, repetition / frequency / presence penalties)-->
//   penalized logits --(temperature, top-k, top-p, min-p)--> distribution --(inverse CDF, RequestRng)--> token.
// Greedy (temperature 0) takes the argmax of the penalized logits, ties to the lowest id.
// Constrained decoding (src/structured) passes an allowed-token bitmask: every token whose bit is
// clear gets -inf first, before the bans, the bias and the penalties (so no bias revives it).
// Logprobs are the log-softmax of the RAW logits (before the mask, penalties and temperature), like vLLM's default.
// Stop ids / stop strings / max_tokens are the engine's job, not the sampler's.
// Cost: O(vocab) per call (no full sort); per-thread scratch buffers are reused across calls, so
// calls from different threads (different engines, tests) never share state.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "sampling/params.h"

namespace ignis {

// Per-request RNG: xoshiro256** seeded through splitmix64. Same seed -> same sequence on
// every platform and standard library (no std::*_distribution involved).
class RequestRng {
 public:
  explicit RequestRng(uint64_t seed);
  uint64_t next_u64();
  double uniform();  // [0, 1), 53 random bits

 private:
  uint64_t s_[4];
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0;                            // raw log-softmax of `token`; 0 when p.logprobs < 0
  std::vector<std::pair<int32_t, float>> top;   // top-p.logprobs (id, raw logprob), descending, ties by id
};

// Throws ignis::Error naming the field when a sampling parameter is out of range:
// temperature finite >= 0, top_p in (0, 1], min_p in [0, 1], top_k >= 0 (negative = off, like vLLM's -1),
// repetition_penalty finite > 0, presence/frequency finite, logprobs >= -1, bad_token_ids in [0, vocab),
// bad_word_ids sequences non-empty with ids in [0, vocab), logit_bias ids strictly ascending in [0, vocab)
// with finite biases.
// Cheap; the engine / server may call it at submit time to reject a request early.
void validate_sampling_params(const SamplingParams& p, int vocab);

// logits: (vocab) fp32, modified in place (penalties, bad tokens). prompt/output ids feed the penalties.
// Throws ignis::Error on bad params, ids outside the vocab, a NaN/+inf logit, or when every token is masked.
SampleResult sample_token(float* logits, int vocab, const SamplingParams& p, RequestRng& rng,
                          const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids, size_t n_output);

// The same with the uniform draw given: sample_token takes u = rng.uniform() for non-greedy params
// (greedy params draw nothing) and calls this. Backends that sample on a device draw u on the host
// the same way, so a seed gives the same stream of draws on every backend.
// allowed: null = every token, else ceil(vocab / 32) words, bit (id % 32) of word id / 32 set =
// token id may be sampled (structured::Matcher::fill_mask's layout).
SampleResult sample_token_u(float* logits, int vocab, const SamplingParams& p, double u, const int32_t* prompt_ids,
                            size_t n_prompt, const int32_t* output_ids, size_t n_output,
                            const uint32_t* allowed = nullptr);

// Speculative decoding: the proposal one logit row judges (the rejection sampler's inputs).
struct DraftCheck {
  int32_t token = -1;           // the proposal d; -1 = none (a bonus row: plain sampling)
  float prob = 1;               // q(d) under the proposer's processed distribution (1: deterministic proposer)
  const float* dist = nullptr;  // (vocab) the proposer's processed distribution q; null = deterministic proposer
  double u_accept = 0;          // second uniform in [0, 1), read only with dist
};

// Judges proposal d.token against this row's target distribution p (the mask, penalties, temperature, top-k,
// top-p, min-p exactly as sample_token_u) and returns the row's token; *accepted says whether it
// is d. The output distribution is always p:
//   no proposal             -> sample_token_u (a bonus row);
//   greedy params           -> token = argmax, accepted iff d == argmax;
//   sampled, dist == null   -> token = sample_token_u's token for this u, accepted iff it equals d: d is
//                              taken with probability p(d), and otherwise the token is drawn from p
//                              without d, renormalized, which is the rejection sampler with a one-hot q
//                              (min(1, p(d)/1), residual max(0, p - onehot)); as it is the same draw as
//                              without speculation, a seed also gives the same tokens as without;
//   sampled, dist != null   -> accepted iff u_accept * q(d) < p(d) (probability min(1, p(d)/q(d))),
//                              token d; else the inverse-CDF draw with u over max(0, p - q) normalized
//                              (p itself when that is all zero by rounding).
// Logprobs are those of the returned token, as sample_token_u's. Throws as sample_token_u, and for d
// outside the vocabulary or u_accept outside [0, 1).
SampleResult verify_draft_u(float* logits, int vocab, const SamplingParams& p, double u, const DraftCheck& d,
                            const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids, size_t n_output,
                            bool* accepted, const uint32_t* allowed = nullptr);

// The processed distribution sample_token_u draws from, dense: dist[i] = probability of token i
// (0 for tokens cut by top-k/top-p/min-p or masked), from already-penalized logits. Greedy params
// give a one-hot at the argmax. dist: (vocab). A proposer's q (spec/draft.h).
void dense_distribution(const float* logits, int vocab, const SamplingParams& p, float* dist);

// --- building blocks (used by sample_token, exposed for tests and other backends' references) ---

// Sets logits[i] = -inf for every token whose bit in `allowed` (ceil(vocab / 32) words) is clear.
void apply_allowed_mask(float* logits, int vocab, const uint32_t* allowed);
inline bool token_allowed(const uint32_t* allowed, int32_t id) {
  return allowed == nullptr || ((allowed[size_t(id) >> 5] >> (uint32_t(id) & 31u)) & 1u) != 0;
}

// The last tokens of bad_word_ids sequences banned at this position (appended to *out, maybe repeated):
// a sequence of n tokens bans its last one when its first n - 1 equal the last n - 1 tokens of
// prompt + output (prompt first; a one-token sequence is always banned).
void banned_word_tokens(const SamplingParams& p, const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids,
                        size_t n_output, std::vector<int32_t>* out);

// Applies bad_token_ids and banned_word_tokens (-inf), then logit_bias (logit += bias), then repetition penalty (HF: over unique prompt+output ids,
// logit > 0 ? logit / r : logit * r), then frequency and presence penalties (OpenAI: over output ids,
// logit -= count * frequency + (count > 0) * presence). logits: (vocab), in place.
void apply_penalties(float* logits, int vocab, const SamplingParams& p, const int32_t* prompt_ids, size_t n_prompt,
                     const int32_t* output_ids, size_t n_output);

struct TokenProb {
  int32_t token;
  double prob;
};
// The distribution sample_token draws from, given already-penalized logits: the kept tokens in
// ascending id order with probabilities summing to 1 (temperature, then top-k, top-p, min-p).
// Greedy params give the argmax alone with probability 1.
std::vector<TokenProb> sampling_distribution(const float* logits, int vocab, const SamplingParams& p);

// The k best token ids of a row of logits, best first (ties to the lower id), into out[0, k): the
// host reference of every device top-k (Medusa's heads, EAGLE's draft rows). False, with out
// untouched, when a logit is not finite. 1 <= k <= vocab.
bool top_k_ids(const float* logits, int vocab, int k, int32_t* out);

}  // namespace ignis
