#include "spec/policy.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "core/error.h"

namespace ignis {

SpecPolicy::SpecPolicy(int max_k, SpecPolicyConfig cfg, Units units) : max_k_(max_k), cfg_(cfg), units_(units) {
  // 64 chained proposals (--num-speculative-tokens) or a lookahead tree of up to 512 nodes (spec/lookahead.h)
  IGNIS_CHECK(max_k >= 0 && max_k <= 512, "speculative policy: at most 512 proposals per step (got {})", max_k);
  IGNIS_CHECK(cfg.accept_prior > 0 && cfg.accept_prior < 1 && cfg.prior_weight > 0 && cfg.flat_tokens > 0 &&
                  cfg.request_decay > 0 && cfg.request_decay <= 1 && cfg.global_decay > 0 && cfg.global_decay <= 1 &&
                  cfg.time_decay > 0 && cfg.time_decay <= 1 && cfg.probe_interval >= 1,
              "speculative policy: a parameter is out of range");
}

double SpecPolicy::expected_tokens(double alpha, int k) {
  if (k <= 0) return 1.0;
  if (alpha >= 1.0 - 1e-12) return double(k) + 1.0;
  return (1.0 - std::pow(alpha, k + 1)) / (1.0 - alpha);
}

double SpecPolicy::global_acceptance() const {
  return (g_acc_ + cfg_.accept_prior * cfg_.prior_weight) / (g_acc_ + g_rej_ + cfg_.prior_weight);
}

double SpecPolicy::acceptance(uint64_t id) const {
  const double g = global_acceptance();
  auto it = req_.find(id);
  if (it == req_.end()) return g;
  return (it->second.acc + g * cfg_.prior_weight) / (it->second.acc + it->second.rej + cfg_.prior_weight);
}

void SpecPolicy::observe_acceptance(uint64_t id, int proposed, int accepted) {
  if (proposed <= 0) return;
  const double rej = accepted < proposed ? 1.0 : 0.0;
  Rate& r = req_[id];
  r.acc = r.acc * cfg_.request_decay + accepted;
  r.rej = r.rej * cfg_.request_decay + rej;
  g_acc_ = g_acc_ * cfg_.global_decay + accepted;
  g_rej_ = g_rej_ * cfg_.global_decay + rej;
}

void SpecPolicy::observe_tree(uint64_t id, int nodes, int depth, int accepted) {
  if (nodes <= 0) return;
  observe_acceptance(id, std::max(depth, 1), accepted);  // the chain view (acceptance(), logs)
  Rate& r = req_[id];
  r.trees = r.trees * cfg_.request_decay + 1;
  r.nodes = r.nodes * cfg_.request_decay + nodes;
  g_trees_ = g_trees_ * cfg_.global_decay + 1;
  g_tree_acc_ = g_tree_acc_ * cfg_.global_decay + accepted;
}

double SpecPolicy::tree_tokens(uint64_t id) const {
  // Before any tree: a chain at the prior rate, as long as it likes (alpha / (1 - alpha) accepted).
  const double prior = cfg_.accept_prior / (1.0 - cfg_.accept_prior);
  const double g = (g_tree_acc_ + prior * cfg_.prior_weight) / (g_trees_ + cfg_.prior_weight);
  auto it = req_.find(id);
  if (it == req_.end()) return 1.0 + g;
  return 1.0 + (it->second.acc + g * cfg_.prior_weight) / (it->second.trees + cfg_.prior_weight);
}

void SpecPolicy::forget(uint64_t id) { req_.erase(id); }

void SpecPolicy::observe_target(int num_tokens, double seconds) {
  if (!(seconds >= 0) || num_tokens <= 0) return;
  const double d = cfg_.time_decay, n = num_tokens;
  tw_ = tw_ * d + 1;
  tn_ = tn_ * d + n;
  tnn_ = tnn_ * d + n * n;
  tt_ = tt_ * d + seconds;
  tnt_ = tnt_ * d + n * seconds;
}

void SpecPolicy::observe_proposer(int rounds, int proposals, double seconds, int catchup_tokens) {
  if (!(seconds >= 0) || proposals <= 0) return;
  const double d = cfg_.time_decay;
  rounds_w_ = rounds_w_ * d + 1;
  rounds_ = rounds_ * d + std::max(0, rounds);
  const double f[3] = {double(rounds), double(proposals), double(std::max(0, catchup_tokens))};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) pg_[i][j] = pg_[i][j] * d + f[i] * f[j];
    pt_[i] = pt_[i] * d + f[i] * seconds;
  }
}

