// ParallelCpuModel: tensor parallelism (2, 4), pipeline parallelism (2, 3) and both at once give
// the logits of the unsharded CpuModel within 1e-5 (relative to the largest logit; expect_close
// says what fake-quantized schemes may differ by) over prefill, decode, multi-token chunks, a tree
// step and KV compaction, for every tiny test model and every quantized checkpoint format the CPU
// backend loads (FP8 compressed-tensors / ModelOpt / block, AWQ, GPTQ, compressed-tensors int4 /
// int8, --quantization fp8 / int8-wo / int4, FP8 KV cache); sizes that do not fit the model are
// errors; a failing rank ends the step with its error (no hang) and the next step runs normally.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config.h"
#include "model/cpu/parallel.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/parallel_layout.h"
#include "model/parallel_model.h"
#include "model/weights.h"

namespace ignis {
namespace {

namespace fs = std::filesystem;
const fs::path kData = IGNIS_TEST_DATA_DIR;

struct Checkpoint {
  ModelConfig cfg;
  WeightStore ws;
};

Checkpoint load(const fs::path& dir, const std::string& quantization = "") {
  ModelConfig cfg = load_model_config(dir);
  apply_quantization_flag(cfg, quantization);
  WeightStore ws = WeightStore::load(dir, cfg, LoadFormat::Auto, 0);
  return {cfg, std::move(ws)};
}

std::unique_ptr<Model> make(const Checkpoint& c, int tp, int pp, int micro = 0, CpuModelOptions opt = {}) {
  if (tp == 1 && pp == 1) return std::make_unique<CpuModel>(c.cfg, c.ws, opt);
  ParallelOptions po;
  po.tensor_parallel = tp;
  po.pipeline_parallel = pp;
  po.micro_batches = micro;
  po.timeout = std::chrono::seconds(60);
  return std::make_unique<ParallelCpuModel>(c.cfg, c.ws, opt, po);
}

// A scripted run over a paged KV pool: 3 prompts (7, 5, 9 tokens), 3 decode steps, a 3-token
// all_logits chunk beside decodes, a tree step, KV compaction and a decode after it. Returns every
// step's logits.
std::vector<std::vector<float>> script(Model& m) {
  const int V = m.config().vocab_size, bs = 4;
  m.init_kv_cache(48, bs);
  uint32_t rng = 12345;
  auto tok = [&] {
    rng = rng * 1664525u + 1013904223u;
    return int32_t((rng >> 8) % uint32_t(V));
  };
  std::vector<int> len = {7, 5, 9};
  auto table = [&](int s) {
    std::vector<int32_t> t;
    for (int b = 0; b < 16; ++b) t.push_back(s * 16 + b);
    return t;
  };
  std::vector<std::vector<float>> steps;
  auto run = [&](ForwardBatch& b) {
    std::vector<float> logits;
    m.forward(b, logits);
    EXPECT_EQ(logits.size(), size_t(b.num_logit_rows()) * size_t(V));
    steps.push_back(logits);
  };
  ForwardBatch b;
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < len[size_t(s)]; ++i) b.tokens.push_back(tok());
    b.seqs.push_back({0, len[size_t(s)], table(s)});
  }
  run(b);
  for (int step = 0; step < 3; ++step) {
    b = {};
    for (int s = 0; s < 3; ++s) {
      b.tokens.push_back(tok());
      b.seqs.push_back({len[size_t(s)]++, 1, table(s)});
    }
    run(b);
  }
  b = {};
  for (int i = 0; i < 3; ++i) b.tokens.push_back(tok());
  b.seqs.push_back({len[0], 3, table(0), true});
  len[0] += 3;
  for (int s = 1; s < 3; ++s) {
    b.tokens.push_back(tok());
    b.seqs.push_back({len[size_t(s)]++, 1, table(s)});
  }
  run(b);
  b = {};
  for (int i = 0; i < 4; ++i) b.tokens.push_back(tok());
  BatchSeq tree{len[1], 4, table(1), true};
  tree.tree_parent = {-1, 0, 0, 1};
  b.seqs.push_back(tree);
  run(b);
  // Accept the path root -> 1 -> 3: its K/V moves to slots num_cached + 1, + 2 (every rank, its
  // heads of its layers), then a decode step reads it.
  m.compact_kv(table(1), {len[1] + 1, len[1] + 3}, {len[1] + 1, len[1] + 2});
  len[1] += 3;
  b = {};
  b.tokens.push_back(tok());
  b.seqs.push_back({len[1]++, 1, table(1)});
  run(b);
  return steps;
}

