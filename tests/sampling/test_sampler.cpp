// Sampler basics: RNG stream, greedy, each filter's kept set on hand-computed examples,
// seed reproducibility and the errors bad input must give.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "core/error.h"
#include "chi_square.h"
#include "sampling/sampler.h"

using namespace ignis;

namespace {
std::vector<float> log_of(std::vector<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}
std::vector<int32_t> kept(const std::vector<float>& logits, const SamplingParams& p) {
  std::vector<int32_t> ids;
  for (auto& t : sampling_distribution(logits.data(), static_cast<int>(logits.size()), p)) ids.push_back(t.token);
  return ids;
}
SampleResult draw(std::vector<float> logits, const SamplingParams& p, RequestRng& rng) {
  return sample_token(logits.data(), static_cast<int>(logits.size()), p, rng, nullptr, 0, nullptr, 0);
}
const float kNegInf = -std::numeric_limits<float>::infinity();
}  // namespace

TEST(RequestRng, MatchesIndependentXoshiroReference) {
  // First outputs of splitmix64-seeded xoshiro256** for seed 42, computed by an independent
  // Python implementation of the two published recurrences.
  RequestRng r(42);
  EXPECT_EQ(r.next_u64(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(r.next_u64(), 0x6104d9866d113a7eull);
  EXPECT_EQ(r.next_u64(), 0xae17533239e499a1ull);
  RequestRng u(42);
  EXPECT_DOUBLE_EQ(u.uniform(), static_cast<double>(0x15780b2e0c2ec716ull >> 11) * 0x1.0p-53);
}

TEST(RequestRng, UniformRangeAndMoments) {
  RequestRng r(7);
  const int n = 200000;
  double s = 0, s2 = 0;
  std::vector<long> bins(20, 0);
  for (int i = 0; i < n; i++) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    s += u;
    s2 += u * u;
    bins[static_cast<int>(u * 20)]++;
  }
  EXPECT_NEAR(s / n, 0.5, 0.005);
  EXPECT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
  EXPECT_GT(test::chi_square_p(bins, std::vector<double>(20, 0.05)), 1e-4);
}

TEST(Sampler, GreedyArgmaxTiesToLowestId) {
  SamplingParams p;
  p.temperature = 0;
  RequestRng rng(1);
  EXPECT_EQ(draw({0.1f, 2.0f, -1.0f, 1.5f}, p, rng).token, 1);
  EXPECT_EQ(draw({0.5f, 3.0f, 3.0f, 3.0f}, p, rng).token, 1);
  EXPECT_EQ(draw({kNegInf, kNegInf, -50.0f}, p, rng).token, 2);
  p.top_k = 1;  // filters do not matter for greedy
  p.top_p = 0.1f;
  EXPECT_EQ(draw({-3.0f, -2.0f, -2.5f}, p, rng).token, 1);
  // Penalties apply before the argmax: token 1 was generated, presence penalty pushes it below 0.
  p.presence_penalty = 1.5f;
  std::vector<float> l = {1.0f, 2.0f, 0.0f};
  int32_t out[] = {1};
  EXPECT_EQ(sample_token(l.data(), 3, p, rng, nullptr, 0, out, 1).token, 0);
}

TEST(Sampler, TopKKeptSet) {
  const auto l = log_of({0.1, 0.4, 0.2, 0.3});
  SamplingParams p;
  p.top_k = 2;
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 3}));
  auto d = sampling_distribution(l.data(), 4, p);
  EXPECT_NEAR(d[0].prob, 4.0 / 7, 1e-6);
  EXPECT_NEAR(d[1].prob, 3.0 / 7, 1e-6);
  p.top_k = 10;  // larger than the vocab: everything
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{0, 1, 2, 3}));
  p.top_k = -1;  // vLLM's "off"
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{0, 1, 2, 3}));
  p.top_k = 2;  // ties at the boundary keep the lower ids
  EXPECT_EQ(kept({1.0f, 0.0f, 1.0f, 1.0f}, p), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(kept({kNegInf, 0.0f, kNegInf, kNegInf}, p), (std::vector<int32_t>{1}));  // masked never kept
}

