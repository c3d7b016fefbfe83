// ignis quantize --method awq: the scale search helps where activations are uneven, the folder it
// writes follows AutoAWQ's gemm layout (names, dtypes, shapes, quantization_config) and loads back;
// with one alpha (0: plain RTN) the written projections are exactly quantize_weight_int's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "fp8_writer.h"
#include "model/awq_quantize.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/safetensors.h"
#include "quant/int_quant.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

const fs::path kModels = fs::path(IGNIS_TEST_DATA_DIR) / "models";

std::vector<float> logits_of(Model& m, const std::vector<int32_t>& toks) {
  m.init_kv_cache(4, 16);
  ForwardBatch b;
  b.tokens = toks;
  b.seqs.push_back({0, int32_t(toks.size()), {0, 1, 2, 3}, true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

TEST(AwqSearch, ActivationAwareScalesBeatRtnOnUnevenInputs) {
  const int64_t n = 16, k = 64, m = 128;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(size_t(n * k)), x(size_t(m * k));
  for (float& v : w) v = 0.02f * nd(rng);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c) x[size_t(r * k + c)] = nd(rng) * (c % 8 == 0 ? 30.0f : 1.0f);  // salient channels
  std::vector<float> mean(size_t(k), 0.0f);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c) mean[size_t(c)] += std::fabs(x[size_t(r * k + c)]) / float(m);
  const AwqSearch s = awq_search_scale(w.data(), n, k, x.data(), m, mean, 32, 20);
  EXPECT_GT(s.alpha, 0.0f);
  EXPECT_LT(s.loss, 0.8 * s.loss_rtn);
  ASSERT_EQ(s.s.size(), size_t(k));
  EXPECT_GT(s.s[0], s.s[1]);  // the salient channel is scaled up
}

struct AwqFolder {
  test::TempDir dir{"awq"};
  AwqReport report;
};

void make_awq(AwqFolder& f, int grid) {
  const fs::path base = kModels / "llama";
  ModelConfig cfg = load_model_config(base);
  WeightStore ws = WeightStore::load(base, cfg, LoadFormat::Safetensors);
  std::vector<std::vector<int32_t>> samples;
  for (uint64_t s = 0; s < 4; ++s) samples.push_back(test::random_tokens(24, cfg.vocab_size, 40 + s));
  CpuModel dense(cfg, ws);
  const AwqActivations act = collect_awq_activations(dense, samples, 64, false);
  AwqOptions o;
  o.group_size = 32;
  o.grid = grid;
  o.progress = false;
  fs::remove_all(f.dir.path());
  f.report = write_awq_checkpoint(base, f.dir.path(), cfg, ws, act, o);
}

TEST(AwqWriter, WritesTheAutoAwqGemmLayoutAndLoadsBack) {
  AwqFolder f;
  make_awq(f, 10);
  EXPECT_LE(f.report.loss, f.report.loss_rtn);
  EXPECT_EQ(f.report.groups, 2 * 3);  // per layer: qkv, gate_up, down (2 KV heads of 4: o not scaled)
  std::ifstream in(f.dir.path() / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto cj = nlohmann::ordered_json::parse(ss.str());
  EXPECT_EQ(cj["quantization_config"].dump(),
            R"({"quant_method":"awq","zero_point":true,"group_size":32,"bits":4,"version":"gemm","modules_to_not_convert":null})");
  SafetensorsFile st((f.dir.path() / "model.safetensors").string());
  std::map<std::string, SafetensorsEntry> e;
  for (auto& t : st.header().tensors) e[t.name] = t;
  const std::string q = "model.layers.1.self_attn.q_proj", d = "model.layers.0.mlp.down_proj";
  EXPECT_FALSE(e.count(q + ".weight"));
  ASSERT_TRUE(e.count(q + ".qweight") && e.count(q + ".qzeros") && e.count(q + ".scales"));
  EXPECT_EQ(e[q + ".qweight"].dtype, DType::I32);
  EXPECT_EQ(e[q + ".qweight"].shape, (std::vector<int64_t>{64, 8}));
  EXPECT_EQ(e[q + ".qzeros"].dtype, DType::I32);
  EXPECT_EQ(e[q + ".qzeros"].shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(e[q + ".scales"].dtype, DType::F16);
  EXPECT_EQ(e[q + ".scales"].shape, (std::vector<int64_t>{2, 64}));
  EXPECT_EQ(e[d + ".qweight"].shape, (std::vector<int64_t>{96, 8}));
  EXPECT_EQ(e[d + ".scales"].shape, (std::vector<int64_t>{3, 64}));
  EXPECT_TRUE(e.count("lm_head.weight"));
  // loads back as published and stays close to the dense model
  ModelLoadOptions lo;
  lo.device = "cpu";
  LoadedModel awq = load_model(f.dir.path(), lo);
  EXPECT_EQ(awq.model->config().quant.method, QuantConfig::Method::Awq);
  LoadedModel dense = load_model(kModels / "llama", lo);
  const auto toks = test::random_tokens(20, 256, 99);
  const std::vector<float> a = logits_of(*awq.model, toks), r = logits_of(*dense.model, toks);
  EXPECT_LT(test::rel_err(a.data(), r.data(), a.size()), 0.5);
}

TEST(AwqWriter, OneAlphaIsPlainRtnBitForBit) {
  AwqFolder f;
  make_awq(f, 1);  // alpha 0 only: s = 1
  EXPECT_EQ(f.report.loss, f.report.loss_rtn);
  const fs::path base = kModels / "llama";
  ModelConfig dc = load_model_config(base);
  WeightStore dws = WeightStore::load(base, dc, LoadFormat::Safetensors);
  ModelConfig ac = load_model_config(f.dir.path());
  WeightStore aws = WeightStore::load(f.dir.path(), ac, LoadFormat::Safetensors);
  for (const auto& mods : {layer_linears(0).qkv, layer_linears(1).down}) {
    const HostLinear h = load_linear(aws, ac, mods, aws.get(mods[0] + ".qweight").shape[0]);
    std::vector<uint32_t> words;
    for (const auto& m : mods) {
      const TensorRef& t = dws.get(m + ".weight");
      LinearSpec s = ac.quant.linear;
      const IntLinear q = quantize_weight_int(t.dtype, t.data, t.shape[0], t.shape[1], s);
      words.insert(words.end(), q.qweight.begin(), q.qweight.end());
    }
    EXPECT_EQ(h.wq.qweight, words) << mods[0];
  }
  const TensorRef& n0 = dws.get("model.layers.0.input_layernorm.weight");
  const TensorRef& n1 = aws.get("model.layers.0.input_layernorm.weight");
  ASSERT_EQ(n0.nbytes, n1.nbytes);
  EXPECT_EQ(std::memcmp(n0.data, n1.data, n0.nbytes), 0);  // s = 1: the norms are unchanged
}

}  // namespace
}  // namespace ignis
