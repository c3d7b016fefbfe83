// ignis spec: how speculative decoding is configured (EngineConfig::spec, the CLI's flags).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace ignis {

enum class SpecMethod { None, Ngram, Draft, Lookahead, Medusa, Eagle };
const char* spec_method_name(SpecMethod m);   // "none" | "ngram" | "draft" | "lookahead" | "medusa" | "eagle"
SpecMethod parse_spec_method(const std::string& s);  // throws Error naming --speculative

// The policy's knobs (spec/policy.h has what they mean).
struct SpecPolicyConfig {
  bool adaptive = true;         // false: every candidate gets K proposals (tests, A/B runs)
  double accept_prior = 0.6;    // acceptance rate assumed before anything is measured
  double prior_weight = 2.0;    // pseudo-observations behind that prior (per request: behind the global rate)
  double request_decay = 0.9;   // per verification, weight kept by a request's earlier observations
  double global_decay = 0.99;   // the same for the engine-wide rate
  double time_decay = 0.98;     // per step, weight kept by earlier step-time observations
  double min_gain = 0.03;       // speculate only when the predicted rate beats no speculation by this fraction
  int probe_interval = 64;      // steps without proposals before one probe step (1 proposal) re-measures acceptance
  double flat_tokens = 64;      // until measured: a step of n tokens costs (flat_tokens + n) / (flat_tokens + 1) of a 1-token step
  // Trees: steps over which turning a request on pays for its catch-up backlog (short: at batch 16 a
  // tree decision on the H200 held for a step or two, then acceptance sent it off and the backlog grew)
  int catchup_horizon = 8;
};

struct SpecConfig {
  SpecMethod method = SpecMethod::None;  // Draft needs a draft model (spec::make_proposer)
  int num_speculative_tokens = 4;        // K: the most proposals per sequence per step (the policy picks <= K)
  int ngram_min = 2, ngram_max = 4;      // n-gram lengths the prompt lookup tries, longest first
  // Lookahead decoding (spec/lookahead.h): window W, n-gram size N, verification set G. Its
  // proposals are token trees of up to lookahead_tree_size(W, N, G) nodes, which replaces K.
  int lookahead_window = 4, lookahead_ngram = 3, lookahead_verify = 4;
  // Medusa (spec/medusa.h): the candidate tree as Medusa's "medusa_choices", each node a path of
  // top-k indices, one per head ({0, 1}: head 0's best token, then head 1's second best); empty =
  // Medusa's default mc_sim_7b_63 (63 nodes, depth 4). Nodes deeper than the heads are dropped.
  // Its proposals are token trees of up to that many nodes, which replaces K.
  std::vector<std::vector<int>> medusa_choices;
  // Medusa's typical acceptance (spec/medusa.h typical_accept_path), opt-in: sampled requests (no
  // logprobs) accept a tree node whose target probability exceeds min(posterior_threshold,
  // posterior_alpha * exp(-entropy)) instead of the exact rule, trading the target's exact
  // distribution for longer accepted paths. Greedy requests stay exact. Tree proposers only.
  bool typical_acceptance = false;
  double posterior_threshold = 0.09, posterior_alpha = 0.3;  // Medusa's defaults
  // EAGLE-2's dynamic draft tree (spec/eagle.h), EaModel's defaults: `eagle_depth` expansion steps
  // after the first (the tree is at most depth + 1 deep), each expanding the eagle_topk best nodes
  // of the frontier by their eagle_topk best children; then the eagle_total_tokens - 1 best nodes
  // (with the root: eagle_total_tokens verified tokens) are proposed. This replaces K.
  int eagle_total_tokens = 60, eagle_depth = 5, eagle_topk = 10;
  SpecPolicyConfig policy;
  // Seconds on a monotonic clock, for the policy's step timings; null = std::chrono::steady_clock.
  // Tests inject a fake one.
  std::function<double()> clock;
};

// A request's own lookahead parameters (TensorRT-LLM's per-request LookaheadDecodingConfig): all
// zero = the engine's; else each at most the engine's (check_lookahead_request).
struct LookaheadParams {
  int window = 0, ngram = 0, verify = 0;
  bool set() const { return window != 0 || ngram != 0 || verify != 0; }
  bool operator==(const LookaheadParams&) const = default;
};
// Throws Error unless `r` is unset or valid (lookahead_tree_size) with W, N, G each at most the
// engine's (`c` must be a lookahead config for a set `r`).
void check_lookahead_request(const SpecConfig& c, const LookaheadParams& r);

// Lookahead: throws Error naming the flag unless 1 <= W <= 64, 2 <= N <= 16, 0 <= G <= 64 and the
// tree fits 512 tokens; returns the tree's size, (W + G) * (N - 1).
int lookahead_tree_size(int window, int ngram, int verify);
// EAGLE: throws Error naming the flag unless 2 <= total_tokens <= 513, 1 <= depth <= 32 and
// 1 <= topk <= 64; returns the draft tree's size, total_tokens - 1.
int eagle_tree_size(int total_tokens, int depth, int topk);
// The most proposals per sequence per step: K, the lookahead tree's size, the Medusa tree's
// (medusa_tree_size) or the EAGLE tree's (eagle_tree_size).
int spec_max_proposals(const SpecConfig& c);

}  // namespace ignis