// max |a - b| over every step, relative to max(1, max |b|): logits of the tiny models reach ~100,
// where one fp32 ulp is 7.6e-6 (an absolute 1e-5 would be a bound of about one ulp).
double max_abs_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0, scale = 1;
  for (const auto& s : b)
    for (float x : s) scale = std::max(scale, double(std::fabs(x)));
  for (size_t s = 0; s < std::min(a.size(), b.size()); ++s) {
    EXPECT_EQ(a[s].size(), b[s].size()) << "step " << s;
    for (size_t i = 0; i < std::min(a[s].size(), b[s].size()); ++i) {
      if (!std::isfinite(a[s][i]) || !std::isfinite(b[s][i])) return 1e30;
      d = std::max(d, double(std::fabs(a[s][i] - b[s][i])));
    }
  }
  if (d > 0) std::printf("max |diff| %.3g, max |logit| %.3g\n", d, scale);
  return d / scale;
}

// The sequence of every logit row of script()'s steps.
const std::vector<std::vector<int>> kRowSeqs = {{0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 0, 0, 1, 2},
                                                {1, 1, 1, 1}, {1}};

// Like max_abs_diff <= tol, row by row. With fake-quantized activations or KV (`flips`), a sharded
// run's other summation order can move one value across an e4m3 rounding midpoint: that sequence's
// logits then differ by a quantization step from there on (its KV cache carries it), not by
// rounding noise, while the other sequences stay within tol. One such sequence of the script's
// three is tolerated (within 5% of the largest logit); a wrong shard or reduction would hit all.
void expect_close(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& ref, bool flips,
                  double tol, const std::string& what) {
  ASSERT_EQ(got.size(), kRowSeqs.size()) << what;
  ASSERT_EQ(ref.size(), kRowSeqs.size()) << what;
  double scale = 1;
  for (const auto& st : ref)
    for (float x : st) scale = std::max(scale, double(std::fabs(x)));
  std::set<int> diverged;
  double worst = 0, worst_diverged = 0;
  for (size_t st = 0; st < ref.size(); ++st) {
    ASSERT_EQ(got[st].size(), ref[st].size()) << what << " step " << st;
    const size_t V = ref[st].size() / kRowSeqs[st].size();
    for (size_t r = 0; r < kRowSeqs[st].size(); ++r) {
      double d = 0;
      for (size_t i = r * V; i < (r + 1) * V; ++i)
        d = std::isfinite(got[st][i]) ? std::max(d, double(std::fabs(got[st][i] - ref[st][i])) / scale) : 1e30;
      if (d <= tol) {
        worst = std::max(worst, d);
      } else {
        diverged.insert(kRowSeqs[st][r]);
        worst_diverged = std::max(worst_diverged, d);
      }
    }
  }
  if (!flips) {
    EXPECT_TRUE(diverged.empty()) << what << ": logits differ by " << worst_diverged << " of the largest";
    return;
  }
  if (!diverged.empty())
    std::printf("%s: one sequence's logits moved by %.3g of the largest (an e4m3 rounding midpoint), the others "
                "within %.3g\n", what.c_str(), worst_diverged, worst);
  EXPECT_LE(diverged.size(), 1u) << what << ": " << diverged.size() << " sequences differ, by up to " << worst_diverged;
  EXPECT_LE(worst_diverged, 0.05) << what;
}

bool fake_quantizes(const ModelConfig& cfg, DType kv) {
  return kv == DType::F8_E4M3 || (cfg.quant.quantized() && cfg.quant.linear.act != ActScale::None);
}

struct Split {
  int tp, pp;
};

void expect_matches(const fs::path& dir, const std::string& quantization, const std::vector<Split>& splits,
                    double tol = 1e-5) {
  SCOPED_TRACE(dir.filename().string() + (quantization.empty() ? "" : " --quantization " + quantization));
  Checkpoint c = load(dir, quantization);
  auto ref_model = make(c, 1, 1);
  const auto ref = script(*ref_model);
  for (const Split& sp : splits) {
    auto m = make(c, sp.tp, sp.pp);
    expect_close(script(*m), ref, fake_quantizes(c.cfg, DType::F32), tol,
                 fmt::format("{} tp {} pp {}", dir.filename().string(), sp.tp, sp.pp));
  }
}

TEST(ParallelCpuModel, TinyModelsMatchTp1) {
  for (const char* name : {"llama", "llama3_rope", "llama_bias_tied", "llama_linear_rope", "mistral_sw", "qwen2"})
    expect_matches(kData / "models" / name, "", {{2, 1}, {4, 1}, {1, 2}, {2, 2}});
}

