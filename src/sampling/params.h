// ignis sampling: per-request sampling parameters (backend-independent).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ignis {

struct SamplingParams {
  float temperature = 1.0f;   // 0 = greedy
  int top_k = 0;              // 0 = off
  float top_p = 1.0f;         // 1 = off
  float min_p = 0.0f;         // 0 = off
  float repetition_penalty = 1.0f;  // HF style, over prompt + generated tokens
  float presence_penalty = 0.0f;    // OpenAI style, over generated tokens
  float frequency_penalty = 0.0f;   // OpenAI style, over generated tokens
  std::optional<uint64_t> seed;     // same seed, same output
  int max_tokens = 16;
  std::vector<int32_t> stop_token_ids;   // in addition to the model's eos (unless ignore_eos)
  std::vector<std::string> stop_strings; // matched on detokenized text; not included in output
  bool ignore_eos = false;
  int logprobs = -1;          // -1 = none; 0 = sampled token's logprob only; n = plus top-n alternatives
  std::vector<int32_t> bad_token_ids;    // never sampled (logit = -inf)
  // Banned token sequences (TensorRT-LLM bad_words): the last token of a sequence gets -inf when
  // the rest of it equals the end of prompt + output so far (a one-token sequence: always banned).
  std::vector<std::vector<int32_t>> bad_word_ids;
  // OpenAI logit_bias: (token, bias) pairs, ids strictly ascending; the bias is added to the raw
  // logit (after the bans, before the penalties), greedy included.
  std::vector<std::pair<int32_t, float>> logit_bias;

  bool greedy() const { return temperature <= 0.0f; }
};

}  // namespace ignis