TEST(Sampler, TopPKeptSet) {
  const auto l = log_of({0.1, 0.4, 0.2, 0.3});  // sorted: 1 (0.4), 3 (0.3), 2 (0.2), 0 (0.1)
  SamplingParams p;
  p.top_p = 0.3f;  // 0.4 >= 0.3 already: one token
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1}));
  p.top_p = 0.65f;  // 0.4, 0.7
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 3}));
  p.top_p = 0.75f;  // 0.4, 0.7, 0.9
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 2, 3}));
  auto d = sampling_distribution(l.data(), 4, p);
  EXPECT_NEAR(d[0].prob, 0.4 / 0.9, 1e-6);  // token 1
  EXPECT_NEAR(d[1].prob, 0.2 / 0.9, 1e-6);  // token 2
  EXPECT_NEAR(d[2].prob, 0.3 / 0.9, 1e-6);  // token 3
  p.top_p = 0.95f;
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{0, 1, 2, 3}));
  p.top_p = 1e-6f;  // always at least one
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1}));
}

TEST(Sampler, MinPKeptSet) {
  const auto l = log_of({0.1, 0.4, 0.2, 0.3});
  SamplingParams p;
  p.min_p = 0.6f;  // keep prob >= 0.24
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 3}));
  p.min_p = 0.4f;  // keep prob >= 0.16
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 2, 3}));
  p.min_p = 0.2f;  // >= 0.08
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{0, 1, 2, 3}));
  p.min_p = 1.0f;  // only the max
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1}));
}

TEST(Sampler, TemperatureThenFiltersKeptSet) {
  // T = 0.5 squares the probabilities: 0.01, 0.16, 0.04, 0.09 (/0.30) = .0333, .5333, .1333, .3
  const auto l = log_of({0.1, 0.4, 0.2, 0.3});
  SamplingParams p;
  p.temperature = 0.5f;
  auto d = sampling_distribution(l.data(), 4, p);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_NEAR(d[0].prob, 0.01 / 0.30, 1e-6);
  EXPECT_NEAR(d[1].prob, 0.16 / 0.30, 1e-6);
  p.top_p = 0.8f;  // cum .533, .833 -> {1, 3}
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 3}));
  p.top_p = 1.0f;
  p.min_p = 0.2f;  // >= 0.2 * .5333 = .1067 -> {1, 2, 3}
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 2, 3}));
  p.temperature = 2.0f;  // sqrt: .316, .632, .447, .548 -> min_p .2 keeps all
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{0, 1, 2, 3}));
  p.top_k = 3;
  p.min_p = 0.8f;  // top-3 {1,3,2}, then >= 0.8 * max: .548/.632 = .866 keeps 3, .447/.632 = .707 drops 2
  EXPECT_EQ(kept(l, p), (std::vector<int32_t>{1, 3}));
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferent) {
  SamplingParams p;
  p.temperature = 1.3f;
  p.top_p = 0.95f;
  std::vector<float> base(64);
  for (int i = 0; i < 64; i++) base[i] = std::sin(i * 0.7f) * 2;
  auto run = [&](uint64_t seed) {
    RequestRng rng(seed);
    std::vector<int32_t> toks;
    for (int step = 0; step < 300; step++) toks.push_back(draw(base, p, rng).token);
    return toks;
  };
  const auto a = run(1234), b = run(1234), c = run(1235);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 5u);  // really sampling, not greedy
}

