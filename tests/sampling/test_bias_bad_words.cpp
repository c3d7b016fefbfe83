// logit_bias (OpenAI: added to the raw logits, greedy included, logprobs stay raw) and bad-word
// sequences (TensorRT-LLM: the last token of a sequence is banned when the rest of it ends the
// tokens so far), against hand-computed logits and through sample_token.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "sampling/sampler.h"

using namespace ignis;

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

TEST(LogitBias, AddedBeforePenaltiesByHand) {
  //            0     1      2     3
  float l[] = {2.0f, -1.0f, 0.5f, 3.0f};
  const int32_t output[] = {1};
  SamplingParams p;
  p.logit_bias = {{0, -1.5f}, {1, 2.0f}, {3, 100.0f}};
  p.repetition_penalty = 2.0f;  // over the output id 1, after the bias: (-1 + 2) = 1 > 0 -> 1 / 2
  p.bad_token_ids = {3};        // banned stays banned whatever the bias
  apply_penalties(l, 4, p, nullptr, 0, output, 1);
  EXPECT_FLOAT_EQ(l[0], 0.5f);
  EXPECT_FLOAT_EQ(l[1], 0.5f);
  EXPECT_FLOAT_EQ(l[2], 0.5f);
  EXPECT_EQ(l[3], kNegInf);
}

TEST(LogitBias, GreedyForcedAndBannedLogprobsRaw) {
  const std::vector<float> base = {1.0f, 4.0f, 2.0f, 0.0f};
  RequestRng rng(1);
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 1;
  std::vector<float> l = base;
  EXPECT_EQ(sample_token(l.data(), 4, p, rng, nullptr, 0, nullptr, 0).token, 1);
  p.logit_bias = {{1, -100.0f}};  // the argmax pushed away: the next best wins
  l = base;
  SampleResult r = sample_token(l.data(), 4, p, rng, nullptr, 0, nullptr, 0);
  EXPECT_EQ(r.token, 2);
  double lse = 0;
  for (float x : base) lse += std::exp(double(x));
  lse = std::log(lse);
  EXPECT_NEAR(r.logprob, base[2] - lse, 1e-5);  // raw: the bias does not show in logprobs
  ASSERT_EQ(r.top.size(), 1u);
  EXPECT_EQ(r.top[0].first, 1);  // top alternatives are raw too
  p.logit_bias = {{3, 100.0f}};  // the least likely token forced
  l = base;
  r = sample_token(l.data(), 4, p, rng, nullptr, 0, nullptr, 0);
  EXPECT_EQ(r.token, 3);
  EXPECT_NEAR(r.logprob, base[3] - lse, 1e-5);
}

TEST(LogitBias, SampledNeverAndAlways) {
  std::vector<float> base(50);
  for (int i = 0; i < 50; i++) base[i] = float(i % 7) * 0.3f;
  SamplingParams p;
  p.temperature = 1.0f;
  RequestRng rng(42);
  p.logit_bias = {{6, -100.0f}, {13, -100.0f}};
  for (int k = 0; k < 300; k++) {
    std::vector<float> l = base;
    int32_t t = sample_token(l.data(), 50, p, rng, nullptr, 0, nullptr, 0).token;
    EXPECT_NE(t, 6);
    EXPECT_NE(t, 13);
  }
  p.logit_bias = {{17, 100.0f}};
  for (int k = 0; k < 300; k++) {
    std::vector<float> l = base;
    EXPECT_EQ(sample_token(l.data(), 50, p, rng, nullptr, 0, nullptr, 0).token, 17);
  }
}

TEST(LogitBias, Validation) {
  SamplingParams p;
  p.logit_bias = {{2, 1.0f}, {2, 1.0f}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);  // not strictly ascending
  p.logit_bias = {{3, 1.0f}, {1, 1.0f}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);
  p.logit_bias = {{4, 1.0f}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);  // outside the vocabulary
  p.logit_bias = {{0, std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);
  p.logit_bias = {{0, 5.0f}, {3, -5.0f}};
  EXPECT_NO_THROW(validate_sampling_params(p, 4));
}

TEST(BadWords, SequenceBansItsLastTokenOnlyAfterItsPrefix) {
  SamplingParams p;
  p.bad_word_ids = {{7}, {1, 2, 3}, {5, 2}};
  std::vector<int32_t> banned;
  const int32_t prompt[] = {9, 1};
  const int32_t out_a[] = {2};     // ... 1 2 -> bans 3 (prefix spans prompt and output)
  banned_word_tokens(p, prompt, 2, out_a, 1, &banned);
  EXPECT_EQ(banned, (std::vector<int32_t>{7, 3}));
  banned.clear();
  const int32_t out_b[] = {2, 5};  // ... 5 -> bans 2
  banned_word_tokens(p, prompt, 2, out_b, 2, &banned);
  EXPECT_EQ(banned, (std::vector<int32_t>{7, 2}));
  banned.clear();
  const int32_t out_c[] = {4};     // no prefix matches: only the one-token word
  banned_word_tokens(p, prompt, 2, out_c, 1, &banned);
  EXPECT_EQ(banned, (std::vector<int32_t>{7}));
  banned.clear();
  banned_word_tokens(p, nullptr, 0, nullptr, 0, &banned);  // nothing yet: a longer prefix cannot match
  EXPECT_EQ(banned, (std::vector<int32_t>{7}));

  // Through the sampler: 3 is the argmax, banned only right after "1 2".
  const std::vector<float> base = {0, 1, 1, 5, 2, 0, 0, 0, 0, 0};
  p.temperature = 0;
  RequestRng rng(3);
  std::vector<float> l = base;
  EXPECT_EQ(sample_token(l.data(), 10, p, rng, prompt, 2, out_a, 1).token, 4);
  l = base;
  EXPECT_EQ(sample_token(l.data(), 10, p, rng, prompt, 2, out_c, 1).token, 3);
}

TEST(BadWords, Validation) {
  SamplingParams p;
  p.bad_word_ids = {{}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);
  p.bad_word_ids = {{1, 4}};
  EXPECT_THROW(validate_sampling_params(p, 4), Error);
  p.bad_word_ids = {{1, 3}};
  EXPECT_NO_THROW(validate_sampling_params(p, 4));
}