void SpecPolicy::fit_target(double& a, double& b) const {
  a = b = 0;
  if (tw_ <= 0) return;
  const double mn = tn_ / tw_, mt = tt_ / tw_;
  const double var = tnn_ / tw_ - mn * mn;
  if (var > 0.25) {  // token counts vary enough to see the slope
    b = std::max(0.0, (tnt_ / tw_ - mn * mt) / var);
    a = std::max(0.0, mt - b * mn);
  } else {  // one token count so far: the prior shape, scaled to the measurement
    const double c = mt / (cfg_.flat_tokens + mn);
    a = c * cfg_.flat_tokens;
    b = c;
  }
}

namespace {

// Least squares over the features in `use` (indices into the 3 x 3 Gram matrix g and the products t):
// false when the system is (nearly) singular or a coefficient comes out negative.
struct Features {
  int n;
  int use[3];
};

bool solve_subset(const double g[3][3], const double t[3], const Features& f, double coef[3]) {
  const int n = f.n;
  const int* use = f.use;
  double a[3][4];
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) a[i][j] = g[use[i]][use[j]];
    a[i][n] = t[use[i]];
  }
  for (int c = 0; c < n; ++c) {  // Gaussian elimination with partial pivoting
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (!(std::fabs(a[piv][c]) > 1e-9 * std::max(1e-300, g[use[c]][use[c]]))) return false;
    std::swap(a[c], a[piv]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double m = a[r][c] / a[c][c];
      for (int j = c; j <= n; ++j) a[r][j] -= m * a[c][j];
    }
  }
  double x[3] = {};
  for (int i = 0; i < n; ++i) {
    x[i] = a[i][n] / a[i][i];
    if (!(x[i] >= 0)) return false;
  }
  coef[0] = coef[1] = coef[2] = 0;
  for (int i = 0; i < n; ++i) coef[use[i]] = x[i];
  return true;
}

}  // namespace

void SpecPolicy::fit_proposer(double& c_round, double& c_token, double& c_catchup) const {
  c_round = c_token = c_catchup = 0;
  if (pg_[1][1] <= 0) return;
  // The full model, then without rounds (they move with proposals at batch 1), then without catch-up
  // (the first two only once catch-up was observed); else the one-price fallback below.
  static constexpr Features kTries[] = {{3, {0, 1, 2}}, {2, {1, 2}}, {2, {0, 1}}};
  const bool catchup_seen = pg_[2][2] > 0;
  for (const Features& f : std::span(kTries).subspan(catchup_seen ? 0 : 2)) {
    double c[3];
    if (solve_subset(pg_, pt_, f, c)) {
      c_round = c[0], c_token = c[1], c_catchup = c[2];
      return;
    }
  }
  // Too few distinct observations (one call cannot tell its parts apart), or a coefficient came out
  // negative: one price per token run, a catch-up token costing what a proposal does.
  const double mc2 = pg_[1][1] + 2 * pg_[1][2] + pg_[2][2];
  c_token = c_catchup = std::max(0.0, (pt_[1] + pt_[2]) / mc2);
}

double SpecPolicy::target_time(int num_tokens) const {
  double a, b;
  fit_target(a, b);
  return a + b * num_tokens;
}

