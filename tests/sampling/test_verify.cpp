// The speculative rejection sampler (verify_draft_u): greedy exact match, the deterministic
// proposer's exact-match rule, and chi-square tests that the output distribution of one step is
// the target's for a one-hot q and for a full q, with a fixed seed (same seed, same draws).
#include <gtest/gtest.h>

#include <cmath>

#include "chi_square.h"
#include "core/error.h"
#include "sampling/sampler.h"

using namespace ignis;

namespace {

// Target p over 8 tokens; crafted so that q below differs from it everywhere.
const std::vector<double> kP = {0.04, 0.22, 0.08, 0.30, 0.12, 0.02, 0.16, 0.06};
// A full proposer distribution q: it over-weights 0, 2, 5 and under-weights 3.
const std::vector<double> kQ = {0.20, 0.10, 0.20, 0.10, 0.10, 0.15, 0.10, 0.05};
constexpr long kDraws = 100000;
constexpr double kMinP = 1e-4;

std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

struct Outcome {
  std::vector<long> hist;
  long accepted = 0;
  std::vector<int32_t> tokens;  // the first 64 outputs (reproducibility)
};

// One verification step per draw: d drawn from q (or fixed), then judged against p.
Outcome run(const SamplingParams& p, const std::vector<double>* q, int fixed_d, bool dense_one_hot, uint64_t seed) {
  const std::vector<float> base = logits_of(kP);
  const int V = int(kP.size());
  std::vector<float> qf(size_t(V), 0.0f);
  if (q)
    for (int i = 0; i < V; ++i) qf[size_t(i)] = float((*q)[size_t(i)]);
  RequestRng rng(seed);
  Outcome o;
  o.hist.assign(size_t(V), 0);
  for (long n = 0; n < kDraws; ++n) {
    DraftCheck d;
    if (q) {  // d ~ q by inverse CDF
      const double u = rng.uniform();
      double cum = 0;
      d.token = V - 1;
      for (int i = 0; i < V; ++i)
        if (u < (cum += (*q)[size_t(i)])) {
          d.token = i;
          break;
        }
      d.prob = qf[size_t(d.token)];
      d.dist = qf.data();
    } else {
      d.token = fixed_d;
      if (dense_one_hot) {
        qf.assign(size_t(V), 0.0f);
        qf[size_t(fixed_d)] = 1.0f;
        d.dist = qf.data();
      }
    }
    const double u = rng.uniform();
    d.u_accept = rng.uniform();
    std::vector<float> l = base;
    bool acc = false;
    SampleResult r = verify_draft_u(l.data(), V, p, u, d, nullptr, 0, nullptr, 0, &acc);
    EXPECT_EQ(acc, r.token == d.token) << "accepted means the proposal came out";
    o.hist[size_t(r.token)]++;
    o.accepted += acc;
    if (o.tokens.size() < 64) o.tokens.push_back(r.token);
  }
  return o;
}

double overlap(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::min(a[i], b[i]);
  return s;
}

}  // namespace

TEST(Verify, GreedyAcceptsExactlyTheArgmax) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 0;
  std::vector<float> l = {0.1f, 2.0f, 0.5f, 1.9f};
  bool acc = false;
  auto l1 = l;
  SampleResult r = verify_draft_u(l1.data(), 4, p, 0.0, DraftCheck{1}, nullptr, 0, nullptr, 0, &acc);
  EXPECT_TRUE(acc);
  EXPECT_EQ(r.token, 1);
  auto l2 = l;
  r = verify_draft_u(l2.data(), 4, p, 0.0, DraftCheck{3}, nullptr, 0, nullptr, 0, &acc);
  EXPECT_FALSE(acc);
  EXPECT_EQ(r.token, 1);  // the corrected token is the argmax
  // The logprob is the raw log-softmax of the returned token.
  double lse = 0;
  for (float x : l) lse += std::exp(double(x));
  EXPECT_NEAR(r.logprob, 2.0 - std::log(lse), 1e-5);
  // Penalties apply before the argmax, with the proposals before this row among the output ids.
  p.repetition_penalty = 10.0f;
  const int32_t out[] = {1};
  auto l3 = l;
  r = verify_draft_u(l3.data(), 4, p, 0.0, DraftCheck{3}, nullptr, 0, out, 1, &acc);
  EXPECT_TRUE(acc);
  EXPECT_EQ(r.token, 3);
  // A bonus row (no proposal) is sample_token_u.
  auto l4 = l;
  r = verify_draft_u(l4.data(), 4, p, 0.0, DraftCheck{}, nullptr, 0, out, 1, &acc);
  EXPECT_FALSE(acc);
  EXPECT_EQ(r.token, 3);
}

