// Speculative verification on the CUDA model against the CPU reference (same dummy weights, F32):
// steps of [last token, d1 .. dk] with all_logits (BatchSeq::num_draft) through
// Model::forward_verify, greedy rows (exact match), sampled rows with a deterministic proposer
// (exact match of the same draw) and with a full q (rejection sampling), teacher-forced on the
// CPU's accepted tokens, so the KV of rejected positions is rewritten by the next step on both
// backends. Today CudaModel verifies through the host default (its logits and the host sampler);
// a device implementation of the same contract must keep passing this test.
#include <algorithm>
#include <cstring>
#include <random>

#include "cuda/cuda_model.h"
#include "gpu_test_util.h"
#include "model/cpu_model.h"
#include "model/weights.h"

namespace ignis {
namespace {

ModelConfig spec_config() {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 512;
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.max_position_embeddings = 1024;
  c.rope_theta = 10000.0f;
  c.dtype = DType::BF16;
  return c;
}

// spec_config with 128-wide heads (the mma attention kernels' shape): the graph and invariance tests' model.
ModelConfig wide_head_config() {
  ModelConfig c = spec_config();
  c.head_dim = 128;
  return c;
}

// Options of the bf16 models of the graph and invariance tests (up to 8 sequences per pass).
cuda::CudaModelOptions bf16_options(int max_num_tokens) {
  cuda::CudaModelOptions o;
  o.dtype = DType::BF16;
  o.progress = false;
  o.max_batch_size = 8;
  o.max_num_tokens = max_num_tokens;
  return o;
}

// The batch-invariance tests' models: one that decodes step by step (graphed) and two that verify,
// graphed and eager, each with KV for 8 sequences of kInvBlocks blocks of 16 (sequence s: blocks s * 16..).
constexpr int kInvBlocks = 16;
struct InvariantModels {
  cuda::CudaModel dec, graphed, eager;
  static cuda::CudaModelOptions options(bool graphs) {
    cuda::CudaModelOptions o = bf16_options(256);
    o.batch_invariant = true;
    o.cuda_graphs = graphs;
    return o;
  }
  InvariantModels(const ModelConfig& cfg, const WeightStore& ws)
      : dec(cfg, ws, options(true)), graphed(cfg, ws, options(true)), eager(cfg, ws, options(false)) {
    for (cuda::CudaModel* m : {&dec, &graphed, &eager}) m->init_kv_cache(8 * kInvBlocks, 16);
  }
};
// Sequence s of a batch-invariance test: num_cached tokens in its KV, num_tokens new ones.
BatchSeq invariant_seq(int s, int num_cached, int num_tokens) {
  BatchSeq q;
  q.num_cached = num_cached;
  q.num_tokens = num_tokens;
  for (int j = 0; j < kInvBlocks; ++j) q.block_table.push_back(s * kInvBlocks + j);
  return q;
}
// The prefill of contexts ctx (random tokens).
ForwardBatch invariant_prefill(const std::vector<int>& ctx, int vocab, std::mt19937_64& rng) {
  ForwardBatch pre;
  for (size_t s = 0; s < ctx.size(); ++s) {
    pre.seqs.push_back(invariant_seq(int(s), 0, ctx[s]));
    for (int t = 0; t < ctx[s]; ++t) pre.tokens.push_back(int32_t(rng() % uint64_t(vocab)));
  }
  return pre;
}

TEST(GpuSpec, VerificationRowsMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = spec_config();
  const int V = cfg.vocab_size, bps = 32, k = 3;
  WeightStore ws = make_dummy_weights(cfg, 5);
  CpuModel cpu(cfg, ws);
  cuda::CudaModelOptions o;
  o.dtype = DType::F32;
  o.progress = false;
  o.max_batch_size = 16;
  o.max_num_tokens = 64;
  cuda::CudaModel gpu(cfg, ws, o);
  cpu.init_kv_cache(128, 16);
  gpu.init_kv_cache(128, 16);
  // Rows: greedy, sampled with a deterministic proposer, sampled with a full q (uniform).
  std::vector<SamplingParams> sp(3);
  sp[0].temperature = 0.0f;
  sp[1].temperature = 0.9f, sp[1].top_k = 50;
  sp[2].temperature = 1.0f, sp[2].logprobs = 2;
  std::vector<float> q(size_t(V), 1.0f / float(V));
  std::mt19937_64 rng(7);
  std::vector<std::vector<int32_t>> prompt(sp.size()), out(sp.size());
  std::vector<RequestRng> draws;
  ForwardBatch b;
  for (size_t s = 0; s < sp.size(); ++s) {
    draws.emplace_back(40 + s);
    for (int i = 0; i < 9 + 5 * int(s); ++i) prompt[s].push_back(int32_t(rng() % uint64_t(V)));
    BatchSeq q0;
    q0.num_tokens = int(prompt[s].size());
    for (int i = 0; i < bps; ++i) q0.block_table.push_back(int(s) * bps + i);
    b.seqs.push_back(q0);
    b.tokens.insert(b.tokens.end(), prompt[s].begin(), prompt[s].end());
  }
  std::vector<float> logits;
  cpu.forward(b, logits);  // prefill both; the first tokens are the CPU's argmax
  std::vector<float> glog;
  gpu.forward(b, glog);
  std::vector<int32_t> last(sp.size());
  for (size_t s = 0; s < sp.size(); ++s) {
    const float* row = &logits[s * size_t(V)];
    last[s] = int32_t(std::max_element(row, row + V) - row);
    out[s].push_back(last[s]);
  }
  std::vector<int> cached(sp.size());
  for (size_t s = 0; s < sp.size(); ++s) cached[s] = int(prompt[s].size());
  int compared = 0, mismatches = 0, accepted = 0;
  for (int step = 0; step < 30; ++step) {
    ForwardBatch vb;
    std::vector<RowSampling> rows;
    std::vector<std::vector<int32_t>> hist(sp.size()), drafts(sp.size());
    for (size_t s = 0; s < sp.size(); ++s) {
      BatchSeq bs;
      bs.num_cached = cached[s];  // the last token's position
      bs.num_tokens = 1 + k;
      bs.num_draft = k;
      bs.all_logits = true;
      for (int i = 0; i < bps; ++i) bs.block_table.push_back(int(s) * bps + i);
      vb.seqs.push_back(bs);
      vb.tokens.push_back(last[s]);
      for (int m = 0; m < k; ++m) drafts[s].push_back(int32_t(rng() % uint64_t(V)));
      vb.tokens.insert(vb.tokens.end(), drafts[s].begin(), drafts[s].end());
      hist[s] = out[s];
      hist[s].insert(hist[s].end(), drafts[s].begin(), drafts[s].end());
    }
    for (size_t s = 0; s < sp.size(); ++s)
      for (int m = 0; m <= k; ++m) {
        RowSampling r;
        r.params = &sp[s];
        r.u = sp[s].greedy() ? 0.0 : draws[s].uniform();
        r.prompt_ids = prompt[s].data();
        r.n_prompt = prompt[s].size();
        r.output_ids = hist[s].data();
        r.n_output = out[s].size() + size_t(m);
        if (m < k) {
          r.draft_token = drafts[s][size_t(m)];
          if (s == 2) {
            r.draft_dist = q.data();
            r.draft_prob = q[size_t(r.draft_token)];
            r.u_accept = draws[s].uniform();
          }
        }
        rows.push_back(r);
      }
    std::vector<RowSample> want, got;
    cpu.Model::forward_verify(vb, rows, want);
    gpu.forward_verify(vb, rows, got);
    ASSERT_EQ(got.size(), want.size());
    size_t row = 0;
    for (size_t s = 0; s < sp.size(); ++s, row += size_t(k) + 1) {
      int j = 0;
      for (int m = 0; m <= k; ++m) {
        const RowSample& w = want[row + size_t(m)];
        const RowSample& g = got[row + size_t(m)];
        ASSERT_TRUE(w.error.empty() && g.error.empty()) << w.error << g.error;
        ++compared;
        mismatches += g.result.token != w.result.token || g.accepted != w.accepted;
        if (m < k) {
          EXPECT_EQ(w.accepted, w.result.token == drafts[s][size_t(m)]);
        } else {
          EXPECT_FALSE(w.accepted);
        }
        if (sp[s].logprobs >= 0 && g.result.token == w.result.token) {
          EXPECT_NEAR(g.result.logprob, w.result.logprob, 1e-3) << "step " << step << " seq " << s << " row " << m;
        }
      }
      // The CPU's acceptance decides how both continue (teacher forcing).
      while (j < k && want[row + size_t(j)].accepted) ++j;
      accepted += j;
      for (int m = 0; m < j; ++m) out[s].push_back(drafts[s][size_t(m)]);
      last[s] = want[row + size_t(j)].result.token;
      out[s].push_back(last[s]);
      cached[s] += j + 1;
    }
  }
  EXPECT_LE(mismatches, 2) << "of " << compared << " rows";
  EXPECT_GT(accepted, 10) << "the full-q rows should accept often";
}

}  // namespace
}  // namespace ignis

