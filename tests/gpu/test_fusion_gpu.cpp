// The CUDA backend's feature fusion (ModelConfig::fusion: an EAGLE draft head, x = fc(concat(embed,
// feature)) (+ bias), layer 0 without its input norm, no final norm) against CpuModel's (F32, the same
// dummy weights and features): prefill chains with a prefill cut over passes (the feature rows of each
// piece), decode and verification chains, a token tree (tree_parent), the hidden-state sink (the
// predicted features), the variant with both norms kept and no bias, bf16 against the CPU within bf16
// tolerance (as test_model.cpp: 5e-2); bf16 decode and verification
// steps replayed in CUDA graphs with new features every step against an eager model; a fusion batch
// without features is an Error and the model keeps working after it.
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/cuda_model.h"
#include "gpu_model_util.h"
#include "gpu_test_util.h"
#include "model/cpu_model.h"
#include "model/weights.h"

namespace ignis {
namespace {

using test::seq_at;

ModelConfig fusion_llama(int head_dim, bool norms, bool bias) {
  ModelConfig c = test::tiny_llama(head_dim);
  c.fusion.enabled = true;
  c.fusion.fc_bias = bias;
  c.fusion.first_input_norm = norms;
  c.fusion.final_norm = norms;
  return c;
}

// A batch under construction whose feature rows stay alive with it (BatchSeq::features points into them).
struct FusedBatch {
  ForwardBatch b;
  std::vector<std::vector<float>> features;  // per sequence (num_tokens, hidden)

  void add(BatchSeq s, std::mt19937_64& rng, int V, int H) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int t = 0; t < s.num_tokens; ++t) b.tokens.push_back(int32_t(rng() % uint64_t(V)));
    features.emplace_back(size_t(s.num_tokens) * H);
    for (float& f : features.back()) f = nd(rng);
    b.seqs.push_back(std::move(s));
  }
  // Sets the pointers (after every add: the vectors of `features` may have moved).
  ForwardBatch& done() {
    for (size_t i = 0; i < b.seqs.size(); ++i) b.seqs[i].features = features[i].data();
    return b;
  }
};

void expect_same(CpuModel& cpu, cuda::CudaModel& gpu, ForwardBatch& b, std::vector<float>& want_h,
                 std::vector<float>& got_h, int H, const std::string& what, double tol = 1e-4) {
  std::vector<float> want, got;
  cpu.forward(b, want);
  gpu.forward(b, got);
  ASSERT_EQ(got.size(), size_t(b.num_logit_rows()) * size_t(cpu.config().vocab_size)) << what;
  ASSERT_EQ(got_h.size(), size_t(b.num_logit_rows()) * H) << what;
  test::rel_error(got, want, what + " logits", tol);
  test::rel_error(got_h, want_h, what + " predicted features (hidden sink)", tol);
}