// sample_token draws u = rng.uniform() only for non-greedy params and then is sample_token_u, which
// device backends call with a u drawn the same way: the two must agree token for token; the
// inverse CDF maps u to the first kept id whose cumulative probability exceeds u.
TEST(Sampler, SampleTokenIsSampleTokenUWithTheRngDraw) {
  std::vector<float> logits = log_of({0.1, 0.2, 0.3, 0.4});
  SamplingParams p;
  p.temperature = 1.0f;
  RequestRng a(9), b(9);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l1 = logits, l2 = logits;
    const SampleResult r1 = sample_token(l1.data(), 4, p, a, nullptr, 0, nullptr, 0);
    const SampleResult r2 = sample_token_u(l2.data(), 4, p, b.uniform(), nullptr, 0, nullptr, 0);
    ASSERT_EQ(r1.token, r2.token) << i;
  }
  auto at = [&](double u) {
    std::vector<float> l = logits;
    return sample_token_u(l.data(), 4, p, u, nullptr, 0, nullptr, 0).token;
  };
  EXPECT_EQ(at(0.0), 0);
  EXPECT_EQ(at(0.09), 0);
  EXPECT_EQ(at(0.11), 1);
  EXPECT_EQ(at(0.29), 1);
  EXPECT_EQ(at(0.31), 2);
  EXPECT_EQ(at(0.61), 3);
  EXPECT_EQ(at(0.999999), 3);
  std::vector<float> l = logits;
  EXPECT_THROW(sample_token_u(l.data(), 4, p, 1.0, nullptr, 0, nullptr, 0), Error);
  EXPECT_THROW(sample_token_u(l.data(), 4, p, -0.1, nullptr, 0, nullptr, 0), Error);
  // greedy draws nothing: the stream is unchanged
  SamplingParams g;
  g.temperature = 0.0f;
  RequestRng c(4), d(4);
  l = logits;
  sample_token(l.data(), 4, g, c, nullptr, 0, nullptr, 0);
  EXPECT_EQ(c.next_u64(), d.next_u64());
}

TEST(Sampler, BadInputGivesErrors) {
  RequestRng rng(1);
  SamplingParams p;
  EXPECT_THROW(draw({0.0f, NAN, 1.0f}, p, rng), Error);
  EXPECT_THROW(draw({0.0f, std::numeric_limits<float>::infinity()}, p, rng), Error);
  EXPECT_THROW(draw({kNegInf, kNegInf}, p, rng), Error);
  p.temperature = 0;
  EXPECT_THROW(draw({kNegInf, kNegInf}, p, rng), Error);
  EXPECT_THROW(draw({}, p, rng), Error);
  std::vector<std::function<void(SamplingParams&)>> mutations = {
      [](SamplingParams& q) { q.temperature = -0.5f; },       [](SamplingParams& q) { q.temperature = NAN; },
      [](SamplingParams& q) { q.top_p = 0.0f; },              [](SamplingParams& q) { q.top_p = 1.5f; },
      [](SamplingParams& q) { q.min_p = -0.1f; },             [](SamplingParams& q) { q.min_p = 2.0f; },
      [](SamplingParams& q) { q.repetition_penalty = 0.0f; }, [](SamplingParams& q) { q.presence_penalty = INFINITY; },
      [](SamplingParams& q) { q.frequency_penalty = NAN; },   [](SamplingParams& q) { q.logprobs = -2; },
      [](SamplingParams& q) { q.bad_token_ids = {2}; },       [](SamplingParams& q) { q.bad_token_ids = {-1}; },
  };
  for (size_t i = 0; i < mutations.size(); i++) {
    SamplingParams q;
    mutations[i](q);
    EXPECT_THROW(draw({0.0f, 1.0f}, q, rng), Error) << "mutation " << i;
    EXPECT_THROW(validate_sampling_params(q, 2), Error) << "mutation " << i;
  }
  // Penalty ids outside the vocabulary.
  SamplingParams q;
  q.repetition_penalty = 1.2f;
  std::vector<float> l = {0.0f, 1.0f};
  int32_t ids[] = {0, 5};
  EXPECT_THROW(sample_token(l.data(), 2, q, rng, ids, 2, nullptr, 0), Error);
  q.repetition_penalty = 1.0f;
  q.frequency_penalty = 0.5f;
  EXPECT_THROW(sample_token(l.data(), 2, q, rng, nullptr, 0, ids, 2), Error);
  try {
    draw({0.0f, NAN}, SamplingParams{}, rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 1"), std::string::npos) << e.what();
  }
}
