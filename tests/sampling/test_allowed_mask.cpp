// Constrained decoding's allowed-token mask in the host sampler (sample_token_u / verify_draft_u):
// tokens outside the mask are never chosen (greedy, sampled, under filters and penalties, with a
// logit_bias of +100 on a masked token), the mask comes before the bias (a masked token stays
// masked), logprobs stay raw, a mask word boundary (vocab not a multiple of 32) works, and the
// rejection sampler rejects proposals the mask refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "sampling/sampler.h"

using namespace ignis;

namespace {

std::vector<uint32_t> mask_of(int vocab, const std::vector<int32_t>& ids) {
  std::vector<uint32_t> m((size_t(vocab) + 31) / 32, 0u);
  for (int32_t i : ids) m[size_t(i) >> 5] |= 1u << (i & 31);
  return m;
}

double lse_of(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += std::exp(double(v));
  return std::log(s);
}

}  // namespace

TEST(AllowedMask, GreedyTakesBestAllowedAndLogprobsStayRaw) {
  const std::vector<float> base = {1.0f, 4.0f, 2.0f, 0.0f, 3.0f};
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 2;
  const auto m = mask_of(5, {0, 2, 3});  // the two best (1, 4) are masked out
  std::vector<float> l = base;
  SampleResult r = sample_token_u(l.data(), 5, p, 0.0, nullptr, 0, nullptr, 0, m.data());
  EXPECT_EQ(r.token, 2);
  EXPECT_NEAR(r.logprob, base[2] - lse_of(base), 1e-5);  // raw, not renormalized over the allowed set
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].first, 1);  // raw alternatives include masked tokens
  EXPECT_EQ(r.top[1].first, 4);
  EXPECT_TRUE(std::isinf(l[1]) && l[1] < 0);  // logits are modified in place, as by the bans
  l = base;
  EXPECT_EQ(sample_token_u(l.data(), 5, p, 0.0, nullptr, 0, nullptr, 0, nullptr).token, 1);  // null: unconstrained
}

TEST(AllowedMask, BeforeBiasAndPenalties) {
  const std::vector<float> base = {1.0f, 4.0f, 2.0f, 0.0f};
  SamplingParams p;
  p.temperature = 0;
  p.logit_bias = {{1, 100.0f}, {3, 50.0f}};  // would force 1, then 3
  const auto m = mask_of(4, {0, 2, 3});
  std::vector<float> l = base;
  EXPECT_EQ(sample_token_u(l.data(), 4, p, 0.0, nullptr, 0, nullptr, 0, m.data()).token, 3);
  const auto only0 = mask_of(4, {0});
  l = base;
  EXPECT_EQ(sample_token_u(l.data(), 4, p, 0.0, nullptr, 0, nullptr, 0, only0.data()).token, 0);
  const auto none = mask_of(4, {});
  l = base;
  EXPECT_THROW(sample_token_u(l.data(), 4, p, 0.0, nullptr, 0, nullptr, 0, none.data()), Error);
}

TEST(AllowedMask, SampledNeverLeavesTheMaskAndKeepsProportions) {
  const int V = 77;  // mask words: 3, the last one partial
  std::mt19937_64 g(7);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> base(V);
  for (float& x : base) x = nd(g);
  std::vector<int32_t> allowed_ids = {3, 31, 32, 40, 63, 64, 76};
  const auto m = mask_of(V, allowed_ids);
  SamplingParams p;
  p.temperature = 1.0f;
  p.repetition_penalty = 1.3f;
  const int32_t out[] = {40, 3};
  std::vector<int> count(V, 0);
  const int N = 4000;
  for (int i = 0; i < N; ++i) {
    std::vector<float> l = base;
    const int32_t t = sample_token_u(l.data(), V, p, (i + 0.5) / N, nullptr, 0, out, 2, m.data()).token;
    ASSERT_TRUE(token_allowed(m.data(), t)) << "token " << t;
    ++count[t];
  }
  // The masked distribution is the penalized softmax restricted to the allowed ids (u on a grid: exact to 1/N).
  std::vector<float> pen = base;
  apply_allowed_mask(pen.data(), V, m.data());
  apply_penalties(pen.data(), V, p, nullptr, 0, out, 2);
  double z = 0;
  for (int32_t id : allowed_ids) z += std::exp(double(pen[id]));
  for (int32_t id : allowed_ids) EXPECT_NEAR(count[id] / double(N), std::exp(double(pen[id])) / z, 2.0 / N) << id;
  // top-k / top-p work inside the allowed set
  p.top_k = 2;
  p.top_p = 0.99f;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = base;
    const int32_t t = sample_token_u(l.data(), V, p, (i + 0.5) / 200, nullptr, 0, out, 2, m.data()).token;
    EXPECT_TRUE(token_allowed(m.data(), t));
  }
}

TEST(AllowedMask, VerifyRejectsDisallowedProposals) {
  const std::vector<float> base = {1.0f, 4.0f, 2.0f, 0.0f};
  const auto m = mask_of(4, {0, 2});
  SamplingParams greedy;
  greedy.temperature = 0;
  bool acc = true;
  std::vector<float> l = base;
  DraftCheck d{1, 1.0f, nullptr, 0.0};  // the unconstrained argmax, which the mask refuses
  SampleResult r = verify_draft_u(l.data(), 4, greedy, 0.0, d, nullptr, 0, nullptr, 0, &acc, m.data());
  EXPECT_FALSE(acc);
  EXPECT_EQ(r.token, 2);
  l = base;
  d.token = 2;
  r = verify_draft_u(l.data(), 4, greedy, 0.0, d, nullptr, 0, nullptr, 0, &acc, m.data());
  EXPECT_TRUE(acc);
  // sampled, with a proposer distribution that puts most of its mass on the masked token 1
  SamplingParams s;
  s.temperature = 1.0f;
  const std::vector<float> q = {0.05f, 0.9f, 0.05f, 0.0f};
  for (int i = 0; i < 100; ++i) {
    l = base;
    DraftCheck dq{1, q[1], q.data(), (i + 0.5) / 100};
    r = verify_draft_u(l.data(), 4, s, (i + 0.25) / 100, dq, nullptr, 0, nullptr, 0, &acc, m.data());
    EXPECT_FALSE(acc);  // p(1) = 0 under the mask: never accepted
    EXPECT_TRUE(token_allowed(m.data(), r.token)) << r.token;
  }
}