namespace ignis {
namespace {

// Greedy verification steps (every sequence [last token, d1 .. dk] with all its logits) run in a CUDA graph
// per (batch bucket, 1 + k), judged on the device (CudaModel::forward_verify): the same tokens and
// acceptances as the eager model, for k = 1, 3 (decode-tile attention) and 15 (prefill-tile attention),
// and one graph captured per (bucket, k).
TEST(GpuSpec, GreedyVerificationGraphsMatchEager) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = wide_head_config();
  const int V = cfg.vocab_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 6);
  cuda::CudaModelOptions o = bf16_options(128);
  cuda::CudaModel graphed(cfg, ws, o);
  o.cuda_graphs = false;
  cuda::CudaModel eager(cfg, ws, o);
  graphed.init_kv_cache(8 * bps, 16);
  eager.init_kv_cache(8 * bps, 16);
  std::mt19937_64 rng(9);
  const SamplingParams greedy;  // temperature 0
  int graphs_before = graphed.num_graphs();
  for (int k : {1, 3, 15}) {
    for (int nseq : {1, 3, 5}) {
      ForwardBatch pre;  // the sequences' context, the same on both models
      for (int s = 0; s < nseq; ++s) {
        BatchSeq q;
        q.num_tokens = 20 + 7 * s;
        for (int j = 0; j < bps; ++j) q.block_table.push_back(s * bps + j);
        pre.seqs.push_back(q);
        for (int t = 0; t < q.num_tokens; ++t) pre.tokens.push_back(int32_t(rng() % uint64_t(V)));
      }
      std::vector<float> ignored;
      eager.forward(pre, ignored);
      graphed.forward(pre, ignored);
      ForwardBatch b;
      std::vector<RowSampling> rows;
      for (int s = 0; s < nseq; ++s) {
        BatchSeq q;
        q.num_cached = 20 + 7 * s;  // the context above
        q.num_tokens = 1 + k;
        q.num_draft = k;
        q.all_logits = true;
        for (int j = 0; j < bps; ++j) q.block_table.push_back(s * bps + j);
        b.seqs.push_back(q);
        for (int t = 0; t <= k; ++t) {
          b.tokens.push_back(int32_t(rng() % uint64_t(V)));
          RowSampling r;
          r.params = &greedy;
          r.draft_token = t < k ? int32_t(rng() % uint64_t(V)) : -1;
          rows.push_back(r);
        }
      }
      // make some proposals right: the eager model's argmax of the row
      std::vector<RowSample> ref, got;
      eager.forward_verify(b, rows, ref);
      for (size_t i = 0; i < rows.size(); i += 2)
        if (rows[i].draft_token >= 0) rows[i].draft_token = ref[i].result.token;
      eager.forward_verify(b, rows, ref);
      graphed.forward_verify(b, rows, got);  // first use of the bucket: eager run + capture
      graphed.forward_verify(b, rows, got);  // replay
      ASSERT_EQ(got.size(), ref.size());
      int accepted = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].result.token, ref[i].result.token) << "k " << k << " seqs " << nseq << " row " << i;
        EXPECT_EQ(got[i].accepted, ref[i].accepted) << "k " << k << " seqs " << nseq << " row " << i;
        accepted += got[i].accepted;
      }
      EXPECT_GT(accepted, 0) << "k " << k;
    }
  }
  // buckets 1, 4, 8 for each k: 9 graphs
  EXPECT_EQ(graphed.num_graphs() - graphs_before, 9);
  EXPECT_EQ(eager.num_graphs(), 0);
}

