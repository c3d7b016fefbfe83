// NgramProposer (prompt lookup): the latest match of the longest n-gram, continuation up to k,
// self-extension through repetitions, and the incremental index against a naive search.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "kv/kv_cache_manager.h"
#include "spec/ngram.h"

using namespace ignis;

namespace {

std::vector<int32_t> propose(NgramProposer& p, const std::vector<int32_t>& t, int k) {
  NgramProposer::Index idx;
  std::vector<int32_t> out;
  p.propose_one(t, k, idx, out);
  return out;
}

// The definition, by brute force: for n = max .. min, the latest start i < L - n with
// t[i .. i+n) == the last n tokens; continuation t[i+n+j], or the proposal itself past the end.
std::vector<int32_t> naive(const std::vector<int32_t>& t, int k, int nmin, int nmax) {
  const int L = int(t.size());
  for (int n = std::min(nmax, L - 1); n >= nmin; --n)
    for (int i = L - n - 1; i >= 0; --i) {
      if (!std::equal(t.begin() + i, t.begin() + i + n, t.end() - n)) continue;
      std::vector<int32_t> out;
      for (int j = 0; j < k; ++j) {
        const int src = i + n + j;
        out.push_back(src < L ? t[size_t(src)] : out[size_t(src - L)]);
      }
      return out;
    }
  return {};
}

}  // namespace

TEST(Ngram, ProposesWhatFollowedTheLatestLongestMatch) {
  NgramProposer p(1, 3);
  // "5 6 7" occurred before followed by 8 9; the latest occurrence of "6 7" is followed by 1.
  std::vector<int32_t> t = {5, 6, 7, 8, 9, 6, 7, 1, 2, 5, 6, 7};
  EXPECT_EQ(propose(p, t, 2), (std::vector<int32_t>{8, 9}));
  EXPECT_EQ(propose(p, t, 4), (std::vector<int32_t>{8, 9, 6, 7}));
  // No 3-gram match: the 2-gram "6 7"'s latest occurrence wins.
  std::vector<int32_t> u = {6, 7, 3, 9, 6, 7, 4, 0, 6, 7};
  EXPECT_EQ(propose(p, u, 2), (std::vector<int32_t>{4, 0}));
  EXPECT_TRUE(propose(p, {1, 2, 3, 4}, 3).empty());  // nothing repeats
  EXPECT_TRUE(propose(p, {1}, 3).empty());
}

TEST(Ngram, RepetitionsExtendThemselves) {
  NgramProposer p(2, 2);
  // Period 2: the latest "1 2" starts 2 before the end; its continuation runs into the end and
  // goes on with its own proposals.
  EXPECT_EQ(propose(p, {1, 2, 1, 2}, 5), (std::vector<int32_t>{1, 2, 1, 2, 1}));
  NgramProposer q(1, 1);
  EXPECT_EQ(propose(q, {4, 4, 4}, 3), (std::vector<int32_t>{4, 4, 4}));
}

TEST(Ngram, IncrementalIndexEqualsTheNaiveSearch) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 40; ++trial) {
    const int nmin = 1 + int(rng() % 2), nmax = nmin + int(rng() % 3);
    NgramProposer p(nmin, nmax);
    NgramProposer::Index idx;
    std::vector<int32_t> t;
    const int vocab = 3 + int(rng() % 6);
    std::vector<int32_t> out;
    for (int len = 1; len < 120; ++len) {
      t.push_back(int32_t(rng() % uint64_t(vocab)));
      if (rng() % 3 == 0) continue;  // the index catches up over several new tokens
      const int k = 1 + int(rng() % 6);
      p.propose_one(t, k, idx, out);
      ASSERT_EQ(out, naive(t, k, nmin, nmax)) << "trial " << trial << " length " << len;
    }
  }
}

TEST(Ngram, ProposeKeepsAnIndexPerSequence) {
  NgramProposer p(1, 2);
  KvCacheConfig c;
  c.num_blocks = 4;
  KvCacheManager kv(c);
  std::vector<int32_t> a = {1, 2, 3, 1, 2}, b = {7, 8, 7};
  std::vector<SpecSeq> seqs(2);
  seqs[0].id = 1, seqs[0].tokens = a, seqs[0].k = 2;
  seqs[1].id = 2, seqs[1].tokens = b, seqs[1].k = 3;
  std::vector<Proposal> out;
  p.propose(seqs, kv, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(out[1].tokens, (std::vector<int32_t>{8, 7, 8}));
  EXPECT_TRUE(out[0].dists.empty() && out[0].probs.empty());  // deterministic
  a.push_back(3);
  seqs[0].tokens = a;
  p.propose(std::span<const SpecSeq>(seqs.data(), 1), kv, out);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{1, 2}));
  p.on_finished(1);
  EXPECT_THROW(NgramProposer(0, 2), Error);
  EXPECT_THROW(NgramProposer(3, 2), Error);
}
