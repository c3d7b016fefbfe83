// ignis sampling: temperature / top-k / top-p / min-p filtering, inverse-CDF sampling and raw logprobs.
// Every filter reduces to a threshold in the total order `before` (higher logit first, ties to the
// lower id) or on the weight, so the kept set is found in O(vocab) expected time (nth_element and a
// weighted quickselect for top-p) and sampled by one pass over token ids in ascending order: no
// full sort, and no dependence on the standard library's selection internals.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.h"

namespace ignis {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Cand {
  int32_t id;
  float logit;
};
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
  IGNIS_CHECK(logits[best] != kNegInf, "sampling: every token is masked (all logits are -inf)");
  return best;
}

// In c (any order), finds the element at which the cumulative weight, taken in `before` order,
// first reaches `target`; returns it (c is permuted). Expected O(n): nth_element halves the range.
template <class W>
Cand top_p_cut(std::vector<Cand>& c, double target, W weight) {
  size_t lo = 0, hi = c.size();
  double acc = 0;  // weight of everything ranked before c[lo]
  while (hi - lo > 16) {
    const size_t m = lo + (hi - lo) / 2;
    std::nth_element(c.begin() + lo, c.begin() + m, c.begin() + hi, before);
    double left = 0;
    for (size_t i = lo; i < m; i++) left += weight(c[i]);
    if (acc + left >= target) {
      hi = m;  // reached strictly before c[m]
    } else if (acc + left + weight(c[m]) >= target) {
      return c[m];
    } else {
      acc += left + weight(c[m]);
      lo = m + 1;
    }
  }
  std::sort(c.begin() + lo, c.begin() + hi, before);
  for (size_t i = lo; i < hi; i++) {
    acc += weight(c[i]);
    if (acc >= target) return c[i];
  }
  return c[hi - 1];  // rounding kept the sum just below target: keep everything up to the last one
}

// Per-thread scratch reused across calls: at a 128k vocabulary a fresh allocation per token costs more
// (page faults) than the sampling itself. Contents never carry meaning from one call to the next.
struct Scratch {
  std::vector<double> w;   // (vocab) kept weights by id
  std::vector<Cand> cand;  // (n_unmasked) top-k / top-p candidates
  std::vector<float> raw;  // (vocab) raw logits kept for logprobs when penalties modify them
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Weights (relative to the most likely token, whose weight is 1) of the kept tokens, indexed by id;
// 0 for dropped or masked tokens. Returns their sum. Not for greedy params.
double kept_weights(const float* logits, int vocab, const SamplingParams& p, std::vector<double>& w) {
  float lmax = kNegInf;
  for (int i = 0; i < vocab; i++) lmax = std::max(lmax, logits[i]);
  IGNIS_CHECK(lmax != kNegInf, "sampling: every token is masked (all logits are -inf)");
  const double inv_t = 1.0 / static_cast<double>(p.temperature);
  w.assign(vocab, 0.0);  // (vocab)
  for (int i = 0; i < vocab; i++)
    if (logits[i] != kNegInf) w[i] = std::exp((static_cast<double>(logits[i]) - lmax) * inv_t);

  // top-k, then top-p, as one threshold element: kept iff x is the threshold or ranked before it.
  std::optional<Cand> cut;
  const bool top_k = p.top_k > 0;
  const bool top_p = p.top_p < 1.0f;
  if (top_k || top_p) {
    std::vector<Cand>& c = scratch().cand;  // (n_unmasked) candidates
    c.clear();
    for (int i = 0; i < vocab; i++)
      if (logits[i] != kNegInf) c.push_back({i, logits[i]});
    if (top_k && static_cast<size_t>(p.top_k) < c.size()) {
      std::nth_element(c.begin(), c.begin() + (p.top_k - 1), c.end(), before);
      cut = c[p.top_k - 1];
      c.resize(p.top_k);
    }
    if (top_p) {
      double total = 0;
      for (const Cand& x : c) total += w[x.id];
      cut = top_p_cut(c, static_cast<double>(p.top_p) * total, [&](const Cand& x) { return w[x.id]; });
    }
  }
  // min-p: prob_i >= min_p * prob_max  <=>  weight_i >= min_p.
  const double min_w = p.min_p;
  double total = 0;
  for (int i = 0; i < vocab; i++) {
    if (w[i] == 0.0) continue;
    if ((cut && before(*cut, Cand{i, logits[i]})) || w[i] < min_w) w[i] = 0.0;
    total += w[i];
  }
  return total;
}

// Top-n (id, logit) of the logits in `before` order, via a bounded heap: O(vocab log n).
std::vector<Cand> top_n(const float* logits, int vocab, int n) {
  std::vector<Cand> heap;  // heap top = the worst of the current best n
  heap.reserve(n + 1);
  for (int i = 0; i < vocab; i++) {
    const Cand x{i, logits[i]};
    if (static_cast<int>(heap.size()) < n) {
      heap.push_back(x);
      std::push_heap(heap.begin(), heap.end(), before);
    } else if (before(x, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), before);
      heap.back() = x;
      std::push_heap(heap.begin(), heap.end(), before);
    }
  }
  std::sort(heap.begin(), heap.end(), before);
  return heap;
}

}  // namespace

