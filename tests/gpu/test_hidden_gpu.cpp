// The CUDA backend's hidden-state sink (Model::set_hidden_state_sink: the logit rows' final-normed
// hidden states, the lm_head's input): against the CPU reference (F32, same dummy weights) for a
// mixed batch of prefills, decodes and a token tree, the same through the Greedy and Sample paths
// (forward_sample), for batches cut into several passes with more logit rows than max_logit_rows;
// bf16 decode and verification steps replayed in CUDA graphs against an eager model; no writes once
// the sink is cleared. Then Medusa through the engine on a CudaModel, its heads on the device
// (runtime load_medusa_proposer): greedy output identical to no speculation.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "../runtime/engine_test_util.h"
#include "../spec/medusa_test_util.h"
#include "cuda/cuda_model.h"
#include "gpu_model_util.h"
#include "gpu_test_util.h"
#include "model/cpu_model.h"
#include "model/weights.h"
#include "runtime/draft_loader.h"
#include "runtime/engine.h"
#include "spec/medusa.h"

namespace ignis {
namespace {

using test::seq_at;

namespace fs = std::filesystem;

void random_tokens(std::mt19937_64& rng, int V, int n, std::vector<int32_t>& out) {
  for (int t = 0; t < n; ++t) out.push_back(int32_t(rng() % uint64_t(V)));
}

// The CPU reference and a CUDA model (F32, the same dummy weights of a tiny Llama), each with a
// hidden-state sink and a KV pool of 8 x 16 blocks of 16 tokens.
struct SinkPair {
  ModelConfig cfg = test::tiny_llama(64);
  WeightStore ws;
  CpuModel cpu;
  cuda::CudaModel gpu;
  std::vector<float> want_h, got_h;
  static cuda::CudaModelOptions options(int max_batch, int max_tokens, int max_logit_rows) {
    cuda::CudaModelOptions o = test::model_options(DType::F32, max_batch, max_tokens);
    if (max_logit_rows > 0) o.max_logit_rows = max_logit_rows;
    return o;
  }
  SinkPair(uint64_t seed, int max_batch, int max_tokens, int max_logit_rows = 0)
      : ws(make_dummy_weights(cfg, seed)), cpu(cfg, ws), gpu(cfg, ws, options(max_batch, max_tokens, max_logit_rows)) {
    cpu.init_kv_cache(8 * 16, 16);
    gpu.init_kv_cache(8 * 16, 16);
    EXPECT_TRUE(cpu.set_hidden_state_sink(&want_h));
    EXPECT_TRUE(gpu.set_hidden_state_sink(&got_h));
  }
};

TEST(GpuHidden, MixedBatchMatchesTheCpuReferenceOnEveryPath) {
  IGNIS_SKIP_WITHOUT_GPU();
  SinkPair m(31, 8, 256);
  CpuModel& cpu = m.cpu;
  cuda::CudaModel& gpu = m.gpu;
  std::vector<float>& want_h = m.want_h;
  std::vector<float>& got_h = m.got_h;
  std::vector<float> want, got;
  const int V = m.cfg.vocab_size, H = m.cfg.hidden_size, bps = 16;
  std::mt19937_64 rng(41);

  // prefill: seq 0 with every row's logits, the others their last row
  const std::vector<int> ctx = {30, 17, 50, 9};
  ForwardBatch pre;
  for (size_t s = 0; s < ctx.size(); ++s) {
    pre.seqs.push_back(seq_at(int(s), 0, ctx[s], bps));
    pre.seqs.back().all_logits = s == 0;
    random_tokens(rng, V, ctx[s], pre.tokens);
  }
  cpu.forward(pre, want);
  gpu.forward(pre, got);
  ASSERT_EQ(got_h.size(), size_t(pre.num_logit_rows()) * H);
  test::rel_error(got_h, want_h, "prefill hidden", 1e-4);
  test::rel_error(got, want, "prefill logits", 1e-4);

  // mixed: seq 0 a 7-node tree, 1 and 3 decodes, 2 a 4-token verification chain, 4 a new prefill
  ForwardBatch b;
  {
    BatchSeq t = seq_at(0, ctx[0], 7, bps);
    t.all_logits = true;
    t.tree_parent = {-1, 0, 0, 1, 1, 2, 5};
    b.seqs.push_back(t);
    random_tokens(rng, V, 7, b.tokens);
    b.seqs.push_back(seq_at(1, ctx[1], 1, bps));
    random_tokens(rng, V, 1, b.tokens);
    BatchSeq c = seq_at(2, ctx[2], 4, bps);
    c.all_logits = true;
    b.seqs.push_back(c);
    random_tokens(rng, V, 4, b.tokens);
    b.seqs.push_back(seq_at(3, ctx[3], 1, bps));
    random_tokens(rng, V, 1, b.tokens);
    b.seqs.push_back(seq_at(4, 0, 23, bps));
    random_tokens(rng, V, 23, b.tokens);
  }
  const size_t rows = size_t(b.num_logit_rows());
  ASSERT_EQ(rows, 7u + 1 + 4 + 1 + 1);
  cpu.forward(b, want);
  gpu.forward(b, got);
  ASSERT_EQ(got_h.size(), rows * H);
  test::rel_error(got_h, want_h, "mixed step hidden (forward)", 1e-4);
  test::rel_error(got, want, "mixed step logits", 1e-4);
  const std::vector<float> fwd_h = got_h;

  // the same step again (the same K/V rewritten) through the device sampler paths
  const SamplingParams greedy;
  SamplingParams sampled;
  sampled.temperature = 0.8f;
  sampled.top_k = 20;
  std::vector<RowSampling> rs(rows);
  std::vector<RowSample> out;
  for (auto& r : rs) r.params = &greedy;
  got_h.clear();
  gpu.forward_sample(b, rs, out);  // plain greedy: Mode::Greedy
  ASSERT_EQ(out.size(), rows);
  test::rel_error(got_h, fwd_h, "mixed step hidden (greedy)", 1e-6);
  got_h.clear();
  gpu.forward_verify(b, rs, out);  // greedy verification: Mode::Greedy
  test::rel_error(got_h, fwd_h, "mixed step hidden (verify)", 1e-6);
  for (size_t i = 0; i < rows; ++i) rs[i].params = &sampled, rs[i].u = double(i) / double(rows);
  got_h.clear();
  gpu.forward_sample(b, rs, out);  // device sampler: Mode::Sample
  ASSERT_EQ(out.size(), rows);
  for (auto& r : out) EXPECT_TRUE(r.error.empty()) << r.error;
  test::rel_error(got_h, fwd_h, "mixed step hidden (sampled)", 1e-6);

  // cleared: later passes leave the vector alone
  ASSERT_TRUE(gpu.set_hidden_state_sink(nullptr));
  got_h.assign(3, 7.0f);
  gpu.forward(b, got);
  EXPECT_EQ(got_h, (std::vector<float>{7.0f, 7.0f, 7.0f}));
}

// More logit rows than max_logit_rows (the extra lm_head GEMMs) and a batch cut into several passes
// (max_num_tokens, max_batch_size), F32 against the CPU reference.
TEST(GpuHidden, ManyLogitRowsAndPassesMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  SinkPair m(32, 4, 64, 4);
  CpuModel& cpu = m.cpu;
  cuda::CudaModel& gpu = m.gpu;
  std::vector<float>& want_h = m.want_h;
  std::vector<float>& got_h = m.got_h;
  std::vector<float> want, got;
  const int V = m.cfg.vocab_size, H = m.cfg.hidden_size, bps = 16;
  std::mt19937_64 rng(42);
  // seq 0: 21 rows of logits; 1: a 100-token prefill over two passes (last row); 2: 50 rows
  // beside it; 3..5: one row each (the sequence cap cuts another pass)
  ForwardBatch b;
  const std::vector<int> len = {21, 100, 50, 5, 6, 7};
  for (size_t s = 0; s < len.size(); ++s) {
    b.seqs.push_back(seq_at(int(s), 0, len[s], bps));
    b.seqs.back().all_logits = s == 0 || s == 2;
    random_tokens(rng, V, len[s], b.tokens);
  }
  const size_t rows = size_t(b.num_logit_rows());
  ASSERT_EQ(rows, 21u + 1 + 50 + 3);
  cpu.forward(b, want);
  gpu.forward(b, got);
  ASSERT_EQ(got_h.size(), rows * H);
  test::rel_error(got_h, want_h, "many rows hidden", 1e-4);
  test::rel_error(got, want, "many rows logits", 1e-4);
  // greedy path over the same batch (argmax per extra GEMM)
  const SamplingParams greedy;
  std::vector<RowSampling> rs(rows);
  for (auto& r : rs) r.params = &greedy;
  std::vector<RowSample> out;
  got_h.clear();
  gpu.forward_sample(b, rs, out);
  test::rel_error(got_h, want_h, "many rows hidden (greedy)", 1e-4);
  // a smaller batch after it: decodes of every sequence (two graphed passes of 4 and 2)
  ForwardBatch d;
  for (size_t s = 0; s < len.size(); ++s) d.seqs.push_back(seq_at(int(s), len[s], 1, bps));
  random_tokens(rng, V, int(len.size()), d.tokens);
  cpu.forward(d, want);
  gpu.forward(d, got);
  ASSERT_EQ(got_h.size(), len.size() * H);
  test::rel_error(got_h, want_h, "decode hidden after a large batch", 1e-4);
}

// BatchSeq::all_hidden (every token's hidden state, the last row's logits only): prefill chunks
// beside all_logits and plain ones, one cut over two passes, F32 against the CPU reference; the
// logit rows stay those of a plain chunk.
TEST(GpuHidden, AllHiddenRowsMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  SinkPair m(34, 4, 64, 4);
  CpuModel& cpu = m.cpu;
  cuda::CudaModel& gpu = m.gpu;
  std::vector<float>& want_h = m.want_h;
  std::vector<float>& got_h = m.got_h;
  std::vector<float> want, got;
  const int V = m.cfg.vocab_size, H = m.cfg.hidden_size, bps = 16;
  std::mt19937_64 rng(44);
  // seq 0: all_hidden 30; 1: all_logits 9; 2: plain 20; 3: all_hidden 100 (two passes); 4: a decode-sized 1
  ForwardBatch b;
  const std::vector<int> len = {30, 9, 20, 100, 1};
  for (size_t s = 0; s < len.size(); ++s) {
    b.seqs.push_back(seq_at(int(s), 0, len[s], bps));
    b.seqs.back().all_hidden = s == 0 || s == 3 || s == 4;
    b.seqs.back().all_logits = s == 1;
    random_tokens(rng, V, len[s], b.tokens);
  }
  ASSERT_EQ(b.num_logit_rows(), 1 + 9 + 1 + 1 + 1);
  ASSERT_EQ(b.num_hidden_rows(), 30 + 9 + 1 + 100 + 1);
  cpu.forward(b, want);
  gpu.forward(b, got);
  ASSERT_EQ(want_h.size(), size_t(b.num_hidden_rows()) * H);
  ASSERT_EQ(got_h.size(), want_h.size());
  test::rel_error(got_h, want_h, "all_hidden rows", 1e-4);
  ASSERT_EQ(got.size(), size_t(b.num_logit_rows()) * V);
  test::rel_error(got, want, "all_hidden batch logits", 1e-4);
  const SamplingParams greedy;
  std::vector<RowSampling> rs(size_t(b.num_logit_rows()));
  for (auto& r : rs) r.params = &greedy;
  std::vector<RowSample> out;
  got_h.clear();
  gpu.forward_sample(b, rs, out);
  ASSERT_EQ(out.size(), rs.size());
  test::rel_error(got_h, want_h, "all_hidden rows (greedy)", 1e-4);
}

// bf16 (head_dim 128, the tensor-core kernels): decode steps and 5-token verification steps of 3
// sequences (bucket 4: one padding sequence) replayed in CUDA graphs report the eager model's
// hidden states, through forward (logits) and forward_sample (the in-graph argmax).
TEST(GpuHidden, GraphedStepsMatchEager) {
  IGNIS_SKIP_WITHOUT_GPU();
  const ModelConfig cfg = test::tiny_llama(128);
  const int V = cfg.vocab_size, H = cfg.hidden_size, bps = 16;
  WeightStore ws = make_dummy_weights(cfg, 33);
  cuda::CudaModelOptions o = test::model_options(DType::BF16, 8, 256);
  cuda::CudaModel graphed(cfg, ws, o);
  o.cuda_graphs = false;
  cuda::CudaModel eager(cfg, ws, o);
  graphed.init_kv_cache(8 * bps, 16);
  eager.init_kv_cache(8 * bps, 16);
  std::vector<float> gh, eh, gl, el;
  ASSERT_TRUE(graphed.set_hidden_state_sink(&gh));
  ASSERT_TRUE(eager.set_hidden_state_sink(&eh));
  std::mt19937_64 rng(43);
  const int nseq = 3;
  std::vector<int> cached(nseq);
  ForwardBatch pre;
  for (int s = 0; s < nseq; ++s) {
    cached[size_t(s)] = 20 + 7 * s;
    pre.seqs.push_back(seq_at(s, 0, cached[size_t(s)], bps));
    random_tokens(rng, V, cached[size_t(s)], pre.tokens);
  }
  graphed.forward(pre, gl);
  eager.forward(pre, el);
  test::rel_error(gh, eh, "bf16 prefill hidden", 2e-2);
  const int graphs_before = graphed.num_graphs();
  const SamplingParams greedy;
  for (int per : {1, 5}) {
    for (int step = 0; step < 3; ++step) {  // step 0 captures, steps 1 and 2 replay
      ForwardBatch b;
      for (int s = 0; s < nseq; ++s) {
        b.seqs.push_back(seq_at(s, cached[size_t(s)], per, bps));
        b.seqs.back().all_logits = per > 1;
        random_tokens(rng, V, per, b.tokens);
      }
      const size_t rows = size_t(b.num_logit_rows());
      const std::string what = "per " + std::to_string(per) + " step " + std::to_string(step);
      if (step < 2) {
        graphed.forward(b, gl);
        eager.forward(b, el);
        test::rel_error(gl, el, what + " logits", 2e-2);
      } else {
        std::vector<RowSampling> rs(rows);
        for (auto& r : rs) r.params = &greedy;
        std::vector<RowSample> go, eo;
        graphed.forward_sample(b, rs, go);
        eager.forward_sample(b, rs, eo);
        ASSERT_EQ(go.size(), rows);
        for (size_t i = 0; i < rows; ++i) EXPECT_EQ(go[i].result.token, eo[i].result.token) << what << " row " << i;
      }
      ASSERT_EQ(gh.size(), rows * H) << what;
      test::rel_error(gh, eh, what + " hidden", 2e-2);  // bf16: GEMMs of 3 vs 4 rows
      for (int s = 0; s < nseq; ++s) cached[size_t(s)] += per;
    }
  }
  EXPECT_GE(graphed.num_graphs(), graphs_before + 2) << "a decode and a verification graph";
  EXPECT_EQ(eager.num_graphs(), 0);
}

fs::path tiny_model_dir() {
  const fs::path dir = fs::temp_directory_path() / ("ignis_hidden_gpu_" + std::to_string(::getpid())) / "model";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 128, "hidden_size": 128, "intermediate_size": 256,
  "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
  "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "hidden_act": "silu", "tie_word_embeddings": false, "torch_dtype": "float32",
  "bos_token_id": 1, "eos_token_id": 2
})";
  return dir;
}