double SpecPolicy::proposer_time(int rounds, int proposals) const {
  double cr, ct, cc;
  fit_proposer(cr, ct, cc);
  return cr * rounds + ct * proposals;
}

double SpecPolicy::proposer_catchup_time(int tokens) const {
  double cr, ct, cc;
  fit_proposer(cr, ct, cc);
  return cc * tokens;
}

void SpecPolicy::choose(int base_tokens, const std::vector<Candidate>& cands, std::vector<int>& k) {
  k.assign(cands.size(), 0);
  last_rates_.clear();
  last_k_ = 0;
  if (cands.empty() || max_k_ == 0) return;
  if (!cfg_.adaptive) {
    for (size_t i = 0; i < cands.size(); ++i) k[i] = std::clamp(cands[i].cap, 0, max_k_);
    last_k_ = max_k_;
    return;
  }
  if (units_ == Units::Trees) return choose_trees(base_tokens, cands, k);
  std::vector<double> alpha(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) alpha[i] = acceptance(cands[i].id);
  double a, b, cr, ct, cc;
  fit_target(a, b);
  fit_proposer(cr, ct, cc);
  if (tw_ <= 0) a = cfg_.flat_tokens, b = 1.0;  // nothing measured yet: the prior shape (units cancel: no proposer cost)
  const int base = std::max<int>(base_tokens, int(cands.size()));
  auto rate = [&](int kk) {
    double toks = 0;
    int extra = 0;
    for (size_t i = 0; i < cands.size(); ++i) {
      const int ki = std::clamp(cands[i].cap, 0, kk);
      toks += expected_tokens(alpha[i], ki);
      extra += ki;
    }
    const double t = a + b * (base + extra) + (extra > 0 ? cr * kk + ct * extra : 0.0);
    return t > 0 ? toks / t : 0.0;
  };
  int best = 0;
  for (int kk = 0; kk <= max_k_; ++kk) {
    last_rates_.push_back(rate(kk));
    if (last_rates_.back() > last_rates_[size_t(best)]) best = kk;
  }
  const bool on = best > 0 && last_rates_[size_t(best)] > last_rates_[0] * (1.0 + cfg_.min_gain);
  if (on) {
    off_steps_ = 0;
    last_k_ = best;
    const double price = last_rates_[size_t(best)] * (b + ct);  // tokens forgone per proposal
    for (size_t i = 0; i < cands.size(); ++i) {
      const int cap = std::clamp(cands[i].cap, 0, best);
      double best_gain = 0;
      for (int ki = 1; ki <= cap; ++ki) {
        const double gain = expected_tokens(alpha[i], ki) - 1.0 - price * ki;
        if (gain > best_gain) best_gain = gain, k[i] = ki;
      }
    }
  } else if (++off_steps_ >= cfg_.probe_interval) {  // re-measure acceptance now and then
    off_steps_ = 0;
    for (size_t i = 0; i < cands.size(); ++i) k[i] = std::min(1, std::max(0, cands[i].cap));
    last_k_ = 1;
  }
  for (size_t i = 0; i < cands.size(); ++i) {
    Rate& r = req_[cands[i].id];
    if (k[i] > 0) {
      r.idle = 0;
    } else if (on && cands[i].cap > 0 && ++r.idle >= cfg_.probe_interval) {
      r.idle = 0;
      k[i] = 1;
    }
  }
}