bool top_k_ids(const float* logits, int vocab, int k, int32_t* out) {
  IGNIS_CHECK(k >= 1 && k <= vocab, "top-k: {} of a vocabulary of {}", k, vocab);
  if (!std::all_of(logits, logits + vocab, [](float x) { return std::isfinite(x); })) return false;
  const std::vector<Cand> best = top_n(logits, vocab, k);
  for (int i = 0; i < k; ++i) out[i] = best[size_t(i)].id;
  return true;
}

std::vector<TokenProb> sampling_distribution(const float* logits, int vocab, const SamplingParams& p) {
  IGNIS_CHECK(vocab > 0, "sampling: vocab size must be positive (got {})", vocab);
  if (p.greedy()) return {TokenProb{argmax(logits, vocab), 1.0}};
  std::vector<double>& w = scratch().w;
  const double total = kept_weights(logits, vocab, p, w);
  std::vector<TokenProb> d;
  for (int i = 0; i < vocab; i++)
    if (w[i] > 0) d.push_back({i, w[i] / total});
  return d;
}

SampleResult sample_token(float* logits, int vocab, const SamplingParams& p, RequestRng& rng,
                          const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids, size_t n_output) {
  validate_sampling_params(p, vocab);
  const double u = p.greedy() ? 0.0 : rng.uniform();
  return sample_token_u(logits, vocab, p, u, prompt_ids, n_prompt, output_ids, n_output);
}

namespace {

// Inverse CDF over weights in ascending id order: the first token whose cumulative weight passes
// `target`; zero-weight tokens are never chosen (the last positive one takes the rounding gap).
int32_t inverse_cdf(const std::vector<double>& w, int vocab, double target) {
  double cum = 0;
  int32_t last = -1;
  for (int i = 0; i < vocab; i++) {
    if (w[i] <= 0) continue;
    last = i;
    cum += w[i];
    if (target < cum) return i;
  }
  return last;
}

// sample_token_u's frame: checks, raw logprobs (before the logits change), penalties, then
// choose(penalized logits) picks the token, whose raw logprob is filled in.
template <class Choose>
SampleResult sample_with(float* logits, int vocab, const SamplingParams& p, double u, const int32_t* prompt_ids,
                         size_t n_prompt, const int32_t* output_ids, size_t n_output, const uint32_t* allowed,
                         Choose&& choose) {
  validate_sampling_params(p, vocab);
  IGNIS_CHECK(u >= 0.0 && u < 1.0, "sampling: uniform draw {} outside [0, 1)", u);
  check_logits(logits, vocab);

  // Raw log-softmax pieces, taken before the logits are modified.
  const bool want_lp = p.logprobs >= 0;
  double lse = 0;
  SampleResult r;
  const float* raw = nullptr;  // (vocab) copy only when penalties will change logits and logprobs are wanted
  if (want_lp) {
    float m = kNegInf;
    for (int i = 0; i < vocab; i++) m = std::max(m, logits[i]);
    IGNIS_CHECK(m != kNegInf, "sampling: every token is masked (all logits are -inf)");
    double s = 0;
    for (int i = 0; i < vocab; i++) s += std::exp(static_cast<double>(logits[i]) - m);
    lse = m + std::log(s);
    if (p.logprobs > 0)
      for (const Cand& c : top_n(logits, vocab, std::min(p.logprobs, vocab)))
        r.top.emplace_back(c.id, static_cast<float>(c.logit - lse));
    const bool modifies = allowed != nullptr || !p.bad_token_ids.empty() || !p.bad_word_ids.empty() || !p.logit_bias.empty() ||
                          p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
    if (modifies) {
      scratch().raw.assign(logits, logits + vocab);
      raw = scratch().raw.data();
    }
  }

  if (allowed) apply_allowed_mask(logits, vocab, allowed);
  apply_penalties(logits, vocab, p, prompt_ids, n_prompt, output_ids, n_output);
  r.token = choose(logits);
  if (want_lp) r.logprob = static_cast<float>((raw ? raw[r.token] : logits[r.token]) - lse);
  return r;
}

// The token sample_token_u picks from penalized logits.
int32_t plain_choice(const float* logits, int vocab, const SamplingParams& p, double u) {
  if (p.greedy()) return argmax(logits, vocab);
  std::vector<double>& w = scratch().w;
  const double total = kept_weights(logits, vocab, p, w);
  return inverse_cdf(w, vocab, u * total);
}

}  // namespace

