// ignis sampling: parameter validation and the logit penalties (bad tokens, bad word sequences,
// logit bias, repetition, frequency, presence), applied in place before temperature and the filters.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "sampling/sampler.h"

namespace ignis {

void validate_sampling_params(const SamplingParams& p, int vocab) {
  IGNIS_CHECK(vocab > 0, "sampling: vocab size must be positive (got {})", vocab);
  IGNIS_CHECK(std::isfinite(p.temperature) && p.temperature >= 0.0f,
              "sampling: temperature must be a finite number >= 0 (got {})", p.temperature);
  IGNIS_CHECK(std::isfinite(p.top_p) && p.top_p > 0.0f && p.top_p <= 1.0f, "sampling: top_p must be in (0, 1] (got {})",
              p.top_p);
  IGNIS_CHECK(std::isfinite(p.min_p) && p.min_p >= 0.0f && p.min_p <= 1.0f, "sampling: min_p must be in [0, 1] (got {})",
              p.min_p);
  IGNIS_CHECK(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f,
              "sampling: repetition_penalty must be a finite number > 0 (got {})", p.repetition_penalty);
  IGNIS_CHECK(std::isfinite(p.presence_penalty), "sampling: presence_penalty must be finite (got {})",
              p.presence_penalty);
  IGNIS_CHECK(std::isfinite(p.frequency_penalty), "sampling: frequency_penalty must be finite (got {})",
              p.frequency_penalty);
  IGNIS_CHECK(p.logprobs >= -1, "sampling: logprobs must be >= -1 (got {})", p.logprobs);
  for (size_t i = 0; i < p.bad_token_ids.size(); i++) {
    int32_t t = p.bad_token_ids[i];
    IGNIS_CHECK(t >= 0 && t < vocab, "sampling: bad_token_ids[{}] = {} is outside the vocabulary [0, {})", i, t, vocab);
  }
  for (size_t i = 0; i < p.bad_word_ids.size(); i++) {
    IGNIS_CHECK(!p.bad_word_ids[i].empty(), "sampling: bad_word_ids[{}] is empty", i);
    for (int32_t t : p.bad_word_ids[i])
      IGNIS_CHECK(t >= 0 && t < vocab, "sampling: bad_word_ids[{}] has token {} outside the vocabulary [0, {})", i, t,
                  vocab);
  }
  for (size_t i = 0; i < p.logit_bias.size(); i++) {
    const auto [t, b] = p.logit_bias[i];
    IGNIS_CHECK(t >= 0 && t < vocab, "sampling: logit_bias token {} is outside the vocabulary [0, {})", t, vocab);
    IGNIS_CHECK(i == 0 || p.logit_bias[i - 1].first < t, "sampling: logit_bias ids must be strictly ascending (at {})",
                t);
    IGNIS_CHECK(std::isfinite(b), "sampling: logit_bias of token {} must be finite (got {})", t, b);
  }
}

void banned_word_tokens(const SamplingParams& p, const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids,
                        size_t n_output, std::vector<int32_t>* out) {
  const size_t total = n_prompt + n_output;
  // k-th token from the end of prompt + output (k = 1: the last one)
  auto from_end = [&](size_t k) { return k <= n_output ? output_ids[n_output - k] : prompt_ids[total - k]; };
  for (const std::vector<int32_t>& w : p.bad_word_ids) {
    if (w.empty()) continue;
    const size_t pre = w.size() - 1;  // tokens that must already be there
    if (pre > total) continue;
    bool match = true;
    for (size_t j = 0; j < pre && match; j++) match = from_end(pre - j) == w[j];
    if (match) out->push_back(w.back());
  }
}

namespace {
// Sorted copy of ids, each checked to lie in [0, vocab).
std::vector<int32_t> sorted_ids(const int32_t* ids, size_t n, int vocab, const char* what) {
  IGNIS_CHECK(n == 0 || ids != nullptr, "sampling: {} is null but has {} ids", what, n);
  std::vector<int32_t> v(ids, ids + n);
  for (size_t i = 0; i < n; i++)
    IGNIS_CHECK(v[i] >= 0 && v[i] < vocab, "sampling: {}[{}] = {} is outside the vocabulary [0, {})", what, i, v[i],
                vocab);
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

void apply_penalties(float* logits, int vocab, const SamplingParams& p, const int32_t* prompt_ids, size_t n_prompt,
                     const int32_t* output_ids, size_t n_output) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int32_t t : p.bad_token_ids) {
    IGNIS_CHECK(t >= 0 && t < vocab, "sampling: bad token id {} is outside the vocabulary [0, {})", t, vocab);
    logits[t] = kNegInf;
  }
  if (!p.bad_word_ids.empty()) {
    IGNIS_CHECK(n_prompt == 0 || prompt_ids != nullptr, "sampling: prompt_ids is null but has {} ids", n_prompt);
    IGNIS_CHECK(n_output == 0 || output_ids != nullptr, "sampling: output_ids is null but has {} ids", n_output);
    thread_local std::vector<int32_t> banned;  // reused across calls
    banned.clear();
    banned_word_tokens(p, prompt_ids, n_prompt, output_ids, n_output, &banned);
    for (int32_t t : banned) {
      IGNIS_CHECK(t >= 0 && t < vocab, "sampling: bad word token {} is outside the vocabulary [0, {})", t, vocab);
      logits[t] = kNegInf;
    }
  }
  for (const auto& [t, b] : p.logit_bias) {
    IGNIS_CHECK(t >= 0 && t < vocab, "sampling: logit_bias token {} is outside the vocabulary [0, {})", t, vocab);
    logits[t] += b;  // -inf stays -inf
  }
  const bool rep = p.repetition_penalty != 1.0f;
  const bool freq_pres = p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  if (!rep && !freq_pres) return;

  std::vector<int32_t> out = sorted_ids(output_ids, n_output, vocab, "output_ids");
  if (rep) {
    std::vector<int32_t> seen = sorted_ids(prompt_ids, n_prompt, vocab, "prompt_ids");
    seen.insert(seen.end(), out.begin(), out.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const float r = p.repetition_penalty;
    for (int32_t t : seen) logits[t] = logits[t] > 0.0f ? logits[t] / r : logits[t] * r;
  }
  if (freq_pres) {
    for (size_t i = 0; i < out.size();) {
      size_t j = i;
      while (j < out.size() && out[j] == out[i]) j++;
      const float count = static_cast<float>(j - i);
      logits[out[i]] -= count * p.frequency_penalty + p.presence_penalty;
      i = j;
    }
  }
}

}  // namespace ignis
