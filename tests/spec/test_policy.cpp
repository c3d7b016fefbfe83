// SpecPolicy with synthetic step times (the fake clock): speculation is on at batch 1 with high
// acceptance, off at large batches when a step's cost grows with its tokens, off at low acceptance,
// back on after a probe finds acceptance again; per-request caps and opt-outs; the cost fit.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "spec/policy.h"

using namespace ignis;

namespace {

// A simulated engine: T(n) = a + b n target seconds, proposer c_round per round + c_tok per
// proposal; each candidate's proposals accepted with probability alpha (the first rejection
// ends the run). Returns the tokens per second the policy achieved over `steps` steps.
struct Sim {
  double a, b, c_round = 0, c_tok = 0;
  std::mt19937_64 rng{1};
  double run(SpecPolicy& pol, int batch, double alpha, int steps, double* mean_k = nullptr) {
    std::vector<SpecPolicy::Candidate> cands;
    for (int i = 0; i < batch; ++i) cands.push_back({uint64_t(i + 1), 64});
    std::vector<int> k;
    double time = 0, tokens = 0, ksum = 0;
    std::bernoulli_distribution acc(alpha);
    for (int s = 0; s < steps; ++s) {
      pol.choose(batch, cands, k);
      int extra = 0, kmax = 0;
      for (int i = 0; i < batch; ++i) extra += k[size_t(i)], kmax = std::max(kmax, k[size_t(i)]);
      if (extra > 0) {
        const double dt = c_round * kmax + c_tok * extra;
        pol.observe_proposer(kmax, extra, dt);
        time += dt;
      }
      const double tt = a + b * (batch + extra);
      pol.observe_target(batch + extra, tt);
      time += tt;
      for (int i = 0; i < batch; ++i) {
        int j = 0;
        while (j < k[size_t(i)] && acc(rng)) ++j;
        pol.observe_acceptance(cands[size_t(i)].id, k[size_t(i)], j);
        tokens += j + 1;
      }
      ksum += double(extra) / batch;
    }
    if (mean_k) *mean_k = ksum / steps;
    return tokens / time;
  }
};

double no_spec_rate(const Sim& s, int batch) { return batch / (s.a + s.b * batch); }

}  // namespace

TEST(SpecPolicy, ExpectedTokens) {
  EXPECT_DOUBLE_EQ(SpecPolicy::expected_tokens(0.5, 0), 1.0);
  EXPECT_DOUBLE_EQ(SpecPolicy::expected_tokens(0.5, 1), 1.5);
  EXPECT_DOUBLE_EQ(SpecPolicy::expected_tokens(0.5, 2), 1.75);
  EXPECT_DOUBLE_EQ(SpecPolicy::expected_tokens(1.0, 4), 5.0);
  EXPECT_NEAR(SpecPolicy::expected_tokens(0.0, 4), 1.0, 1e-12);
}

TEST(SpecPolicy, OnAtBatchOneWithHighAcceptance) {
  // Memory-bound target (a step of 8 tokens costs ~ one of 1), a cheap draft.
  Sim sim{10e-3, 0.02e-3, 0.3e-3, 0.0};
  SpecPolicy pol(6);
  double mean_k = 0;
  const double rate = sim.run(pol, 1, 0.85, 400, &mean_k);
  EXPECT_GT(mean_k, 3.0);
  EXPECT_GT(rate, 2.5 * no_spec_rate(sim, 1)) << "rate " << rate;
  EXPECT_GT(pol.global_acceptance(), 0.75);
  EXPECT_LT(pol.global_acceptance(), 0.95);
}

TEST(SpecPolicy, OffAtLargeBatchWhenTokensCost) {
  // Compute-bound at batch 256: every extra token costs as much as it could produce.
  Sim sim{5e-3, 0.2e-3, 0.5e-3, 0.01e-3};
  SpecPolicy pol(6);
  double mean_k = 0;
  sim.run(pol, 256, 0.6, 50);  // learn the slope
  const double rate = sim.run(pol, 256, 0.6, 400, &mean_k);
  EXPECT_LT(mean_k, 0.1);
  EXPECT_GT(rate, 0.95 * no_spec_rate(sim, 256)) << "more than 5% slower than without speculation";
}