void apply_allowed_mask(float* logits, int vocab, const uint32_t* allowed) {
  for (int i = 0; i < vocab; i++)
    if (!token_allowed(allowed, i)) logits[i] = kNegInf;
}

SampleResult sample_token_u(float* logits, int vocab, const SamplingParams& p, double u, const int32_t* prompt_ids,
                            size_t n_prompt, const int32_t* output_ids, size_t n_output, const uint32_t* allowed) {
  return sample_with(logits, vocab, p, u, prompt_ids, n_prompt, output_ids, n_output, allowed,
                     [&](const float* lg) { return plain_choice(lg, vocab, p, u); });
}

SampleResult verify_draft_u(float* logits, int vocab, const SamplingParams& p, double u, const DraftCheck& d,
                            const int32_t* prompt_ids, size_t n_prompt, const int32_t* output_ids, size_t n_output,
                            bool* accepted, const uint32_t* allowed) {
  IGNIS_CHECK(accepted != nullptr, "sampling: verify_draft_u needs an output flag");
  *accepted = false;
  if (d.token < 0) return sample_token_u(logits, vocab, p, u, prompt_ids, n_prompt, output_ids, n_output, allowed);
  IGNIS_CHECK(d.token < vocab, "sampling: draft token {} outside the vocabulary [0, {})", d.token, vocab);
  if (p.greedy() || d.dist == nullptr) {  // exact match: the same draw as without a proposal
    SampleResult r = sample_token_u(logits, vocab, p, u, prompt_ids, n_prompt, output_ids, n_output, allowed);
    *accepted = r.token == d.token;
    return r;
  }
  IGNIS_CHECK(d.u_accept >= 0.0 && d.u_accept < 1.0, "sampling: uniform draw {} outside [0, 1)", d.u_accept);
  const float* q = d.dist;
  return sample_with(logits, vocab, p, u, prompt_ids, n_prompt, output_ids, n_output, allowed, [&](const float* lg) {
    std::vector<double>& w = scratch().w;
    const double total = kept_weights(lg, vocab, p, w);  // p(i) = w[i] / total
    const double pd = w[d.token] / total;
    if (d.u_accept * static_cast<double>(d.prob) < pd) {
      *accepted = true;
      return d.token;
    }
    // Residual max(0, p - q): its mass, then the inverse CDF over it in id order.
    double mass = 0;
    for (int i = 0; i < vocab; i++)
      if (w[i] > 0) mass += std::max(0.0, w[i] / total - static_cast<double>(q[i]));
    if (!(mass > 1e-12)) return inverse_cdf(w, vocab, u * total);  // p == q up to rounding
    const double target = u * mass;
    double cum = 0;
    int32_t last = -1;
    for (int i = 0; i < vocab; i++) {
      if (w[i] <= 0) continue;
      const double ri = w[i] / total - static_cast<double>(q[i]);
      if (ri <= 0) continue;
      last = i;
      cum += ri;
      if (target < cum) return int32_t(i);
    }
    return last;
  });
}

void dense_distribution(const float* logits, int vocab, const SamplingParams& p, float* dist) {
  IGNIS_CHECK(vocab > 0, "sampling: vocab size must be positive (got {})", vocab);
  check_logits(logits, vocab);
  if (p.greedy()) {
    const int32_t a = argmax(logits, vocab);
    std::fill(dist, dist + vocab, 0.0f);
    dist[a] = 1.0f;
    return;
  }
  std::vector<double>& w = scratch().w;
  const double total = kept_weights(logits, vocab, p, w);
  for (int i = 0; i < vocab; i++) dist[i] = static_cast<float>(w[i] / total);
}

}  // namespace ignis
