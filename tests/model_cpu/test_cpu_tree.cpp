// Tree verification on the CPU backend (model/batch.h BatchSeq::tree_parent): every node of a
// token tree scored in one pass equals running its root-to-node path as a plain chain after the
// same context (GQA, sliding window, several sequences in one flat batch, next to a plain
// chunk); a chain written as a tree equals the chain exactly; Model::compact_kv keeps exactly the
// accepted path, so decoding continues as if only the path had been run; bad trees are errors.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "model/cpu_model.h"
#include "tiny_checkpoint.h"

namespace ignis {
namespace {

using test::random_tokens;
using test::rel_err;
using test::tiny_config;
using test::tiny_weights;

constexpr int kBlock = 4;

std::vector<int32_t> iota_blocks(int first, int count) {
  std::vector<int32_t> b(static_cast<size_t>(count));
  std::iota(b.begin(), b.end(), first);
  return b;
}

// The logits of every token of `toks` (a whole sequence from position 0), one chunk.
std::vector<float> chain_logits(const ModelConfig& cfg, const WeightStore& ws, const std::vector<int32_t>& toks) {
  CpuModel m(cfg, ws);
  m.init_kv_cache(16, kBlock);
  ForwardBatch b;
  b.tokens = toks;
  b.seqs.push_back({0, int32_t(toks.size()), iota_blocks(0, 16), true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

// A tree: node tokens and parents (parent index within the step's tokens, node 0 = root).
struct Tree {
  std::vector<int32_t> tokens;
  std::vector<int32_t> parent;
  std::vector<int32_t> path(int node) const {  // root .. node, tokens
    std::vector<int32_t> p;
    for (int n = node; n >= 0; n = n == 0 ? -1 : parent[size_t(n)]) p.insert(p.begin(), tokens[size_t(n)]);
    return p;
  }
};

Tree random_tree(int n, int vocab, uint64_t seed) {
  Tree t;
  auto toks = random_tokens(n, vocab, seed);
  t.tokens = toks;
  t.parent.push_back(-1);
  uint64_t h = seed * 0x9e3779b97f4a7c15ull + 1;
  for (int i = 1; i < n; ++i) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    t.parent.push_back(int32_t((h >> 33) % uint64_t(i)));
  }
  return t;
}

struct TreeCase {
  Arch arch;
  int kv_heads;
  int window;
};
class CpuTree : public ::testing::TestWithParam<TreeCase> {};

TEST_P(CpuTree, EveryNodeEqualsItsPathRunAsAChain) {
  const TreeCase tc = GetParam();
  ModelConfig cfg = tiny_config(tc.arch, tc.kv_heads, tc.window);
  WeightStore ws = tiny_weights(cfg, 21);
  const int V = cfg.vocab_size;
  // Two tree sequences and one plain chunk in one flat batch, each after its own context.
  const std::vector<int> ctx_len = {9, 14, 6};
  std::vector<std::vector<int32_t>> ctx;
  for (int s = 0; s < 3; ++s) ctx.push_back(random_tokens(ctx_len[size_t(s)], V, 40 + uint64_t(s)));
  std::vector<Tree> trees = {random_tree(11, V, 5), random_tree(7, V, 6)};
  const std::vector<int32_t> chunk = random_tokens(5, V, 7);

  CpuModel m(cfg, ws);
  m.init_kv_cache(48, kBlock);
  const std::vector<std::vector<int32_t>> tables = {iota_blocks(0, 16), iota_blocks(16, 16), iota_blocks(32, 16)};
  std::vector<float> out;
  ForwardBatch pre;
  for (int s = 0; s < 3; ++s) {
    pre.tokens.insert(pre.tokens.end(), ctx[size_t(s)].begin(), ctx[size_t(s)].end());
    pre.seqs.push_back({0, ctx_len[size_t(s)], tables[size_t(s)], false});
  }
  m.forward(pre, out);
  ForwardBatch b;
  for (int s = 0; s < 2; ++s) {
    b.tokens.insert(b.tokens.end(), trees[size_t(s)].tokens.begin(), trees[size_t(s)].tokens.end());
    BatchSeq q{ctx_len[size_t(s)], int32_t(trees[size_t(s)].tokens.size()), tables[size_t(s)], true};
    q.tree_parent = trees[size_t(s)].parent;
    b.seqs.push_back(q);
  }
  b.tokens.insert(b.tokens.end(), chunk.begin(), chunk.end());
  b.seqs.push_back({ctx_len[2], int32_t(chunk.size()), tables[2], true});
  m.forward(b, out);
  ASSERT_EQ(out.size(), size_t(b.num_logit_rows()) * size_t(V));
  size_t row = 0;
  for (int s = 0; s < 2; ++s)
    for (size_t n = 0; n < trees[size_t(s)].tokens.size(); ++n, ++row) {
      std::vector<int32_t> seq = ctx[size_t(s)];
      const auto p = trees[size_t(s)].path(int(n));
      seq.insert(seq.end(), p.begin(), p.end());
      const auto want = chain_logits(cfg, ws, seq);
      ASSERT_LE(rel_err(out.data() + row * size_t(V), want.data() + (seq.size() - 1) * size_t(V), V), 1e-5)
          << "tree " << s << " node " << n << " (depth " << p.size() - 1 << ")";
    }
  std::vector<int32_t> seq = ctx[2];
  seq.insert(seq.end(), chunk.begin(), chunk.end());
  const auto want = chain_logits(cfg, ws, seq);
  for (size_t t = 0; t < chunk.size(); ++t, ++row)
    ASSERT_LE(rel_err(out.data() + row * size_t(V), want.data() + (size_t(ctx_len[2]) + t) * size_t(V), V), 1e-5)
        << "plain chunk token " << t;
}

INSTANTIATE_TEST_SUITE_P(Variants, CpuTree,
                         ::testing::Values(TreeCase{Arch::Llama, 2, 0}, TreeCase{Arch::Llama, 4, 0},
                                           TreeCase{Arch::Mistral, 1, 5}));

TEST(CpuTree, AChainWrittenAsATreeIsBitIdentical) {
  ModelConfig cfg = tiny_config(Arch::Llama, 2);
  WeightStore ws = tiny_weights(cfg, 3);
  auto ctx = random_tokens(10, cfg.vocab_size, 1), step = random_tokens(6, cfg.vocab_size, 2);
  std::vector<float> a, b, scratch;
  for (int as_tree = 0; as_tree < 2; ++as_tree) {
    CpuModel m(cfg, ws);
    m.init_kv_cache(8, kBlock);
    ForwardBatch pre;
    pre.tokens = ctx;
    pre.seqs.push_back({0, 10, iota_blocks(0, 8), false});
    m.forward(pre, scratch);
    ForwardBatch s;
    s.tokens = step;
    BatchSeq q{10, 6, iota_blocks(0, 8), true};
    if (as_tree) q.tree_parent = {-1, 0, 1, 2, 3, 4};
    s.seqs.push_back(q);
    m.forward(s, as_tree ? b : a);
  }
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << i;
}

TEST(CpuTree, CompactKvKeepsExactlyTheAcceptedPath) {
  ModelConfig cfg = tiny_config(Arch::Llama, 2);
  WeightStore ws = tiny_weights(cfg, 9);
  const int V = cfg.vocab_size;
  auto ctx = random_tokens(7, V, 11);  // 7 tokens: the tree starts mid-block
  // root 0; branches: 0-1-2-3 and 0-4-5-6-7 and 0-8, 5-9 (the accepted path: 0, 4, 5, 9)
  Tree t;
  t.tokens = random_tokens(10, V, 12);
  t.parent = {-1, 0, 1, 2, 0, 4, 5, 6, 0, 5};
  const std::vector<int> accepted = {4, 5, 9};
  CpuModel m(cfg, ws);
  m.init_kv_cache(12, kBlock);
  const std::vector<int32_t> table = {7, 3, 10, 0, 5, 1};  // shuffled blocks
  std::vector<float> out;
  ForwardBatch pre;
  pre.tokens = ctx;
  pre.seqs.push_back({0, 7, table, false});
  m.forward(pre, out);
  ForwardBatch b;
  b.tokens = t.tokens;
  BatchSeq q{7, 10, table, true};
  q.tree_parent = t.parent;
  b.seqs.push_back(q);
  m.forward(b, out);
  // Slots 7 + node -> 7 + depth.
  std::vector<int32_t> src, dst;
  for (size_t d = 0; d < accepted.size(); ++d) src.push_back(7 + accepted[d]), dst.push_back(7 + int32_t(d) + 1);
  m.compact_kv(table, src, dst);
  // Continue decoding after the path: its KV (root + accepted) now at 7 .. 10; 3 more tokens.
  std::vector<int32_t> seq = ctx;
  for (int n : {0, 4, 5, 9}) seq.push_back(t.tokens[size_t(n)]);
  auto more = random_tokens(3, V, 13);
  ForwardBatch c;
  c.tokens = more;
  c.seqs.push_back({int32_t(seq.size()), 3, table, true});
  m.forward(c, out);
  seq.insert(seq.end(), more.begin(), more.end());
  const auto want = chain_logits(cfg, ws, seq);
  for (int i = 0; i < 3; ++i)
    ASSERT_LE(rel_err(out.data() + size_t(i) * V, want.data() + (seq.size() - 3 + size_t(i)) * V, V), 1e-5)
        << "token " << i << " after the compacted path";
  // Without the compaction the same continuation reads the rejected branch's K/V: different logits.
  CpuModel m2(cfg, ws);
  m2.init_kv_cache(12, kBlock);
  m2.forward(pre, out);
  m2.forward(b, out);
  m2.forward(c, out);
  EXPECT_GT(rel_err(out.data(), want.data() + (seq.size() - 3) * V, V), 1e-3) << "compaction had nothing to do";
}

TEST(CpuTree, BadTreesAreClearErrors) {
  ModelConfig cfg = tiny_config(Arch::Llama, 2);
  WeightStore ws = tiny_weights(cfg, 9);
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  std::vector<float> out;
  auto run = [&](std::vector<int32_t> parents, bool all = true) {
    ForwardBatch b;
    b.tokens = {1, 2, 3};
    BatchSeq q{0, 3, iota_blocks(0, 8), all};
    q.tree_parent = std::move(parents);
    b.seqs.push_back(q);
    m.forward(b, out);
  };
  EXPECT_THROW(run({-1, 0}), Error);          // one parent short
  EXPECT_THROW(run({0, 0, 1}), Error);        // root with a parent
  EXPECT_THROW(run({-1, 2, 0}), Error);       // parent after the child
  EXPECT_THROW(run({-1, 0, 1}, false), Error);  // a tree needs all logits
  EXPECT_NO_THROW(run({-1, 0, 0}));
  EXPECT_THROW(m.compact_kv(iota_blocks(0, 8), {3}, {40}), Error);  // outside the block table
}

}  // namespace
}  // namespace ignis