// Batch invariance (CudaModelOptions::batch_invariant): the logits of a verification pass of 1 + k tokens
// per sequence are the same bits as decoding those tokens one step at a time, for k = 3, 8, 15 (one and
// several attention decode tiles per sequence), 1 and 3 sequences, contexts that cross the 64-key splits,
// the decode model on CUDA graphs and the verifying one eager (graphs off) and graphed. This is what
// makes greedy speculative decoding on the GPU give the output of decoding without it.
TEST(GpuSpec, BatchInvariantVerificationEqualsDecode) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = wide_head_config();
  const int V = cfg.vocab_size;
  WeightStore ws = make_dummy_weights(cfg, 8);
  InvariantModels mods(cfg, ws);
  std::mt19937_64 rng(11);
  int compared = 0;
  for (int k : {3, 8, 15})
    for (int nseq : {1, 3}) {
      std::vector<int> ctx;
      for (int s = 0; s < nseq; ++s) ctx.push_back(50 + 41 * s + k);  // 53 .. 147: the verified tokens cross a 64-key split
      const ForwardBatch pre = invariant_prefill(ctx, V, rng);
      std::vector<std::vector<int32_t>> toks(static_cast<size_t>(nseq));
      for (auto& tv : toks)
        for (int t = 0; t <= k; ++t) tv.push_back(int32_t(rng() % uint64_t(V)));
      std::vector<float> ignored, step;
      // decode: one token per sequence and step; want[s][t] = its logits
      mods.dec.forward(pre, ignored);
      std::vector<std::vector<std::vector<float>>> want(size_t(nseq), std::vector<std::vector<float>>(size_t(k + 1)));
      for (int t = 0; t <= k; ++t) {
        ForwardBatch b;
        for (int s = 0; s < nseq; ++s) {
          b.seqs.push_back(invariant_seq(s, ctx[size_t(s)] + t, 1));
          b.tokens.push_back(toks[size_t(s)][size_t(t)]);
        }
        mods.dec.forward(b, step);
        ASSERT_EQ(step.size(), size_t(nseq) * V);
        for (int s = 0; s < nseq; ++s)
          want[size_t(s)][size_t(t)].assign(step.begin() + size_t(s) * V, step.begin() + size_t(s + 1) * V);
      }
      for (cuda::CudaModel* m : {&mods.graphed, &mods.eager}) {
        m->forward(pre, ignored);
        ForwardBatch b;
        for (int s = 0; s < nseq; ++s) {
          BatchSeq q = invariant_seq(s, ctx[size_t(s)], 1 + k);
          q.num_draft = k;
          q.all_logits = true;
          b.seqs.push_back(q);
          b.tokens.insert(b.tokens.end(), toks[size_t(s)].begin(), toks[size_t(s)].end());
        }
        for (int rep = 0; rep < 3; ++rep) {  // graphed: eager run, capture, replay
          m->forward(b, step);
          ASSERT_EQ(step.size(), size_t(nseq) * (k + 1) * V);
          for (int s = 0; s < nseq; ++s)
            for (int t = 0; t <= k; ++t) {
              const float* got = step.data() + (size_t(s) * (k + 1) + t) * V;
              EXPECT_EQ(std::memcmp(got, want[size_t(s)][size_t(t)].data(), size_t(V) * sizeof(float)), 0)
                  << (m == &mods.eager ? "eager" : "graphed") << " k " << k << " seqs " << nseq << " seq " << s
                  << " token " << t << ": logit 0 " << got[0] << " vs " << want[size_t(s)][size_t(t)][0];
              ++compared;
            }
        }
      }
    }
  EXPECT_EQ(compared, 2 * 3 * (4 + 9 + 16) * (1 + 3));
}

