// Tree verification on the CUDA model (model/batch.h BatchSeq::tree_parent): RoPE at num_cached +
// depth, K/V at slot num_cached + i, the attention kernels' tree mask. Logits of token trees against
// the CPU reference (F32, same dummy weights), with trees that span passes, beside chains and decodes;
// the accepted path compacted (Model::compact_kv) and decoding continued on both backends; bf16 tree
// steps in CUDA graphs against eager runs, and a chain written as a tree against the chain.
#include <random>

#include "cuda/cuda_model.h"
#include "gpu_model_util.h"
#include "gpu_test_util.h"
#include "model/cpu_model.h"
#include "model/weights.h"

namespace ignis {
namespace {

using test::seq_at;

TEST(GpuTree, LogitsMatchTheCpuReferenceThenCompactAndDecode) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = test::tiny_llama(64);
  const int V = cfg.vocab_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 11);
  CpuModel cpu(cfg, ws);
  // 64 tokens per pass: the 45- and 70-node trees span passes
  cuda::CudaModelOptions o = test::model_options(DType::F32, 8, 64);
  cuda::CudaModel gpu(cfg, ws, o);
  cpu.init_kv_cache(8 * bps, 16);
  gpu.init_kv_cache(8 * bps, 16);
  std::mt19937_64 rng(21);
  const std::vector<int> ctx = {30, 17, 50, 9, 100};
  ForwardBatch pre;
  for (size_t s = 0; s < ctx.size(); ++s) {
    pre.seqs.push_back(seq_at(int(s), 0, ctx[s], bps));
    for (int t = 0; t < ctx[s]; ++t) pre.tokens.push_back(int32_t(rng() % uint64_t(V)));
  }
  std::vector<float> want, got;
  cpu.forward(pre, want);
  gpu.forward(pre, got);
  test::rel_error(got, want, "prefill", 1e-4);

  // seq 0: a 5-node tree; 1: a decode; 2: a 45-node bushy tree (two mask words); 3: a chain written as
  // a tree; 4: a 70-node deep tree (three words, split over two passes with the others)
  ForwardBatch b;
  const std::vector<int> nodes = {5, 1, 45, 6, 70};
  for (size_t s = 0; s < ctx.size(); ++s) {
    BatchSeq q = seq_at(int(s), ctx[s], nodes[s], bps);
    if (s != 1) {
      q.all_logits = true;
      q.tree_parent = s == 3 ? std::vector<int32_t>{-1, 0, 1, 2, 3, 4} : test::random_tree(rng, nodes[s], s == 2 ? 45 : 4);
    }
    b.seqs.push_back(q);
    for (int t = 0; t < nodes[s]; ++t) b.tokens.push_back(int32_t(rng() % uint64_t(V)));
  }
  cpu.forward(b, want);
  gpu.forward(b, got);
  test::rel_error(got, want, "tree step", 1e-4);

  // accept a root-to-leaf path of each tree: its K/V moves to slots num_cached + depth
  ForwardBatch next;
  for (size_t s = 0; s < ctx.size(); ++s) {
    const BatchSeq& q = b.seqs[s];
    int cached = ctx[s] + 1;  // the root (or the decoded token)
    if (q.is_tree()) {
      std::vector<int32_t> src, dst;
      int node = 0;
      for (int depth = 1;; ++depth) {  // follow the last child of each node down
        int child = -1;
        for (int i = node + 1; i < q.num_tokens; ++i)
          if (q.tree_parent[size_t(i)] == node) child = i;
        if (child < 0) break;
        src.push_back(ctx[s] + child);
        dst.push_back(ctx[s] + depth);
        node = child;
      }
      cpu.compact_kv(q.block_table, src, dst);
      gpu.compact_kv(q.block_table, src, dst);
      cached += int(src.size());
    }
    next.seqs.push_back(seq_at(int(s), cached, 1, bps));
    next.tokens.push_back(int32_t(rng() % uint64_t(V)));
  }
  cpu.forward(next, want);
  gpu.forward(next, got);
  test::rel_error(got, want, "decode after compaction", 1e-4);
}

