// Proposers for engine tests of speculative decoding: an oracle that knows each request's
// reference output and proposes it with random corruptions (so acceptance varies), and one that
// proposes garbage (nothing is accepted). Both may attach a full proposal distribution q.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "spec/proposer.h"

namespace ignis::testing {

class OracleProposer : public Proposer {
 public:
  // ref: prompt -> the output without speculation. corrupt: probability a proposal is wrong.
  OracleProposer(std::map<std::vector<int32_t>, std::vector<int32_t>> ref, double corrupt, int vocab,
                 bool with_q = false, uint64_t seed = 1)
      : ref_(std::move(ref)), corrupt_(corrupt), vocab_(vocab), with_q_(with_q), rng_(seed) {
    q_.assign(size_t(vocab), 1.0f / float(vocab));
  }
  const char* name() const override { return "oracle"; }
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager&, std::vector<Proposal>& out) override {
    out.resize(seqs.size());
    std::bernoulli_distribution wrong(corrupt_);
    for (size_t i = 0; i < seqs.size(); ++i) {
      const SpecSeq& s = seqs[i];
      out[i].clear();
      ++counts->calls;
      counts->max_k = std::max(counts->max_k, s.k);
      std::vector<int32_t> prompt(s.tokens.begin(), s.tokens.begin() + s.num_prompt);
      auto it = ref_.find(prompt);
      const size_t gen = s.tokens.size() - size_t(s.num_prompt);
      for (int j = 0; j < s.k; ++j) {
        int32_t t = 1 + int32_t(rng_() % uint64_t(vocab_ - 1));
        if (it != ref_.end() && gen + size_t(j) < it->second.size()) {
          t = it->second[gen + size_t(j)];
          if (wrong(rng_)) t = (t + 1 + int32_t(rng_() % uint64_t(vocab_ - 1))) % vocab_;
        }
        out[i].tokens.push_back(t);
        if (with_q_) {
          out[i].probs.push_back(q_[size_t(t)]);
          out[i].dists.push_back(q_.data());
        }
      }
    }
  }
  void on_finished(uint64_t) override { ++counts->finished; }
  void on_preempted(uint64_t) override { ++counts->preempted; }
  // Outlives the proposer (the engine owns and destroys it).
  struct Counts {
    int calls = 0, finished = 0, preempted = 0, max_k = 0;
  };
  std::shared_ptr<Counts> counts = std::make_shared<Counts>();

 private:
  std::map<std::vector<int32_t>, std::vector<int32_t>> ref_;
  double corrupt_;
  int vocab_;
  bool with_q_;
  std::mt19937_64 rng_;
  std::vector<float> q_;  // (vocab) uniform
};

}  // namespace ignis::testing