// Batch invariance for token trees (CudaModelOptions::batch_invariant, PagedAttentionArgs::tree_path): the
// logits of the nodes on a root-to-leaf path of a verified tree are the same bits as decoding that path one
// token per step, for trees of 12 and 40 nodes (random parents, so the path's nodes sit at scattered KV
// slots), 1, 2 and 5 sequences (passes of up to 200 tokens: the projections in 64-row chunks past
// gemv_mma's 64), contexts across the 64-key splits, graphed and eager verification.
TEST(GpuSpec, BatchInvariantTreeEqualsDecode) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = wide_head_config();
  const int V = cfg.vocab_size;
  WeightStore ws = make_dummy_weights(cfg, 12);
  InvariantModels mods(cfg, ws);
  std::mt19937_64 rng(13);
  int compared = 0;
  for (int n : {12, 40})
    for (int nseq : {1, 2, 5}) {
      std::vector<int> ctx, leaf;
      std::vector<std::vector<int32_t>> parent(static_cast<size_t>(nseq)), toks(static_cast<size_t>(nseq));
      for (int s = 0; s < nseq; ++s) ctx.push_back(58 + 23 * s);
      const ForwardBatch pre = invariant_prefill(ctx, V, rng);
      for (int s = 0; s < nseq; ++s) {
        auto& par = parent[size_t(s)];
        par.push_back(-1);
        for (int i = 1; i < n; ++i) par.push_back(int32_t(i == 1 ? 0 : rng() % uint64_t(i)));
        for (int i = 0; i < n; ++i) toks[size_t(s)].push_back(int32_t(rng() % uint64_t(V)));
        leaf.push_back(n - 1);
      }
      // the root-to-leaf path of each sequence's last node
      std::vector<std::vector<int>> path(static_cast<size_t>(nseq));
      for (int s = 0; s < nseq; ++s) {
        for (int a = leaf[size_t(s)]; a >= 0; a = parent[size_t(s)][size_t(a)]) path[size_t(s)].push_back(a);
        std::reverse(path[size_t(s)].begin(), path[size_t(s)].end());
      }
      std::vector<float> ignored, step;
      mods.dec.forward(pre, ignored);
      // decode the paths (sequences of unequal depth: each step takes those with a token left)
      std::vector<std::vector<std::vector<float>>> want(static_cast<size_t>(nseq));
      size_t depth = 0;
      for (auto& pth : path) depth = std::max(depth, pth.size());
      for (size_t d = 0; d < depth; ++d) {
        ForwardBatch b;
        std::vector<int> who;
        for (int s = 0; s < nseq; ++s) {
          if (d >= path[size_t(s)].size()) continue;
          b.seqs.push_back(invariant_seq(s, ctx[size_t(s)] + int(d), 1));
          b.tokens.push_back(toks[size_t(s)][size_t(path[size_t(s)][d])]);
          who.push_back(s);
        }
        mods.dec.forward(b, step);
        ASSERT_EQ(step.size(), who.size() * V);
        for (size_t i = 0; i < who.size(); ++i)
          want[size_t(who[i])].emplace_back(step.begin() + i * V, step.begin() + (i + 1) * V);
      }
      for (cuda::CudaModel* m : {&mods.graphed, &mods.eager}) {
        m->forward(pre, ignored);
        ForwardBatch b;
        for (int s = 0; s < nseq; ++s) {
          BatchSeq q = invariant_seq(s, ctx[size_t(s)], n);
          q.num_draft = n - 1;
          q.all_logits = true;
          q.tree_parent = parent[size_t(s)];
          b.seqs.push_back(q);
          b.tokens.insert(b.tokens.end(), toks[size_t(s)].begin(), toks[size_t(s)].end());
        }
        for (int rep = 0; rep < 3; ++rep) {  // graphed: eager run, capture, replay
          m->forward(b, step);
          ASSERT_EQ(step.size(), size_t(nseq) * n * V);
          for (int s = 0; s < nseq; ++s)
            for (size_t d = 0; d < path[size_t(s)].size(); ++d) {
              const float* got = step.data() + (size_t(s) * n + size_t(path[size_t(s)][d])) * V;
              EXPECT_EQ(std::memcmp(got, want[size_t(s)][d].data(), size_t(V) * sizeof(float)), 0)
                  << (m == &mods.eager ? "eager" : "graphed") << " n " << n << " seqs " << nseq << " seq " << s
                  << " depth " << d << " (node " << path[size_t(s)][d] << "): logit 0 " << got[0] << " vs "
                  << want[size_t(s)][d][0];
              ++compared;
            }
        }
      }
    }
  EXPECT_GT(compared, 2 * 3 * 4 * 2);
}