// bf16, head_dim 128 (the tensor-core kernels): tree steps of 4, 9, 16 and 40 nodes (40: several
// attention tiles per sequence and two mask words) for 1, 3 and 5 sequences in CUDA graphs give the
// eager model's tokens, one graph per (bucket, size); a chain written as a tree gives the chain's tokens.
TEST(GpuTree, GraphsMatchEagerAndAChainTreeIsTheChain) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = test::tiny_llama(128);
  const int V = cfg.vocab_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 12);
  cuda::CudaModelOptions o = test::model_options(DType::BF16, 8, 512);
  o.max_logit_rows = 512;
  cuda::CudaModel graphed(cfg, ws, o);
  o.cuda_graphs = false;
  cuda::CudaModel eager(cfg, ws, o);
  EXPECT_TRUE(graphed.supports_tree());
  graphed.init_kv_cache(8 * bps, 16);
  eager.init_kv_cache(8 * bps, 16);
  std::mt19937_64 rng(22);
  const SamplingParams greedy;
  const int graphs_before = graphed.num_graphs();
  for (int n : {4, 9, 16, 40}) {
    for (int nseq : {1, 3, 5}) {
      ForwardBatch pre;
      for (int s = 0; s < nseq; ++s) {
        pre.seqs.push_back(seq_at(s, 0, 20 + 7 * s, bps));
        for (int t = 0; t < 20 + 7 * s; ++t) pre.tokens.push_back(int32_t(rng() % uint64_t(V)));
      }
      std::vector<float> ignored;
      eager.forward(pre, ignored);
      graphed.forward(pre, ignored);
      ForwardBatch b;
      std::vector<RowSampling> rows(size_t(nseq) * n);
      for (auto& r : rows) r.params = &greedy;
      for (int s = 0; s < nseq; ++s) {
        BatchSeq q = seq_at(s, 20 + 7 * s, n, bps);
        q.all_logits = true;
        q.tree_parent = test::random_tree(rng, n, s + 1);
        b.seqs.push_back(q);
        for (int t = 0; t < n; ++t) b.tokens.push_back(int32_t(rng() % uint64_t(V)));
      }
      std::vector<RowSample> ref, got;
      eager.forward_verify(b, rows, ref);
      graphed.forward_verify(b, rows, got);  // first use: eager run + capture
      graphed.forward_verify(b, rows, got);  // replay
      ASSERT_EQ(got.size(), ref.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i].result.token, ref[i].result.token) << "n " << n << " seqs " << nseq << " row " << i;
      // the same step as chains (tree_parent i - 1) and as plain all-logits chains: the same tokens
      ForwardBatch chain_tree = b, chain = b;
      for (auto& q : chain_tree.seqs)
        for (int i = 0; i < n; ++i) q.tree_parent[size_t(i)] = i - 1;
      for (auto& q : chain.seqs) q.tree_parent.clear();
      std::vector<RowSample> a, c;
      eager.forward_verify(chain_tree, rows, a);
      eager.forward_verify(chain, rows, c);
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(a[i].result.token, c[i].result.token) << "chain n " << n << " seqs " << nseq << " row " << i;
    }
  }
  EXPECT_EQ(graphed.num_graphs() - graphs_before, 12);  // buckets 1, 4, 8 for each tree size
  EXPECT_EQ(eager.num_graphs(), 0);
}

TEST(GpuTree, BadTreesAreRefused) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = test::tiny_llama(64);
  WeightStore ws = make_dummy_weights(cfg, 13);
  cuda::CudaModelOptions o = test::model_options(DType::F32, cuda::CudaModelOptions{}.max_batch_size, 512);
  cuda::CudaModel gpu(cfg, ws, o);
  gpu.init_kv_cache(64, 16);
  auto run = [&](std::vector<int32_t> parents) {
    ForwardBatch b;
    BatchSeq q = seq_at(0, 3, int(parents.size()), 32);
    q.all_logits = true;
    q.tree_parent = std::move(parents);
    b.seqs.push_back(q);
    b.tokens.assign(q.tree_parent.size(), 1);
    std::vector<float> logits;
    gpu.forward(b, logits);
  };
  EXPECT_THROW(run({0, 0}), Error);         // the root has a parent
  EXPECT_THROW(run({-1, 1}), Error);        // a node is its own parent
  EXPECT_THROW(run({-1, 0, 5}), Error);     // a parent after the node
  std::vector<int32_t> long_chain(size_t(cuda::CudaModel::kMaxTreeTokens) + 1);
  for (size_t i = 0; i < long_chain.size(); ++i) long_chain[i] = int32_t(i) - 1;
  EXPECT_THROW(run(long_chain), Error);     // more nodes than the CUDA backend verifies
  EXPECT_NO_THROW(run({-1, 0, 0, 1}));
}

}  // namespace
}  // namespace ignis