// Chains (prefills, one cut over three passes; decodes; a verification chain), a tree, and the hidden
// sink, F32 against the CPU reference, without and with the norms.
void run_chains_and_tree(bool norms, bool bias) {
  const ModelConfig cfg = fusion_llama(64, norms, bias);
  const int V = cfg.vocab_size, H = cfg.hidden_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, norms ? 51 : 52);
  ASSERT_TRUE(ws.has("model.fc.weight"));
  EXPECT_EQ(ws.has("model.norm.weight"), norms);
  EXPECT_EQ(ws.has("model.layers.0.input_layernorm.weight"), norms);
  CpuModel cpu(cfg, ws);
  cuda::CudaModel gpu(cfg, ws, test::model_options(DType::F32, 8, 64));  // 64 tokens per pass: a 100-token prefill spans 2+
  cpu.init_kv_cache(8 * bps, 16);
  gpu.init_kv_cache(8 * bps, 16);
  std::vector<float> want_h, got_h;
  ASSERT_TRUE(cpu.set_hidden_state_sink(&want_h));
  ASSERT_TRUE(gpu.set_hidden_state_sink(&got_h));
  std::mt19937_64 rng(norms ? 61 : 62);
  const std::string tag = norms ? " (norms kept)" : "";

  // prefill: seq 0 every row's logits (a draft's chain rows), seq 1 100 tokens over several passes
  const std::vector<int> ctx = {21, 100, 9};
  FusedBatch pre;
  for (size_t s = 0; s < ctx.size(); ++s) {
    BatchSeq q = seq_at(int(s), 0, ctx[s], bps);
    q.all_logits = s != 2;
    pre.add(std::move(q), rng, V, H);
  }
  expect_same(cpu, gpu, pre.done(), want_h, got_h, H, "prefill" + tag);

  // decode step of every sequence, then a 4-token chain on seq 0 beside decodes
  FusedBatch dec;
  for (size_t s = 0; s < ctx.size(); ++s) dec.add(seq_at(int(s), ctx[s], 1, bps), rng, V, H);
  expect_same(cpu, gpu, dec.done(), want_h, got_h, H, "decode" + tag);
  FusedBatch chain;
  {
    BatchSeq c = seq_at(0, ctx[0] + 1, 4, bps);
    c.all_logits = true;
    chain.add(std::move(c), rng, V, H);
    chain.add(seq_at(1, ctx[1] + 1, 1, bps), rng, V, H);
    chain.add(seq_at(2, ctx[2] + 1, 1, bps), rng, V, H);
  }
  expect_same(cpu, gpu, chain.done(), want_h, got_h, H, "chain" + tag);

  // a 7-node tree on seq 2 (its K/V at slots num_cached + i), seq 1 a decode beside it
  FusedBatch tree;
  {
    BatchSeq t = seq_at(2, ctx[2] + 2, 7, bps);
    t.all_logits = true;
    t.tree_parent = {-1, 0, 0, 1, 1, 2, 5};
    tree.add(std::move(t), rng, V, H);
    tree.add(seq_at(1, ctx[1] + 2, 1, bps), rng, V, H);
  }
  expect_same(cpu, gpu, tree.done(), want_h, got_h, H, "tree" + tag);
}

TEST(GpuFusion, ChainsAndTreeMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  run_chains_and_tree(/*norms=*/false, /*bias=*/true);  // EAGLE-1/2 heads
}

TEST(GpuFusion, ChainsAndTreeWithBothNormsAndNoBiasMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  run_chains_and_tree(/*norms=*/true, /*bias=*/false);
}

// bf16 compute (the fused rows and the fc output rounded to bf16) against the fp32 CPU reference: a
// prefill and a decode step, within bf16 tolerance.
TEST(GpuFusion, Bf16MatchesTheCpuReferenceWithinBf16Tolerance) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = fusion_llama(128, false, true);
  const int V = cfg.vocab_size, H = cfg.hidden_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 55);
  CpuModel cpu(cfg, ws);
  cuda::CudaModel gpu(cfg, ws, test::model_options(DType::BF16, 8, 256));
  cpu.init_kv_cache(4 * bps, 16);
  gpu.init_kv_cache(4 * bps, 16);
  std::vector<float> want_h, got_h;
  ASSERT_TRUE(cpu.set_hidden_state_sink(&want_h));
  ASSERT_TRUE(gpu.set_hidden_state_sink(&got_h));
  std::mt19937_64 rng(65);
  FusedBatch pre;
  for (int s = 0; s < 2; ++s) {
    BatchSeq q = seq_at(s, 0, 17 + 5 * s, bps);
    q.all_logits = true;
    pre.add(std::move(q), rng, V, H);
  }
  expect_same(cpu, gpu, pre.done(), want_h, got_h, H, "bf16 prefill", 5e-2);
  FusedBatch dec;
  for (int s = 0; s < 2; ++s) dec.add(seq_at(s, 17 + 5 * s, 1, bps), rng, V, H);
  expect_same(cpu, gpu, dec.done(), want_h, got_h, H, "bf16 decode", 5e-2);
}

