// Sampled distributions: chi-square goodness of fit against hand-computed probabilities, and
// sampling_distribution against a naive full-sort reference at a real vocabulary size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "chi_square.h"
#include "sampling/sampler.h"

using namespace ignis;

namespace {
// Base distribution, sorted: 3 (.30), 1 (.25), 4 (.20), 2 (.10), 5 (.10), 0 (.05).
const std::vector<double> kQ = {0.05, 0.25, 0.10, 0.30, 0.20, 0.10};
constexpr long kDraws = 40000;
constexpr double kMinP = 1e-4;  // generous, but a wrong distribution lands far below (see PowerCheck)

std::vector<long> histogram(const SamplingParams& p, uint64_t seed) {
  std::vector<float> base;
  for (double q : kQ) base.push_back(static_cast<float>(std::log(q)));
  RequestRng rng(seed);
  std::vector<long> h(kQ.size(), 0);
  for (long i = 0; i < kDraws; i++) {
    std::vector<float> l = base;
    h[sample_token(l.data(), static_cast<int>(l.size()), p, rng, nullptr, 0, nullptr, 0).token]++;
  }
  return h;
}
// Normalizes w; entries that are 0 must never be drawn.
std::vector<double> normalized(std::vector<double> w) {
  double s = 0;
  for (double x : w) s += x;
  for (double& x : w) x /= s;
  return w;
}
void expect_fits(const SamplingParams& p, const std::vector<double>& expected, uint64_t seed) {
  const auto h = histogram(p, seed);
  for (size_t i = 0; i < h.size(); i++)
    if (expected[i] == 0) {
      EXPECT_EQ(h[i], 0) << "token " << i << " is filtered out but was drawn";
    }
  const double pv = test::chi_square_p(h, expected);
  EXPECT_GT(pv, kMinP) << "chi-square p-value " << pv;
}
}  // namespace

TEST(ChiSquare, PValueMatchesTables) {
  // Textbook critical values: chi2(df=1) = 3.841 and chi2(df=5) = 11.070 at p = 0.05; chi2(df=10) = 23.209 at 0.01.
  EXPECT_NEAR(test::gamma_q(0.5, 3.841 / 2), 0.05, 1e-4);
  EXPECT_NEAR(test::gamma_q(2.5, 11.070 / 2), 0.05, 1e-4);
  EXPECT_NEAR(test::gamma_q(5.0, 23.209 / 2), 0.01, 1e-4);
  EXPECT_NEAR(test::gamma_q(5.0, 0.5), 1 - 1.7211e-4, 1e-6);  // series branch (x < a + 1)
}

TEST(SampledDistribution, PlainSoftmax) { expect_fits(SamplingParams{}, kQ, 11); }

TEST(SampledDistribution, Temperature) {
  SamplingParams p;
  p.temperature = 0.5f;  // q^2
  std::vector<double> e;
  for (double q : kQ) e.push_back(q * q);
  expect_fits(p, normalized(e), 12);
  p.temperature = 2.0f;  // sqrt(q)
  e.clear();
  for (double q : kQ) e.push_back(std::sqrt(q));
  expect_fits(p, normalized(e), 13);
}

TEST(SampledDistribution, TopK) {
  SamplingParams p;
  p.top_k = 3;  // {3, 1, 4}
  expect_fits(p, normalized({0, 0.25, 0, 0.30, 0.20, 0}), 14);
}

TEST(SampledDistribution, TopPWithTieAtTheCut) {
  SamplingParams p;
  p.top_p = 0.8f;  // cum .30 .55 .75 then the .10 tie (2 vs 5) -> lower id 2 -> .85
  expect_fits(p, normalized({0, 0.25, 0.10, 0.30, 0.20, 0}), 15);
}

TEST(SampledDistribution, MinP) {
  SamplingParams p;
  p.min_p = 0.3f;  // >= .09 -> drops only token 0
  expect_fits(p, normalized({0, 0.25, 0.10, 0.30, 0.20, 0.10}), 16);
}