// Medusa (random heads near the target's lm_head, as Medusa initializes them) on a tiny F32 CudaModel:
// the engine accepts it (the backend has the sink) and greedy output is that of no speculation.
TEST(GpuHidden, EngineMedusaGreedyIdenticalOnCuda) {
  IGNIS_SKIP_WITHOUT_GPU();
  constexpr uint64_t kSeed = 13;
  const fs::path dir = tiny_model_dir();
  cuda::CudaModelOptions o = test::model_options(DType::F32, 8, 512);
  auto make_engine = [&](bool medusa) {
    EngineConfig cfg;
    cfg.kv_block_size = 16;
    cfg.kv_num_blocks = 128;
    cfg.max_num_tokens = 512;
    cfg.max_batch_size = 8;
    cfg.spec.policy.adaptive = false;
    std::unique_ptr<Proposer> p;
    auto model = cuda::CudaModel::load(dir, LoadFormat::Dummy, kSeed, o);
    if (medusa) {
      auto ref = CpuModel::load(dir, LoadFormat::Dummy, kSeed);  // the same dummy weights: its lm_head
      testing::MedusaHeadsSpec hs;
      hs.hidden = 128, hs.vocab = 128, hs.heads = 3, hs.layers = 1;
      hs.lm_head = ref->lm_head_linear().weight();
      hs.lm_noise = 0.01f;
      const fs::path hd = dir.parent_path() / "heads";
      testing::write_medusa_heads(hd, hs);
      cfg.spec.method = SpecMethod::Medusa;
      // the runtime's loader: beside a CUDA target the heads run on the device
      p = load_medusa_proposer(hd, dir, *model, cfg.spec, cfg.kv_num_blocks, ModelLoadOptions{}, cfg.kv_block_size)
              .proposer;
      EXPECT_STREQ(static_cast<const MedusaProposer&>(*p).runner().where(), "cuda");
    }
    return std::make_unique<Engine>(std::move(model), cfg, nullptr, std::move(p));
  };
  std::vector<std::vector<int32_t>> ps;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 5 + 3 * i; ++j) p.push_back(int32_t(3 + (i * 31 + j * 17) % 120));
    ps.push_back(p);
  }
  const int max_tokens = 40;
  std::vector<std::vector<int32_t>> ref;
  {
    auto e = make_engine(false);
    for (auto& p : ps) ref.push_back(testing::collect(*e->submit(testing::greedy_request(p, max_tokens))).tokens);
  }
  auto e = make_engine(true);
  // one at a time (batch 1), then all at once (mixed prefill + tree steps)
  for (size_t i = 0; i < ps.size(); ++i) {
    testing::Collected c = testing::collect(*e->submit(testing::greedy_request(ps[i], max_tokens)));
    ASSERT_NE(c.finish, FinishReason::Error) << c.error;
    EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i;
  }
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& p : ps) hs.push_back(e->submit(testing::greedy_request(p, max_tokens)));
  for (size_t i = 0; i < hs.size(); ++i) {
    testing::Collected c = testing::collect(*hs[i]);
    ASSERT_NE(c.finish, FinishReason::Error) << c.error;
    EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i << " (batched)";
  }
  EngineStats s = testing::wait_idle(*e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_GT(s.spec_accepted_tokens, 0) << "heads initialized from lm_head accept on a cycling tiny model";
}

}  // namespace
}  // namespace ignis