void SpecPolicy::choose_trees(int base_tokens, const std::vector<Candidate>& cands, std::vector<int>& k) {
  double a, b, cr, ct, cc;
  fit_target(a, b);
  fit_proposer(cr, ct, cc);
  if (tw_ <= 0) a = cfg_.flat_tokens, b = 1.0;  // nothing measured yet: the prior shape
  const int base = std::max<int>(base_tokens, int(cands.size()));
  const double rounds = rounds_w_ > 0 ? rounds_ / rounds_w_ : 1.0;
  struct Offer {
    size_t i;
    int cap;
    double gain, nodes;  // E_i - 1, and the nodes its tree is expected to have
    double backlog;      // its catch-up tokens (Candidate::backlog)
    int64_t last_tree;   // the step of its last tree (probes: the oldest news first)
  };
  std::vector<Offer> offers;
  for (size_t i = 0; i < cands.size(); ++i) {
    const int cap = std::clamp(cands[i].cap, 0, max_k_);
    if (cap <= 0) continue;
    auto it = req_.find(cands[i].id);
    const double nodes =
        it != req_.end() && it->second.trees > 0 ? std::min(double(cap), it->second.nodes / it->second.trees) : cap;
    offers.push_back({i, cap, tree_tokens(cands[i].id) - 1.0, std::max(nodes, 1.0), double(std::max(0, cands[i].backlog)),
                      it != req_.end() ? int64_t(it->second.last_tree) : int64_t(0)});
  }
  // The best yield per node first (ties: the earlier candidate), then every prefix's rate.
  std::stable_sort(offers.begin(), offers.end(),
                   [](const Offer& x, const Offer& y) { return x.gain * y.nodes > y.gain * x.nodes; });
  double toks = double(cands.size()), extra = 0, backlog = 0;
  last_rates_.push_back(toks / std::max(1e-300, a + b * base));
  size_t best = 0;
  const double horizon = std::max(1, cfg_.catchup_horizon);
  for (size_t j = 0; j < offers.size(); ++j) {
    toks += offers[j].gain;
    extra += offers[j].nodes;
    backlog += offers[j].backlog;
    const double t = a + b * (base + extra) + cr * rounds + ct * extra + cc * backlog / horizon;
    last_rates_.push_back(t > 0 ? toks / t : 0.0);
    if (last_rates_.back() > last_rates_[best]) best = j + 1;
  }
  const bool on = best > 0 && last_rates_[best] > last_rates_[0] * (1.0 + cfg_.min_gain);
  ++step_;
  if (on) {
    off_steps_ = 0;
    probe_gap_ = cfg_.probe_interval;
    last_k_ = int(best);
    for (size_t j = 0; j < best; ++j) k[offers[j].i] = offers[j].cap;
  } else if (++off_steps_ >= std::max(probe_gap_, cfg_.probe_interval) && !offers.empty()) {
    // A probe: trees for the requests whose acceptance is the oldest news, one and two in turn, so
    // the proposer's cost per round and per node come apart (one size cannot tell them apart, and a
    // cost charged to nodes alone would keep a batch of trees off however cheap its nodes are).
    off_steps_ = 0;
    std::vector<const Offer*> by_age;
    for (const Offer& o : offers) by_age.push_back(&o);
    std::stable_sort(by_age.begin(), by_age.end(),
                     [](const Offer* x, const Offer* y) { return x->last_tree < y->last_tree; });
    const size_t take = std::min(by_age.size(), size_t(1 + probes_++ % 2));
    // After the first pair (one tree, two trees: the cost model's two sizes), each probe that
    // leaves speculation off doubles the wait for the next, up to 8 probe intervals: a tree probe
    // costs a tree pass and, for a draft head, a catch-up over the request's history.
    if (probes_ >= 2) probe_gap_ = std::min(2 * std::max(probe_gap_, cfg_.probe_interval), 8 * cfg_.probe_interval);
    for (size_t j = 0; j < take; ++j) k[by_age[j]->i] = by_age[j]->cap;
    last_k_ = int(take);
  }
  for (const Offer& o : offers) {
    Rate& r = req_[cands[o.i].id];
    if (k[o.i] > 0) {
      r.idle = 0;
    } else if (on && ++r.idle >= cfg_.probe_interval) {  // left out while others speculate
      r.idle = 0;
      k[o.i] = o.cap;
    }
    if (k[o.i] > 0) r.last_tree = step_;
  }
}

}  // namespace ignis
