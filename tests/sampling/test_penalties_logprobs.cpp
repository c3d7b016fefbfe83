// Penalties change logits exactly as computed by hand; logprobs are the raw log-softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "sampling/sampler.h"

using namespace ignis;

TEST(Penalties, RepetitionFrequencyPresenceByHand) {
  //            0     1      2     3     4      5
  float l[] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 1.0f};
  const int32_t prompt[] = {0, 1, 0};
  const int32_t output[] = {1, 3, 3, 4};
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.bad_token_ids = {5};
  apply_penalties(l, 6, p, prompt, 3, output, 4);
  EXPECT_FLOAT_EQ(l[0], 2.0f / 1.5f);                     // prompt only: repetition (positive -> divide)
  EXPECT_FLOAT_EQ(l[1], -1.0f * 1.5f - 0.5f - 0.25f);     // prompt + output once: multiply, then freq 1 + presence
  EXPECT_FLOAT_EQ(l[2], 0.5f);                            // never seen
  EXPECT_FLOAT_EQ(l[3], 3.0f / 1.5f - 2 * 0.5f - 0.25f);  // output twice
  EXPECT_FLOAT_EQ(l[4], -2.0f * 1.5f - 0.5f - 0.25f);     // output once, negative
  EXPECT_EQ(l[5], -std::numeric_limits<float>::infinity());
}

TEST(Penalties, PresenceAndFrequencyOnlyCountOutput) {
  float l[] = {1.0f, 1.0f, 1.0f};
  const int32_t prompt[] = {0, 0, 0};
  const int32_t output[] = {2, 2, 2};
  SamplingParams p;
  p.frequency_penalty = -0.5f;  // negative values encourage repetition (OpenAI allows [-2, 2])
  p.presence_penalty = 1.0f;
  apply_penalties(l, 3, p, prompt, 3, output, 3);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[1], 1.0f);
  EXPECT_FLOAT_EQ(l[2], 1.0f + 1.5f - 1.0f);
}

TEST(Penalties, RepetitionPenaltyBelowOneAndZeroLogit) {
  float l[] = {0.0f, 4.0f, -4.0f};
  const int32_t prompt[] = {0, 1, 2};
  SamplingParams p;
  p.repetition_penalty = 0.5f;  // < 1 favours repeats
  apply_penalties(l, 3, p, prompt, 3, nullptr, 0);
  EXPECT_FLOAT_EQ(l[0], 0.0f);  // HF: logit > 0 ? /r : *r  -> 0 * 0.5
  EXPECT_FLOAT_EQ(l[1], 8.0f);
  EXPECT_FLOAT_EQ(l[2], -2.0f);
}

TEST(Penalties, SampledDistributionUsesPenalizedLogits) {
  // Token 0 is far ahead until a presence penalty of 10 removes it from the top.
  std::vector<float> l = {5.0f, 1.0f, 1.0f};
  const int32_t output[] = {0};
  SamplingParams p;
  p.presence_penalty = 10.0f;
  RequestRng rng(3);
  int hits0 = 0;
  for (int i = 0; i < 2000; i++) {
    std::vector<float> x = l;
    hits0 += sample_token(x.data(), 3, p, rng, nullptr, 0, output, 1).token == 0;
  }
  // P(token 0) = e^-5 / (e^-5 + 2 e^1) ~ 0.00124 -> expected ~2.5 of 2000
  EXPECT_LT(hits0, 15);
}

namespace {
// Independent log-softmax in long double.
std::vector<long double> log_softmax(const std::vector<float>& l) {
  long double m = -INFINITY, s = 0;
  for (float x : l) m = std::max<long double>(m, x);
  for (float x : l) s += std::exp(static_cast<long double>(x) - m);
  std::vector<long double> r;
  for (float x : l) r.push_back(x - m - std::log(s));
  return r;
}
}  // namespace

TEST(Logprobs, RawLogSoftmaxOfChosenAndTopN) {
  std::vector<float> raw = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f, -1.0f};
  const auto ref = log_softmax(raw);
  SamplingParams p;
  p.logprobs = 3;
  p.temperature = 0.7f;
  p.repetition_penalty = 1.3f;
  p.presence_penalty = 0.4f;
  p.bad_token_ids = {6};
  const int32_t prompt[] = {1, 5};
  const int32_t output[] = {3, 0};
  RequestRng rng(5);
  for (int i = 0; i < 50; i++) {
    std::vector<float> l = raw;
    const SampleResult r = sample_token(l.data(), 7, p, rng, prompt, 2, output, 2);
    ASSERT_NE(r.token, 6);
    EXPECT_NEAR(r.logprob, static_cast<double>(ref[r.token]), 1e-6) << "token " << r.token;
    ASSERT_EQ(r.top.size(), 3u);
    // Sorted descending, ties by lower id: 1 (3.0), 3 (3.0), 5 (2.0); raw values, not penalized.
    EXPECT_EQ(r.top[0].first, 1);
    EXPECT_EQ(r.top[1].first, 3);
    EXPECT_EQ(r.top[2].first, 5);
    for (auto& [id, lp] : r.top) EXPECT_NEAR(lp, static_cast<double>(ref[id]), 1e-6);
  }
}

TEST(Logprobs, ZeroMeansChosenOnlyAndLargeNClamps) {
  std::vector<float> raw = {0.25f, -0.5f, 1.5f};
  const auto ref = log_softmax(raw);
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 0;
  RequestRng rng(1);
  std::vector<float> l = raw;
  SampleResult r = sample_token(l.data(), 3, p, rng, nullptr, 0, nullptr, 0);
  EXPECT_EQ(r.token, 2);
  EXPECT_NEAR(r.logprob, static_cast<double>(ref[2]), 1e-6);
  EXPECT_TRUE(r.top.empty());
  p.logprobs = 20;
  l = raw;
  r = sample_token(l.data(), 3, p, rng, nullptr, 0, nullptr, 0);
  ASSERT_EQ(r.top.size(), 3u);
  double total = 0;
  for (auto& [id, lp] : r.top) total += std::exp(lp);
  EXPECT_NEAR(total, 1.0, 1e-6);
  p.logprobs = -1;
  l = raw;
  EXPECT_TRUE(sample_token(l.data(), 3, p, rng, nullptr, 0, nullptr, 0).top.empty());
}

TEST(Logprobs, LargeVocabLogprobsSumToOne) {
  const int vocab = 128256;
  RequestRng g(8);
  std::vector<float> raw(vocab);
  for (float& x : raw) x = static_cast<float>(10 * g.uniform() - 5);
  SamplingParams p;
  p.logprobs = 5;
  p.top_k = 40;
  RequestRng rng(2);
  std::vector<float> l = raw;
  const SampleResult r = sample_token(l.data(), vocab, p, rng, nullptr, 0, nullptr, 0);
  const auto ref = log_softmax(raw);
  EXPECT_NEAR(r.logprob, static_cast<double>(ref[r.token]), 1e-5);
  ASSERT_EQ(r.top.size(), 5u);
  for (size_t i = 0; i < 5; i++) {
    EXPECT_NEAR(r.top[i].second, static_cast<double>(ref[r.top[i].first]), 1e-5);
    if (i) {
      EXPECT_GE(r.top[i - 1].second, r.top[i].second);
    }
  }
  // The chosen token is in the top-40 of the logits.
  int better = 0;
  for (float x : raw) better += x > raw[r.token];
  EXPECT_LT(better, 40);
}