TEST(ParallelCpuModel, PipelineOfThreeStagesAndMicroBatches) {
  Checkpoint c = load(kData / "models" / "qwen2");  // 3 layers
  auto ref_model = make(c, 1, 1);
  const auto ref = script(*ref_model);
  for (int micro : {1, 2, 3, 5}) {
    auto m = make(c, 1, 3, micro);
    EXPECT_LE(max_abs_diff(script(*m), ref), 1e-5) << "micro-batches " << micro;
  }
  // Stages only pass the residual stream on: with the whole batch as one micro-batch and the
  // ranks' threads per op (OpenBLAS rounds column chunks' edges differently), bit-identical to one rank.
  std::vector<std::vector<float>> ref_capped;
  {
    cpu::ThreadCap cap(std::max(1, cpu::num_threads() / 3));
    ref_capped = script(*ref_model);
  }
  auto m = make(c, 1, 3, 1);
  EXPECT_EQ(max_abs_diff(script(*m), ref_capped), 0.0);
}

TEST(ParallelCpuModel, Fp8CheckpointsMatchTp1) {
  for (const auto& e : fs::directory_iterator(kData / "models_fp8"))
    if (e.is_directory()) expect_matches(e.path(), "", {{2, 1}, {4, 1}, {1, 2}});
}

TEST(ParallelCpuModel, IntCheckpointsMatchTp1) {
  for (const auto& e : fs::directory_iterator(kData / "models_int4"))
    if (e.is_directory()) expect_matches(e.path(), "", {{2, 1}, {4, 1}, {1, 2}});
}

TEST(ParallelCpuModel, Fp8KvCacheMatchesTp1) {
  for (const char* name : {"llama_ct_tensor_static_kv", "mistral_sw_ct_tensor_static_kv", "qwen2_ct_tensor_static_kv"}) {
    SCOPED_TRACE(name);
    Checkpoint c = load(kData / "models_fp8" / name);  // checkpoint KV scales, each rank its heads' K / V in FP8
    CpuModelOptions o;
    o.kv_dtype = DType::F8_E4M3;
    auto ref_model = make(c, 1, 1, 0, o);
    EXPECT_EQ(ref_model->kv_dtype(), DType::F8_E4M3);
    const auto ref = script(*ref_model);
    for (Split sp : {Split{2, 1}, Split{4, 1}, Split{1, 2}, Split{2, 2}}) {
      auto m = make(c, sp.tp, sp.pp, 0, o);
      EXPECT_EQ(m->kv_dtype(), DType::F8_E4M3);
      expect_close(script(*m), ref, true, 1e-5, fmt::format("{} fp8 KV tp {} pp {}", name, sp.tp, sp.pp));
    }
  }
}

TEST(ParallelCpuModel, OnLoadQuantizationMatchesTp1) {
  for (const char* q : {"fp8", "int8-wo", "int4"}) expect_matches(kData / "models" / "llama", q, {{2, 1}, {4, 1}, {2, 2}});
}

TEST(ParallelLayout, HeadsColumnsVocabularyAndLayers) {
  ModelConfig cfg;
  cfg.num_heads = 8;
  cfg.num_kv_heads = 2;
  cfg.intermediate_size = 100;
  cfg.vocab_size = 1001;
  cfg.num_layers = 14;
  int64_t covered_i = 0, covered_v = 0;
  for (int r = 0; r < 4; ++r) {
    const TpLayout t = tp_layout(cfg, r, 4);
    EXPECT_EQ(t.heads, 2);
    EXPECT_EQ(t.head0, 2 * r);
    EXPECT_EQ(t.kv_heads, 1);
    EXPECT_EQ(t.kv_head0, r / 2);  // query heads 0-3 read KV head 0, 4-7 KV head 1: replicated on 2 ranks each
    EXPECT_EQ(t.i0, covered_i);
    EXPECT_EQ(t.v0, covered_v);
    covered_i = t.i1;
    covered_v = t.v1;
    EXPECT_EQ(t.vocab_chunk, 251);
  }
  EXPECT_EQ(covered_i, 100);
  EXPECT_EQ(covered_v, 1001);
  const TpLayout two = tp_layout(cfg, 1, 2);
  EXPECT_EQ(two.kv_heads, 1);
  EXPECT_EQ(two.kv_head0, 1);
  EXPECT_EQ(split_range(100, 3, 0, 32, "x"), (std::pair<int64_t, int64_t>{0, 32}));
  EXPECT_EQ(split_range(100, 3, 2, 32, "x"), (std::pair<int64_t, int64_t>{64, 100}));  // the remainder: last rank
  EXPECT_THROW(split_range(100, 4, 0, 32, "x"), Error);                               // 3 units for 4 ranks
  EXPECT_EQ(pp_layers(cfg, 0, 4), (std::pair<int, int>{0, 3}));
  EXPECT_EQ(pp_layers(cfg, 3, 4), (std::pair<int, int>{10, 14}));
  cfg.num_kv_heads = 4;  // 8 ranks, 4 KV heads: each replicated on 2 ranks
  EXPECT_EQ(tp_layout(cfg, 7, 8).kv_head0, 3);
  EXPECT_EQ(tp_layout(cfg, 7, 8).kv_heads, 1);
  cfg.num_kv_heads = 8;
  cfg.num_heads = 16;
  EXPECT_NO_THROW(tp_layout(cfg, 0, 8));
  cfg.num_kv_heads = 3;
  cfg.num_heads = 6;
  EXPECT_THROW(tp_layout(cfg, 0, 2), Error);  // 2 neither divides nor is a multiple of 3 KV heads
}