// A fusion batch with a sequence without features: an Error naming it, nothing run; the next batch works.
TEST(GpuFusion, MissingFeaturesIsAnErrorAndTheModelKeepsWorking) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = fusion_llama(64, false, true);
  const int V = cfg.vocab_size, H = cfg.hidden_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 53);
  CpuModel cpu(cfg, ws);
  cuda::CudaModel gpu(cfg, ws, test::model_options(DType::F32, 8, 256));
  cpu.init_kv_cache(4 * bps, 16);
  gpu.init_kv_cache(4 * bps, 16);
  std::mt19937_64 rng(63);
  FusedBatch bad;
  bad.add(seq_at(0, 0, 5, bps), rng, V, H);
  bad.add(seq_at(1, 0, 3, bps), rng, V, H);
  ForwardBatch& b = bad.done();
  b.seqs[1].features = nullptr;
  std::vector<float> got;
  try {
    gpu.forward(b, got);
    ADD_FAILURE() << "a fusion batch without features ran";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("sequence 1 has no features"), std::string::npos) << msg;
    EXPECT_NE(msg.find("BatchSeq::features"), std::string::npos) << msg;
  }
  std::vector<RowSample> out;
  const SamplingParams greedy;
  std::vector<RowSampling> rs(size_t(b.num_logit_rows()));
  for (auto& r : rs) r.params = &greedy;
  EXPECT_THROW(gpu.forward_sample(b, rs, out), Error);
  b.seqs[1].features = bad.features[1].data();  // the same batch, whole: as the CPU reference
  std::vector<float> want_h, got_h;
  ASSERT_TRUE(cpu.set_hidden_state_sink(&want_h));
  ASSERT_TRUE(gpu.set_hidden_state_sink(&got_h));
  expect_same(cpu, gpu, b, want_h, got_h, H, "after the error");
}

// bf16 (head_dim 128): decode and 5-token verification steps of 3 sequences (bucket 4) replayed in
// CUDA graphs, new features every step (staged into the fixed device buffer before the launch), report
// the eager model's logits and predicted features.
TEST(GpuFusion, GraphedStepsWithNewFeaturesMatchEager) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = fusion_llama(128, false, true);
  const int V = cfg.vocab_size, H = cfg.hidden_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 54);
  cuda::CudaModelOptions o = test::model_options(DType::BF16, 8, 256);
  cuda::CudaModel graphed(cfg, ws, o);
  o.cuda_graphs = false;
  cuda::CudaModel eager(cfg, ws, o);
  graphed.init_kv_cache(8 * bps, 16);
  eager.init_kv_cache(8 * bps, 16);
  std::vector<float> gh, eh, gl, el;
  ASSERT_TRUE(graphed.set_hidden_state_sink(&gh));
  ASSERT_TRUE(eager.set_hidden_state_sink(&eh));
  std::mt19937_64 rng(64);
  const int nseq = 3;
  std::vector<int> cached(nseq);
  FusedBatch pre;
  for (int s = 0; s < nseq; ++s) {
    cached[size_t(s)] = 20 + 7 * s;
    pre.add(seq_at(s, 0, cached[size_t(s)], bps), rng, V, H);
  }
  graphed.forward(pre.done(), gl);
  eager.forward(pre.b, el);
  test::rel_error(gh, eh, "bf16 prefill predicted features", 2e-2);
  const int graphs_before = graphed.num_graphs();
  for (int per : {1, 5}) {
    for (int step = 0; step < 3; ++step) {  // step 0 captures, steps 1 and 2 replay with new features
      FusedBatch b;
      for (int s = 0; s < nseq; ++s) {
        BatchSeq q = seq_at(s, cached[size_t(s)], per, bps);
        q.all_logits = per > 1;
        b.add(std::move(q), rng, V, H);
      }
      const std::string what = "per " + std::to_string(per) + " step " + std::to_string(step);
      graphed.forward(b.done(), gl);
      eager.forward(b.b, el);
      test::rel_error(gl, el, what + " logits", 2e-2);
      ASSERT_EQ(gh.size(), size_t(b.b.num_logit_rows()) * H) << what;
      test::rel_error(gh, eh, what + " predicted features", 2e-2);
      for (int s = 0; s < nseq; ++s) cached[size_t(s)] += per;
    }
  }
  EXPECT_GE(graphed.num_graphs(), graphs_before + 2) << "a decode and a verification graph";
  EXPECT_EQ(eager.num_graphs(), 0);
}

}  // namespace
}  // namespace ignis
