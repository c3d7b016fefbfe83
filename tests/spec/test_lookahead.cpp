// LookaheadProposer (spec/lookahead.h) on its own: the (W, N, G) validation, the tree's shape
// (verification trie from the pool, then the lookahead window: level 0 a chain from the root,
// level l hanging from level l - 1 of its column), the Jacobi update and the n-gram pool from
// the rows the target returns, the budget when offered fewer slots than the whole tree.
#include <gtest/gtest.h>

#include "core/error.h"
#include "kv/kv_cache_manager.h"
#include "spec/lookahead.h"

using namespace ignis;

namespace {

// The depth of every node (root = 0) of a proposal tree.
std::vector<int> depths(const Proposal& p) {
  std::vector<int> d;
  for (size_t i = 0; i < p.parents.size(); ++i) d.push_back(p.parents[i] < 0 ? 1 : d[size_t(p.parents[i])] + 1);
  return d;
}

SpecSeq seq(const std::vector<int32_t>& toks, int k) {
  SpecSeq s;
  s.id = 1;
  s.tokens = toks;
  s.num_prompt = int(toks.size());
  s.num_computed = int(toks.size()) - 1;
  s.k = k;
  return s;
}

}  // namespace

TEST(Lookahead, ParametersAreValidatedWithClearErrors) {
  EXPECT_EQ(lookahead_tree_size(4, 3, 4), 16);
  EXPECT_EQ(lookahead_tree_size(8, 8, 8), 112);
  EXPECT_EQ(lookahead_tree_size(5, 2, 0), 5);
  auto msg = [](int w, int n, int g) {
    try {
      lookahead_tree_size(w, n, g);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg(0, 3, 4).find("--lookahead-window"), std::string::npos);
  EXPECT_NE(msg(4, 1, 4).find("--lookahead-ngram"), std::string::npos);
  EXPECT_NE(msg(4, 3, -1).find("--lookahead-verify"), std::string::npos);
  EXPECT_NE(msg(64, 16, 64).find("512"), std::string::npos);
  EXPECT_THROW(LookaheadProposer(4, 17, 4), Error);
  SpecConfig c;
  c.method = SpecMethod::Lookahead;
  c.lookahead_window = 3, c.lookahead_ngram = 4, c.lookahead_verify = 2;
  EXPECT_EQ(spec_max_proposals(c), 15);
  EXPECT_EQ(parse_spec_method("lookahead"), SpecMethod::Lookahead);
  EXPECT_STREQ(spec_method_name(SpecMethod::Lookahead), "lookahead");
}

TEST(Lookahead, WindowShapeJacobiUpdateAndPool) {
  const int W = 3, N = 3, G = 2;
  LookaheadProposer p(W, N, G);
  LookaheadProposer::State st;
  std::vector<int32_t> toks = {5, 6, 7, 8, 9};
  Proposal out;
  p.propose_one(seq(toks, lookahead_tree_size(W, N, G)), st, out);
  // Empty pool: the lookahead branch only, W * (N - 1) nodes, observed.
  ASSERT_EQ(out.tokens.size(), size_t(W * (N - 1)));
  EXPECT_TRUE(out.observe);
  EXPECT_EQ(st.la_first, 0);
  const std::vector<int32_t> want_parents = {-1, 0, 1, 0, 1, 2};  // level 0 chain; level 1 on its column
  EXPECT_EQ(out.parents, want_parents);
  EXPECT_EQ(depths(out), (std::vector<int>{1, 2, 3, 2, 3, 4}));
  for (int32_t t : out.tokens) EXPECT_TRUE(t >= 5 && t <= 9) << "initial guesses come from the sequence";
  const std::vector<int32_t> win = st.window;
  EXPECT_EQ(out.tokens, win);
  // The target's rows: root row, then one per node; the top level's outputs are 40, 41, 42.
  std::vector<int32_t> rows = {1, 20, 21, 22, 40, 41, 42};
  p.observe(st, rows);
  // Jacobi: level 0 <- level 1, level 1 <- the top level's outputs.
  EXPECT_EQ(std::vector<int32_t>(st.window.begin(), st.window.begin() + W),
            std::vector<int32_t>(win.begin() + W, win.end()));
  EXPECT_EQ(std::vector<int32_t>(st.window.begin() + W, st.window.end()), (std::vector<int32_t>{40, 41, 42}));
  // n-grams: (level 0, level 1, output) per column, keyed by level 0.
  EXPECT_EQ(st.collected, W);
  for (int j = 0; j < W; ++j) {
    auto it = st.pool.find(win[size_t(j)]);
    ASSERT_NE(it, st.pool.end());
    const std::vector<int32_t> gram = {win[size_t(W + j)], 40 + j};
    EXPECT_NE(std::find(it->second.begin(), it->second.end(), gram), it->second.end()) << "column " << j;
    EXPECT_LE(it->second.size(), size_t(G));
  }
  EXPECT_EQ(st.la_first, -1);
  p.observe(st, rows);  // nothing proposed since: nothing changes
  EXPECT_EQ(st.collected, W);

  // A pool entry for the last token: the verification trie comes first.
  st.pool[9] = {{11, 12}, {11, 13}, {14, 15}};  // more than G entries may sit there from a test
  p.propose_one(seq(toks, lookahead_tree_size(W, N, G)), st, out);
  // The tree budget is (W + G) * (N - 1) = 10 and the window takes 6, so the trie of the three
  // n-grams (11 -> {12, 13}, 14 -> 15) is cut after 4 nodes.
  ASSERT_EQ(out.tokens.size(), size_t(10));
  EXPECT_EQ(std::vector<int32_t>(out.tokens.begin(), out.tokens.begin() + 4), (std::vector<int32_t>{11, 12, 13, 14}));
  EXPECT_EQ(std::vector<int32_t>(out.parents.begin(), out.parents.begin() + 4), (std::vector<int32_t>{-1, 0, 0, -1}));
  EXPECT_EQ(st.la_first, 4);
  EXPECT_EQ(out.parents[4], -1) << "the window's level 0 hangs from the root";
  EXPECT_EQ(std::vector<int32_t>(out.tokens.begin() + 4, out.tokens.end()), st.window);
}

TEST(Lookahead, FewerSlotsThanTheTreeProposeTheVerificationBranchAlone) {
  LookaheadProposer p(4, 3, 2);
  LookaheadProposer::State st;
  std::vector<int32_t> toks = {3, 4, 5};
  Proposal out;
  p.propose_one(seq(toks, 3), st, out);  // 3 < 4 * 2 + 1: no window this step
  EXPECT_TRUE(out.tokens.empty());
  EXPECT_FALSE(out.observe);
  EXPECT_EQ(st.la_first, -1);
  st.pool[5] = {{7, 8}, {9, 10}};
  p.propose_one(seq(toks, 3), st, out);
  EXPECT_EQ(out.tokens, (std::vector<int32_t>{7, 8, 9}));
  EXPECT_EQ(out.parents, (std::vector<int32_t>{-1, 0, -1}));
}

TEST(Lookahead, PoolKeepsTheGMostRecentDistinctNgrams) {
  const int W = 1, N = 2, G = 2;
  LookaheadProposer p(W, N, G);
  LookaheadProposer::State st;
  std::vector<int32_t> toks = {3};
  Proposal out;
  // N = 2: plain Jacobi over a window of one token; each step's n-gram is (guess, output).
  for (int32_t o : {7, 3, 8, 3, 9, 3, 8}) {
    p.propose_one(seq(toks, lookahead_tree_size(W, N, G)), st, out);
    ASSERT_EQ(out.tokens.back(), st.window[0]);
    p.observe(st, std::vector<int32_t>(1 + out.tokens.size(), o));
  }
  // Guesses went 3 -> 7 -> 3 -> 8 -> 3 -> 9 -> 3 -> 8: the key 3 saw 7, 8, 9, 8 (8 moved to the front).
  ASSERT_EQ(st.pool.count(3), 1u);
  EXPECT_EQ(st.pool.at(3), (std::deque<std::vector<int32_t>>{{8}, {9}}));
}

TEST(Lookahead, PerRequestParametersAtMostTheEngines) {
  SpecConfig c;
  c.method = SpecMethod::Lookahead;
  c.lookahead_window = 4, c.lookahead_ngram = 3, c.lookahead_verify = 4;
  EXPECT_NO_THROW(check_lookahead_request(c, {}));
  EXPECT_NO_THROW(check_lookahead_request(c, {2, 3, 0}));
  EXPECT_NO_THROW(check_lookahead_request(c, {4, 2, 4}));
  EXPECT_THROW(check_lookahead_request(c, {5, 3, 4}), Error);  // W above the engine's
  EXPECT_THROW(check_lookahead_request(c, {4, 4, 4}), Error);
  EXPECT_THROW(check_lookahead_request(c, {4, 3, 5}), Error);
  EXPECT_THROW(check_lookahead_request(c, {0, 3, 4}), Error);  // invalid on its own
  EXPECT_THROW(check_lookahead_request(c, {2, 1, 1}), Error);
  SpecConfig ngram;
  ngram.method = SpecMethod::Ngram;
  EXPECT_NO_THROW(check_lookahead_request(ngram, {}));
  EXPECT_THROW(check_lookahead_request(ngram, {2, 2, 1}), Error);

  // The proposer runs the request's own parameters; a change restarts the state.
  LookaheadProposer p(4, 3, 4);
  LookaheadProposer::State st;
  std::vector<int32_t> toks = {3, 4, 5, 6};
  SpecSeq s = seq(toks, lookahead_tree_size(4, 3, 4));
  s.lookahead = {2, 2, 1};
  Proposal out;
  p.propose_one(s, st, out);
  EXPECT_EQ(st.W, 2);
  EXPECT_EQ(out.tokens.size(), 2u) << "W * (N - 1) = 2 window nodes, empty pool";
  EXPECT_EQ(out.parents, (std::vector<int32_t>{-1, 0}));
  p.observe(st, std::vector<int32_t>{1, 9, 9});
  EXPECT_EQ(st.collected, 2);
  s.lookahead = {};
  p.propose_one(s, st, out);
  EXPECT_EQ(st.W, 4);
  EXPECT_EQ(st.N, 3);
  EXPECT_EQ(st.collected, 0) << "restarted";
  EXPECT_EQ(out.tokens.size(), 8u);
}
