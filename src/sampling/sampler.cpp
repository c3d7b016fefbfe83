// ignis sampling: temperature / top-k / top-p / min-p filtering, inverse-CDF sampling and raw logprobs.
// Cost per call is O(vocab) without top-p; top-p sorts only a growing head of the candidates.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace ignis {

namespace {

struct Cand {
  int32_t id;
  float logit;
};
// Total order: higher logit first, ties to the lower id. Keeps results independent of the
// standard library's nth_element / partial_sort internals.
inline bool before(const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

void check_logits(const float* logits, int vocab) {
  IGNIS_CHECK(logits != nullptr, "sampling: logits pointer is null");
  for (int i = 0; i < vocab; i++) {
    const float x = logits[i];
    IGNIS_CHECK(!std::isnan(x) && x != std::numeric_limits<float>::infinity(),
                "sampling: logit of token {} is {} (model output is broken)", i, x);
  }
}

int32_t argmax(const float* logits, int vocab) {
  int32_t best = 0;
  for (int i = 1; i < vocab; i++)
    if (logits[i] > logits[best]) best = i;  // strict: ties keep the lowest id
  IGNIS_CHECK(logits[best] != -std::numeric_limits<float>::infinity(),
              "sampling: every token is masked (all logits are -inf)");
  return best;
}

// Sorts the head of c (by `before`) until it holds the smallest prefix whose weight reaches
// `target`; returns that prefix length (>= 1). w_of(cand) gives a candidate's weight.
template <class W>
size_t top_p_prefix(std::vector<Cand>& c, double target, W w_of) {
  size_t k = std::min<size_t>(c.size(), 1024);
  for (;;) {
    std::partial_sort(c.begin(), c.begin() + k, c.end(), before);
    double cum = 0;
    for (size_t j = 0; j < k; j++) {
      cum += w_of(c[j]);
      if (cum >= target) return j + 1;
    }
    if (k == c.size()) return k;  // rounding kept the sum just below target: keep everything
    k = std::min(c.size(), k * 4);
  }
}

}  // namespace

std::vector<TokenProb> sampling_distribution(const float* logits, int vocab, const SamplingParams& p) {
  IGNIS_CHECK(vocab > 0, "sampling: vocab size must be positive (got {})", vocab);
  if (p.greedy()) return {TokenProb{argmax(logits, vocab), 1.0}};

  // Candidates: every unmasked token, or the top-k of them.  // (n_cand)
  std::vector<Cand> c;
  c.reserve(vocab);
  for (int i = 0; i < vocab; i++)
    if (logits[i] != -std::numeric_limits<float>::infinity()) c.push_back({i, logits[i]});
  IGNIS_CHECK(!c.empty(), "sampling: every token is masked (all logits are -inf)");
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) {
    std::nth_element(c.begin(), c.begin() + (p.top_k - 1), c.end(), before);
    c.resize(p.top_k);
  }

  float lmax = c[0].logit;
  for (const Cand& x : c) lmax = std::max(lmax, x.logit);
  const double inv_t = 1.0 / static_cast<double>(p.temperature);
  // Weight relative to the most likely token (whose weight is exactly 1).
  auto w_of = [&](const Cand& x) { return std::exp((static_cast<double>(x.logit) - lmax) * inv_t); };

  if (p.top_p < 1.0f) {
    double total = 0;
    for (const Cand& x : c) total += w_of(x);
    c.resize(top_p_prefix(c, static_cast<double>(p.top_p) * total, w_of));
  }
  if (p.min_p > 0.0f) {  // prob_i >= min_p * prob_max  <=>  weight_i >= min_p
    const double thr = p.min_p;
    c.erase(std::remove_if(c.begin(), c.end(), [&](const Cand& x) { return w_of(x) < thr; }), c.end());
  }

  std::sort(c.begin(), c.end(), [](const Cand& a, const Cand& b) { return a.id < b.id; });
  std::vector<TokenProb> d(c.size());
  double total = 0;
  for (size_t i = 0; i < c.size(); i++) total += (d[i] = TokenProb{c[i].id, w_of(c[i])}).prob;
  for (auto& t : d) t.prob /= total;
  return d;
}

SampleResult sample_token(float* logits, int vocab, const SamplingParams& p, RequestRng& rng,
                          const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids, size_t n_output) {
  validate_sampling_params(p, vocab);
  check_logits(logits, vocab);

  // Raw log-softmax pieces, taken before the logits are modified.
  const bool want_lp = p.logprobs >= 0;
  double lse = 0;
  SampleResult r;
  std::vector<float> raw;  // (vocab) copy only when penalties will change logits and logprobs are wanted
  if (want_lp) {
    float m = logits[0];
    for (int i = 1; i < vocab; i++) m = std::max(m, logits[i]);
    IGNIS_CHECK(m != -std::numeric_limits<float>::infinity(), "sampling: every token is masked (all logits are -inf)");
    double s = 0;
    for (int i = 0; i < vocab; i++) s += std::exp(static_cast<double>(logits[i]) - m);
    lse = m + std::log(s);
    if (p.logprobs > 0) {
      const int n = std::min(p.logprobs, vocab);
      std::vector<Cand> c(vocab);  // (vocab)
      for (int i = 0; i < vocab; i++) c[i] = {i, logits[i]};
      std::partial_sort(c.begin(), c.begin() + n, c.end(), before);
      r.top.reserve(n);
      for (int j = 0; j < n; j++) r.top.emplace_back(c[j].id, static_cast<float>(c[j].logit - lse));
    }
    const bool modifies = !p.bad_token_ids.empty() || p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f ||
                          p.presence_penalty != 0.0f;
    if (modifies) raw.assign(logits, logits + vocab);
  }

  apply_penalties(logits, vocab, p, prompt_ids, n_prompt, output_ids, n_output);
  const std::vector<TokenProb> d = sampling_distribution(logits, vocab, p);

  if (d.size() == 1) {
    r.token = d[0].token;
  } else {
    // Inverse CDF over the kept tokens in id order; zero-weight tokens are never chosen.
    const double u = rng.uniform();
    double cum = 0;
    r.token = -1;
    for (const TokenProb& t : d) {
      cum += t.prob;
      if (u < cum) {
        r.token = t.token;
        break;
      }
    }
    if (r.token < 0) {  // u landed in the rounding gap above the last cumulative sum
      for (auto it = d.rbegin(); it != d.rend(); ++it)
        if (it->prob > 0) {
          r.token = it->token;
          break;
        }
    }
  }
  if (want_lp) r.logprob = static_cast<float>((raw.empty() ? logits[r.token] : raw[r.token]) - lse);
  return r;
}

}  // namespace ignis