// CudaModelOptions::invariant_prefill: a prompt prefilled in one pass and the same prompt prefilled in two
// chunks, each in a pass with other sequences (a decode row, another whole prompt: a pass of 363 tokens, past
// kInvariantMaxTokens), give the same bits: the logits of both chunks' last tokens, then those of four decode
// steps, the second model's with two other sequences in the pass. Without the flag a 363-token pass takes
// cuBLASLt and prefill tiles, whose sums change with the pass.
TEST(GpuSpec, InvariantPrefillChunksEqualOnePass) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = wide_head_config();
  const int V = cfg.vocab_size;
  WeightStore ws = make_dummy_weights(cfg, 14);
  cuda::CudaModelOptions o = bf16_options(512);
  o.batch_invariant = true;
  o.invariant_prefill = true;
  cuda::CudaModel alone(cfg, ws, o), mixed(cfg, ws, o);
  for (cuda::CudaModel* m : {&alone, &mixed}) m->init_kv_cache(8 * kInvBlocks, 16);
  std::mt19937_64 rng(15);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(int32_t(rng() % uint64_t(V)));
    return t;
  };
  const int P = 150, c1 = 37;
  const std::vector<int32_t> prompt = random_tokens(P), q = random_tokens(200), r = random_tokens(250),
                             dec = random_tokens(4), qdec = random_tokens(5), rdec = random_tokens(4);
  auto row = [&](const std::vector<float>& l, size_t i) { return std::vector<float>(l.begin() + i * V, l.begin() + (i + 1) * V); };
  auto same = [&](const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
        << what << ": logit 0 " << a[0] << " vs " << b[0];
  };
  // alone: the prompt in one pass (all logits), then four decode steps
  std::vector<float> want_prompt, step;
  ForwardBatch a;
  BatchSeq s0 = invariant_seq(0, 0, P);
  s0.all_logits = true;
  a.seqs.push_back(s0);
  a.tokens = prompt;
  alone.forward(a, want_prompt);
  ASSERT_EQ(want_prompt.size(), size_t(P) * V);
  std::vector<std::vector<float>> want_dec;
  for (int d = 0; d < 4; ++d) {
    ForwardBatch b;
    b.seqs.push_back(invariant_seq(0, P + d, 1));
    b.tokens = {dec[size_t(d)]};
    alone.forward(b, step);
    want_dec.push_back(step);
  }
  // mixed: q prefilled alone; then [q decodes 1, prompt[0, c1)]; then [prompt[c1, P), r whole] (363 tokens)
  ForwardBatch b;
  b.seqs.push_back(invariant_seq(1, 0, 200));
  b.tokens = q;
  mixed.forward(b, step);
  b = ForwardBatch{};
  b.seqs.push_back(invariant_seq(1, 200, 1));
  b.tokens.push_back(qdec[0]);
  b.seqs.push_back(invariant_seq(0, 0, c1));
  b.tokens.insert(b.tokens.end(), prompt.begin(), prompt.begin() + c1);
  mixed.forward(b, step);
  ASSERT_EQ(step.size(), size_t(2) * V);
  same(row(step, 1), row(want_prompt, c1 - 1), "first chunk's last token");
  b = ForwardBatch{};
  b.seqs.push_back(invariant_seq(0, c1, P - c1));
  b.tokens.insert(b.tokens.end(), prompt.begin() + c1, prompt.end());
  b.seqs.push_back(invariant_seq(2, 0, 250));
  b.tokens.insert(b.tokens.end(), r.begin(), r.end());
  mixed.forward(b, step);
  ASSERT_EQ(step.size(), size_t(2) * V);
  same(row(step, 0), row(want_prompt, P - 1), "second chunk's last token (a pass of 363 tokens)");
  for (int d = 0; d < 4; ++d) {  // three sequences per decode step, the prompt's in the middle
    b = ForwardBatch{};
    b.seqs.push_back(invariant_seq(1, 201 + d, 1));
    b.tokens.push_back(qdec[size_t(d + 1)]);
    b.seqs.push_back(invariant_seq(0, P + d, 1));
    b.tokens.push_back(dec[size_t(d)]);
    b.seqs.push_back(invariant_seq(2, 250 + d, 1));
    b.tokens.push_back(rdec[size_t(d)]);
    mixed.forward(b, step);
    ASSERT_EQ(step.size(), size_t(3) * V);
    same(row(step, 1), want_dec[size_t(d)], "decode step " + std::to_string(d));
  }
}

}  // namespace
}  // namespace ignis
