#include "spec/ngram.h"

#include <algorithm>

#include "core/error.h"

namespace ignis {

namespace {
uint64_t ngram_hash(const int32_t* t, int n) {
  uint64_t h = 0x84222325cbf29ce4ull;
  for (int i = 0; i < n; ++i) {
    h ^= uint64_t(uint32_t(t[i])) + 0x9e3779b97f4a7c15ull;
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h;
}
}  // namespace

NgramProposer::NgramProposer(int ngram_min, int ngram_max) : min_(ngram_min), max_(ngram_max) {
  IGNIS_CHECK(ngram_min >= 1 && ngram_max >= ngram_min && ngram_max <= 64,
              "--ngram-min / --ngram-max: need 1 <= min <= max <= 64 (got {} and {})", ngram_min, ngram_max);
}

void NgramProposer::propose_one(std::span<const int32_t> t, int k, Index& index, std::vector<int32_t>& out) const {
  out.clear();
  const size_t L = t.size();
  if (k <= 0 || L < size_t(min_) + 1) return;
  if (index.indexed > L) index = Index{};  // not the sequence it was built for
  index.latest.resize(size_t(max_ - min_ + 1));
  // Index the n-grams ending at positions [indexed, L - 2]: each has a token after it.
  for (size_t e = index.indexed; e + 1 < L; ++e)
    for (int n = min_; n <= max_; ++n) {
      if (e + 1 < size_t(n)) break;
      const size_t start = e + 1 - size_t(n);
      index.latest[size_t(n - min_)][ngram_hash(t.data() + start, n)] = int32_t(start);
    }
  index.indexed = std::max(index.indexed, L - 1);
  for (int n = std::min<int>(max_, int(L) - 1); n >= min_; --n) {
    const int32_t* suffix = t.data() + (L - size_t(n));
    const auto& m = index.latest[size_t(n - min_)];
    auto it = m.find(ngram_hash(suffix, n));
    if (it == m.end()) continue;
    const size_t start = size_t(it->second);
    if (!std::equal(suffix, suffix + n, t.data() + start)) continue;  // hash collision
    for (int j = 0; j < k; ++j) {
      const size_t src = start + size_t(n) + size_t(j);
      out.push_back(src < L ? t[src] : out[src - L]);
    }
    return;
  }
}

void NgramProposer::propose(std::span<const SpecSeq> seqs, const KvCacheManager& kv, std::vector<Proposal>& out) {
  out.resize(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    out[i].clear();
    propose_one(seqs[i].tokens, seqs[i].k, seqs_[seqs[i].id], out[i].tokens);
  }
}

}  // namespace ignis