TEST(ParallelCpuModel, ShardsHoldTheirPart) {
  Checkpoint c = load(kData / "models" / "llama");  // 4 heads, 2 KV heads of 16, intermediate 96, vocab 256
  ParallelOptions po;
  po.tensor_parallel = 4;
  ParallelCpuModel m(c.cfg, c.ws, {}, po);
  for (int r = 0; r < 4; ++r) {
    // q: 1 head of 16 rows, k and v: the one (replicated) KV head each.
    EXPECT_EQ(m.rank(r).qkv_linear(0).n(), 16 + 2 * 16);
    EXPECT_EQ(m.rank(r).lm_head_linear().n(), 64);
  }
  // Rank 1's K head is KV head 0 (query heads 0, 1 share it): the same rows as the whole model's.
  CpuModel whole(c.cfg, c.ws);
  const auto& w = whole.qkv_linear(0).weight();
  const auto& p = m.rank(1).qkv_linear(0).weight();
  const int64_t H = 64, Q = 64;
  for (int64_t i = 0; i < 16 * H; ++i) ASSERT_EQ(p[size_t(16 * H + i)], w[size_t(Q * H + i)]);
}

TEST(ParallelCpuModel, SizesThatDoNotFitAreErrors) {
  Checkpoint c = load(kData / "models" / "llama");  // 4 heads, 2 KV heads, 2 layers
  auto expect_error = [&](int tp, int pp, const std::string& what) {
    try {
      make(c, tp, pp);
      ADD_FAILURE() << "tp " << tp << " pp " << pp << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(3, 1, "tensor parallel size 3 does not divide the model's 4 attention heads");
  expect_error(8, 1, "tensor parallel size 8 does not divide the model's 4 attention heads");
  expect_error(1, 3, "pipeline parallel size 3 must be between 1 and the model's 2 layers");
  expect_error(0, 1, "must be at least 1");
}

TEST(ParallelCpuModel, FailingRankEndsTheStepWithItsError) {
  Checkpoint c = load(kData / "models" / "llama");
  auto ref_model = make(c, 1, 1);
  const auto ref = script(*ref_model);
  for (Split sp : {Split{2, 1}, Split{1, 2}, Split{2, 2}}) {
    ParallelOptions po;
    po.tensor_parallel = sp.tp;
    po.pipeline_parallel = sp.pp;  // no timeout: only the abort path can end the other ranks' waits
    ParallelCpuModel m(c.cfg, c.ws, {}, po);
    const int bad = sp.tp * sp.pp - 1;
    m.set_rank_hook([bad](int r) {
      if (r == bad) throw Error("injected failure");
    });
    m.init_kv_cache(16, 4);
    ForwardBatch b{{5, 6, 7}, {{0, 3, {0}}}};
    std::vector<float> logits;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      m.forward(b, logits);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("rank {}", bad)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("injected failure"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    // The groups were reset: the model keeps working.
    m.set_rank_hook({});
    EXPECT_LE(max_abs_diff(script(m), ref), 1e-5) << "tp " << sp.tp << " pp " << sp.pp;
  }
}

TEST(ParallelCpuModel, BadInputIsAnErrorAndTheModelKeepsWorking) {
  Checkpoint c = load(kData / "models" / "llama");
  auto m = make(c, 2, 2);
  m->init_kv_cache(16, 4);
  std::vector<float> logits;
  ForwardBatch bad_token{{5, 9999}, {{0, 2, {0}}}};
  try {
    m->forward(bad_token, logits);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 9999"), std::string::npos) << e.what();
  }
  ForwardBatch bad_table{{5, 6}, {{0, 2, {99}}}};
  EXPECT_THROW(m->forward(bad_table, logits), Error);
  auto ref_model = make(c, 1, 1);
  EXPECT_LE(max_abs_diff(script(*m), script(*ref_model)), 1e-5);
}

TEST(ParallelCpuModel, DemoModel) {
  const fs::path demo = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";  // 3 heads, 1 KV head, 14 layers
  if (!fs::exists(demo / "config.json")) GTEST_SKIP() << "no models/demo";
  expect_matches(demo, "", {{3, 1}, {1, 2}, {3, 2}});
  Checkpoint c = load(demo);
  EXPECT_THROW(make(c, 2, 1), Error);  // 3 heads
}

}  // namespace
}  // namespace ignis