TEST(SampledDistribution, Combination) {
  // T = 0.5 -> weights q^2 = .0025 .0625 .01 .09 .04 .01; top-k 5 drops token 0 (sum .2125);
  // top-p .9: .09/.2125 = .4235, +.0625 -> .7176, +.04 -> .9059 >= .9 -> {3, 1, 4};
  // min-p .5: weight >= .5 * .09 = .045 drops token 4 -> {3, 1}.
  SamplingParams p;
  p.temperature = 0.5f;
  p.top_k = 5;
  p.top_p = 0.9f;
  p.min_p = 0.5f;
  expect_fits(p, normalized({0, 0.0625, 0, 0.09, 0, 0}), 17);
  p.min_p = 0.1f;  // threshold .009 keeps {3, 1, 4}
  expect_fits(p, normalized({0, 0.0625, 0, 0.09, 0.04, 0}), 18);
}

TEST(SampledDistribution, PowerCheckRejectsAWrongDistribution) {
  // The test has teeth: T = 1 draws judged against the T = 0.5 expectation fail hard.
  std::vector<double> e;
  for (double q : kQ) e.push_back(q * q);
  EXPECT_LT(test::chi_square_p(histogram(SamplingParams{}, 19), normalized(e)), 1e-12);
  // And a 2% shift of mass between two tokens is detected at this draw count.
  auto shifted = kQ;
  shifted[3] += 0.02;
  shifted[1] -= 0.02;
  EXPECT_LT(test::chi_square_p(histogram(SamplingParams{}, 20), shifted), kMinP);
}

// ---- large vocabulary against a naive reference (full sort, long double) ----

namespace {
struct Ref {
  std::map<int32_t, long double> probs;
};
Ref naive(const std::vector<float>& l, const SamplingParams& p) {
  const int v = static_cast<int>(l.size());
  std::vector<int32_t> order(v);
  for (int i = 0; i < v; i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  if (p.top_k > 0 && p.top_k < v) order.resize(p.top_k);
  const long double m = l[order[0]];
  std::vector<long double> w;
  long double tot = 0;
  for (int id : order) tot += w.emplace_back(std::exp((l[id] - m) / static_cast<long double>(p.temperature)));
  size_t keep = order.size();
  if (p.top_p < 1.0f) {
    long double cum = 0;
    for (size_t j = 0; j < order.size(); j++) {
      cum += w[j] / tot;
      if (cum >= p.top_p) {
        keep = j + 1;
        break;
      }
    }
  }
  Ref r;
  long double kept_tot = 0;
  for (size_t j = 0; j < keep; j++)
    if (w[j] >= p.min_p) kept_tot += (r.probs[order[j]] = w[j]);
  for (auto& [id, pr] : r.probs) pr /= kept_tot;
  return r;
}
}  // namespace

TEST(SampledDistribution, MatchesNaiveReferenceAt128kVocab) {
  const int vocab = 128256;
  RequestRng rng(99);
  std::vector<float> l(vocab);
  for (float& x : l) x = static_cast<float>(3.0 * (rng.uniform() + rng.uniform() - 1.0));
  struct Case {
    float t, top_p, min_p;
    int top_k;
  };
  const Case cases[] = {{1.0f, 0.9f, 0, 0},     {1.0f, 1.0f, 0, 50},    {0.8f, 0.5f, 0, 1000},
                        {1.0f, 1.0f, 0.05f, 0}, {0.7f, 0.95f, 0.01f, 0}, {1.5f, 0.99f, 0, 40000},
                        {0.3f, 0.2f, 0, 0}};
  // Second round: logits on a 0.25 grid, so thousands of ties straddle every cut.
  for (int quantized = 0; quantized < 2; quantized++) {
    if (quantized) {
      for (float& x : l) x = std::round(x * 4) / 4;
    }
    for (const Case& c : cases) {
      SamplingParams p;
      p.temperature = c.t;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.top_k = c.top_k;
      const auto d = sampling_distribution(l.data(), vocab, p);
      const Ref r = naive(l, p);
      ASSERT_EQ(d.size(), r.probs.size()) << "T=" << c.t << " top_p=" << c.top_p << " top_k=" << c.top_k
                                          << " quantized=" << quantized;
      size_t i = 0;
      for (const auto& [id, pr] : r.probs) {
        ASSERT_EQ(d[i].token, id);
        EXPECT_NEAR(d[i].prob, static_cast<double>(pr), 1e-9 + 1e-7 * static_cast<double>(pr));
        i++;
      }
      if (c.top_p == 0.9f) {
        EXPECT_GT(d.size(), 4096u);  // a large kept set: exercised the quickselect
      }
    }
  }
}