TEST(Verify, DeterministicProposalIsTheSameDrawAsWithout) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  const std::vector<float> base = logits_of(kP);
  RequestRng rng(3);
  int accepted = 0;
  for (int n = 0; n < 2000; ++n) {
    const double u = rng.uniform();
    const int32_t d = int32_t(rng.next_u64() % 8);
    auto a = base, b = base;
    bool acc = false;
    SampleResult plain = sample_token_u(a.data(), 8, p, u, nullptr, 0, nullptr, 0);
    SampleResult v = verify_draft_u(b.data(), 8, p, u, DraftCheck{d}, nullptr, 0, nullptr, 0, &acc);
    ASSERT_EQ(v.token, plain.token);
    ASSERT_EQ(acc, plain.token == d);
    accepted += acc;
  }
  EXPECT_GT(accepted, 100);
}

TEST(Verify, OneHotProposalKeepsTheTargetDistribution) {
  SamplingParams p;  // temperature 1: the distribution is kP
  for (bool dense : {false, true}) {
    Outcome o = run(p, nullptr, 3, dense, 42);
    const double pv = test::chi_square_p(o.hist, kP);
    EXPECT_GT(pv, kMinP) << (dense ? "dense one-hot q" : "q = null") << ": chi-square p-value " << pv;
    // Accepted with probability p(d) = 0.30.
    EXPECT_NEAR(double(o.accepted) / kDraws, kP[3], 0.01) << (dense ? "dense" : "null");
  }
}

TEST(Verify, FullProposalDistributionKeepsTheTargetDistribution) {
  SamplingParams p;
  Outcome o = run(p, &kQ, -1, false, 7);
  const double pv = test::chi_square_p(o.hist, kP);
  EXPECT_GT(pv, kMinP) << "chi-square p-value " << pv;
  // Accepted with probability sum_x min(p(x), q(x)) (the rejection sampler's acceptance rate).
  EXPECT_NEAR(double(o.accepted) / kDraws, overlap(kP, kQ), 0.01);
  // The same seed gives the same outputs; another seed does not.
  EXPECT_EQ(run(p, &kQ, -1, false, 7).tokens, o.tokens);
  EXPECT_NE(run(p, &kQ, -1, false, 8).tokens, o.tokens);
}

TEST(Verify, FullProposalWithTopKTarget) {
  SamplingParams p;
  p.top_k = 4;  // keeps 3 (.30), 1 (.22), 6 (.16), 4 (.12)
  std::vector<double> want(kP.size(), 0.0);
  for (int i : {3, 1, 6, 4}) want[size_t(i)] = kP[size_t(i)];
  double s = 0;
  for (double x : want) s += x;
  for (double& x : want) x /= s;
  Outcome o = run(p, &kQ, -1, false, 9);
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] == 0) { EXPECT_EQ(o.hist[i], 0) << "token " << i << " is cut by top-k but came out"; }
  const double pv = test::chi_square_p(o.hist, want);
  EXPECT_GT(pv, kMinP) << "chi-square p-value " << pv;
  EXPECT_NEAR(double(o.accepted) / kDraws, overlap(want, kQ), 0.01);
}

TEST(Verify, PowerCheckAWrongResidualIsCaught) {
  // Sanity of the test itself: the accepted-or-q outputs (no residual correction) are q-biased
  // and must fail the same chi-square test against p.
  std::vector<long> h(kP.size(), 0);
  RequestRng rng(1);
  for (long n = 0; n < kDraws; ++n) {
    const double u = rng.uniform();
    double cum = 0;
    int d = 7;
    for (int i = 0; i < 8; ++i)
      if (u < (cum += kQ[size_t(i)])) {
        d = i;
        break;
      }
    h[size_t(d)]++;
  }
  EXPECT_LT(test::chi_square_p(h, kP), 1e-6);
}

TEST(Verify, RejectsBadInputs) {
  SamplingParams p;
  std::vector<float> l = logits_of(kP);
  bool acc;
  EXPECT_THROW(verify_draft_u(l.data(), 8, p, 0.5, DraftCheck{8}, nullptr, 0, nullptr, 0, &acc), Error);
  std::vector<float> q(8, 0.125f);
  DraftCheck d{1, 0.125f, q.data(), 1.0};
  EXPECT_THROW(verify_draft_u(l.data(), 8, p, 0.5, d, nullptr, 0, nullptr, 0, &acc), Error);
  EXPECT_THROW(verify_draft_u(l.data(), 8, p, 0.5, DraftCheck{1}, nullptr, 0, nullptr, 0, nullptr), Error);
}

TEST(Verify, DenseDistributionMatchesSamplingDistribution) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.8f;
  p.min_p = 0.05f;
  const std::vector<float> l = logits_of(kP);
  std::vector<float> dense(8);
  dense_distribution(l.data(), 8, p, dense.data());
  std::vector<float> ref(8, 0.0f);
  for (const TokenProb& t : sampling_distribution(l.data(), 8, p)) ref[size_t(t.token)] = float(t.prob);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(dense[size_t(i)], ref[size_t(i)], 1e-6) << i;
  p.temperature = 0;
  dense_distribution(l.data(), 8, p, dense.data());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dense[size_t(i)], i == 3 ? 1.0f : 0.0f);
}