TEST(SpecPolicy, OffAtLowAcceptanceAndOnAgainWhenItRecovers) {
  Sim sim{10e-3, 0.5e-3, 1e-3, 0.1e-3};  // extra tokens cost 5% of a step each, the draft 10% per round
  SpecPolicy pol(6);
  double mean_k = 0;
  sim.run(pol, 1, 0.05, 100);
  const double rate = sim.run(pol, 1, 0.05, 1000, &mean_k);
  EXPECT_LT(mean_k, 0.1);  // probes only
  EXPECT_GT(rate, 0.95 * no_spec_rate(sim, 1));
  EXPECT_LT(pol.acceptance(1), 0.3);
  // The text changes character: probes see acceptance again and speculation comes back.
  sim.run(pol, 1, 0.95, 600);
  const double rate2 = sim.run(pol, 1, 0.95, 200, &mean_k);
  EXPECT_GT(mean_k, 2.0);
  EXPECT_GT(rate2, 1.5 * no_spec_rate(sim, 1));
}

TEST(SpecPolicy, NeverMuchSlowerOnAGrid) {
  // Across batch sizes, acceptance rates and cost shapes the achieved rate stays within 5% of no
  // speculation (the bound), and well above it where speculation pays.
  for (double b : {0.01e-3, 0.1e-3, 1e-3})
    for (int batch : {1, 8, 64})
      for (double alpha : {0.1, 0.5, 0.9}) {
        Sim sim{8e-3, b, 0.4e-3, 0.02e-3};
        SpecPolicy pol(5);
        sim.run(pol, batch, alpha, 60);
        const double rate = sim.run(pol, batch, alpha, 300);
        EXPECT_GT(rate, 0.95 * no_spec_rate(sim, batch)) << "b " << b << " batch " << batch << " alpha " << alpha;
      }
}

TEST(SpecPolicy, CapsAndFixedMode) {
  SpecPolicyConfig c;
  c.adaptive = false;
  SpecPolicy fixed(4, c);
  std::vector<int> k;
  fixed.choose(3, {{1, 2}, {2, 9}, {3, 0}}, k);
  EXPECT_EQ(k, (std::vector<int>{2, 4, 0}));
  SpecPolicy adaptive(4);
  adaptive.choose(3, {{1, 1}, {2, 9}}, k);  // nothing measured yet: optimistic, within the caps
  EXPECT_LE(k[0], 1);
  EXPECT_GT(k[1], 0);
  adaptive.choose(0, {}, k);
  EXPECT_TRUE(k.empty());
  EXPECT_THROW(SpecPolicy(513), Error);
  EXPECT_NO_THROW(SpecPolicy(512));  // lookahead (8, 8, 8): a 112-node tree; (W + G)(N - 1) <= 512
}

TEST(SpecPolicy, FitsTheStepCostModel) {
  SpecPolicy pol(4);
  for (int i = 0; i < 50; ++i) {
    const int n = 1 + i % 9;
    pol.observe_target(n, 2e-3 + 0.05e-3 * n);
    pol.observe_proposer(1 + i % 4, (1 + i % 4) * (1 + i % 3), 0.3e-3 * (1 + i % 4) + 0.05e-3 * (1 + i % 4) * (1 + i % 3));
  }
  EXPECT_NEAR(pol.target_time(1), 2.05e-3, 1e-7);
  EXPECT_NEAR(pol.target_time(20), 3e-3, 1e-7);
  EXPECT_NEAR(pol.proposer_time(2, 6), 0.6e-3 + 0.3e-3, 1e-7);
  // A low-acceptance request is given fewer proposals than a high-acceptance one.
  for (int i = 0; i < 30; ++i) {
    pol.observe_acceptance(7, 4, 4);
    pol.observe_acceptance(8, 4, 0);
  }
  EXPECT_GT(pol.acceptance(7), 0.9);
  EXPECT_LT(pol.acceptance(8), 0.2);
  std::vector<int> k;
  pol.choose(2, {{7, 4}, {8, 4}}, k);
  EXPECT_GT(k[0], k[1]);
}
