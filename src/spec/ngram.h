// ignis spec: n-gram proposer (prompt lookup). For n from ngram_max down to ngram_min, the last
// n tokens of prompt + output are looked up; the latest earlier occurrence (one with at least one
// token after it) proposes what followed it, up to k tokens. When the continuation runs into the
// end of the sequence it goes on with its own proposals (a repetition with period p continues
// with period p). Deterministic: q is one-hot at each proposal.
// Cost: an incremental per-sequence index of every n-gram's latest start, so a step costs
// O(new tokens * (ngram_max - ngram_min + 1) + k) per sequence, not a scan of its history.
#pragma once
#include <unordered_map>

#include "spec/proposer.h"

namespace ignis {

class NgramProposer : public Proposer {
 public:
  NgramProposer(int ngram_min, int ngram_max);
  const char* name() const override { return "ngram"; }
  void propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) override;
  void on_finished(uint64_t id) override { seqs_.erase(id); }

  // The proposal for one token sequence (up to k tokens); `index` caches its n-grams between
  // calls (the sequence may only have grown since).
  struct Index {
    size_t indexed = 0;  // tokens whose n-grams (ending before the last token) are in `latest`
    std::vector<std::unordered_map<uint64_t, int32_t>> latest;  // per n - ngram_min: hash -> latest start
  };
  void propose_one(std::span<const int32_t> tokens, int k, Index& index, std::vector<int32_t>& out) const;

 private:
  int min_, max_;
  std::unordered_map<uint64_t, Index> seqs_;
};

}  // namespace ignis
