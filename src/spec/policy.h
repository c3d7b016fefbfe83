// ignis spec: how many tokens to propose, per sequence per step.
//
// Model. A request's proposals are accepted one after another with probability alpha each (the
// first rejection ends the run), so k proposals yield E(alpha, k) = (1 - alpha^(k+1)) / (1 - alpha)
// tokens (k + 1 when alpha = 1) in one step. alpha is a per-request rate (decayed counts of
// accepted proposals and of rejections, behind the engine-wide rate as a prior), the engine-wide one
// behind accept_prior. A step of n target tokens costs T(n) = a + b n seconds (weighted least
// squares over recent steps; until the token counts vary, b = a / flat_tokens), and the proposer
// D = c_round * rounds + c_token * proposals + c_catchup * catch-up tokens (its forward rounds, its
// proposals, and the tokens a draft model runs to catch up — prompts at a request's first proposal,
// tokens accepted since — which do not grow with k: fitted too, so one call that prefilled 32 prompts
// does not make every later proposal look expensive; D(k) leaves them out).
//
// Decision, each step, for the candidates (decoding sequences that may speculate, each with a cap
// from max_tokens): the common k in [0, K] that maximizes the expected decode rate
//   R(k) = sum_i E(alpha_i, min(k, cap_i)) / (T(base + sum_i min(k, cap_i)) + D(k, sum_i min(k, cap_i)))
// where base is the step's tokens without proposals; speculation is on when R(k) > (1 + min_gain) R(0),
// else every k is 0 (so a step that would be slower runs as without speculation). Then each request
// takes the k_i <= k that maximizes E(alpha_i, k_i) - 1 - R(k) (b + c_token) k_i: what its proposals
// add minus the tokens the batch could have made in the time they cost. A request that got no
// proposal for probe_interval steps gets one (and so does everyone, when speculation was off that
// long), so acceptance is re-measured when the text changes character; the probes cost at most
// 1 / probe_interval of the steps.
// Trees (Units::Trees: Medusa, EAGLE, lookahead). A tree proposer's tree is one unit: a request
// either verifies its whole tree (cap_i nodes at most, n_i on average as measured) or nothing, and a
// tree's yield is not a chain's: 1 + the request's mean accepted tokens per verified tree (decayed,
// behind the engine-wide mean as a prior). The decision ranks the candidates by yield per node and
// takes the best j of them, j = 0 .. n, maximizing
//   R(j) = (sum_{i <= j} E_i + n - j) / (T(base + sum_{i <= j} n_i) + D(rounds, sum_{i <= j} n_i))
// (rounds: the mean the proposer ran per call; a request's catch-up backlog adds c_catchup * backlog /
// catchup_horizon to the time, the one-time work spread over the steps a decision is expected to
// hold), speculating when R(j) > (1 + min_gain) R(0). A probe
// (speculation off for probe_interval steps) gives a tree to one request, or to two in turn (so the
// proposer's cost per round and per node come apart), those idle longest: a batch of many requests
// does not pay for a batch of trees to re-measure acceptance; while probes keep finding it off, the
// wait between them doubles, up to 8 x probe_interval.
// With adaptive = false every candidate gets min(K, cap_i) (tests, A/B runs). Pure host code with no
// clock of its own: the engine feeds it measured times (tests feed synthetic ones).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "spec/config.h"

namespace ignis {

class SpecPolicy {
 public:
  enum class Units { Tokens, Trees };  // chained proposals, or one tree per request (above)
  SpecPolicy(int max_k, SpecPolicyConfig cfg = {}, Units units = Units::Tokens);

  struct Candidate {
    uint64_t id = 0;
    int cap = 0;  // the most proposals this request may take this step
    // Tokens the proposer would first catch up on for it (Proposer::pending_catchup): one-time work,
    // which Trees pricing charges at c_catchup * backlog / catchup_horizon per step to the requests
    // it turns on (a request that sat out long under EAGLE carries its whole history).
    int backlog = 0;
  };
  // k[i] for cands[i]; base_tokens: the step's target tokens without proposals (>= cands.size()).
  void choose(int base_tokens, const std::vector<Candidate>& cands, std::vector<int>& k);

  void observe_acceptance(uint64_t id, int proposed, int accepted);
  // One verified tree of `nodes` nodes, `depth` deep, of which `accepted` tokens were kept (Trees).
  void observe_tree(uint64_t id, int nodes, int depth, int accepted);
  void observe_target(int num_tokens, double seconds);           // one target forward
  // One propose call: its rounds, proposals and catch-up tokens (Proposer::last_catchup_tokens).
  void observe_proposer(int rounds, int proposals, double seconds, int catchup_tokens = 0);
  void forget(uint64_t id);

  // Introspection (tests, logs).
  double acceptance(uint64_t id) const;  // the request's alpha (the global one for unknown ids)
  double global_acceptance() const;
  double tree_tokens(uint64_t id) const;  // Trees: E_i, 1 + mean accepted per tree (global for unknown ids)
  double target_time(int num_tokens) const;          // T(n); 0 before any observation
  double proposer_time(int rounds, int proposals) const;  // D without catch-up
  double proposer_catchup_time(int tokens) const;         // c_catchup * tokens
  // R(k) of the last choose() for k = 0 .. K (Trees: R(j) for j = 0 .. n requests with a tree);
  // empty when it had no candidates.
  const std::vector<double>& last_rates() const { return last_rates_; }
  int last_k() const { return last_k_; }  // the common k the last choose() settled on (Trees: j)
  int max_k() const { return max_k_; }

  static double expected_tokens(double alpha, int k);

 private:
  struct Rate {
    double acc = 0, rej = 0;  // decayed counts
    int idle = 0;             // steps since its last proposal
    double trees = 0, nodes = 0;  // Trees: decayed counts of verified trees and of their nodes
    int64_t last_tree = 0;        // Trees: the choose() call that last gave it a tree
  };
  void choose_trees(int base, const std::vector<Candidate>& cands, std::vector<int>& k);
  void fit_target(double& a, double& b) const;
  void fit_proposer(double& c_round, double& c_token, double& c_catchup) const;

  int max_k_;
  SpecPolicyConfig cfg_;
  Units units_;
  double g_trees_ = 0, g_tree_acc_ = 0;  // Trees: engine-wide decayed counts of trees and accepted tokens
  double rounds_w_ = 0, rounds_ = 0;     // decayed count and sum of the proposer's rounds per call
  std::unordered_map<uint64_t, Rate> req_;
  double g_acc_ = 0, g_rej_ = 0;
  // Weighted sums for T(n) = a + b n: weight, n, n^2, t, n t.
  double tw_ = 0, tn_ = 0, tnn_ = 0, tt_ = 0, tnt_ = 0;
  // Weighted sums for D = c_r r + c_t m + c_c c (least squares without intercept): the Gram matrix
  // of the features (r, m, c) and their products with t.
  double pg_[3][3] = {}, pt_[3] = {};
  int off_steps_ = 0;
  int64_t step_ = 0;  // choose() calls in Trees mode
  int64_t probes_ = 0;  // Trees: probes so far (they alternate one and two trees)
  int probe_gap_ = 0;    // Trees: off steps before the next probe (doubles per probe while off)
  int last_k_ = 0;
  std::vector<double> last_rates_;
};

}  // namespace ignis
