// Tiny models of tests/data/models in every FP8 checkpoint layout (written by fp8_writer, not by
// ignis) load as published and give the logits of a naive forward over the dequantized weights
// with the same fake-quantization; --quantization fp8 on load equals ignis quantize's dynamic output
// bit for bit; dummy weights work with FP8 configs; ignis quantize's writer shards like its input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fp8_writer.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/quantize_checkpoint.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

const fs::path kModels = fs::path(IGNIS_TEST_DATA_DIR) / "models";
constexpr double kTol = 1e-4;  // positions before the reference's first near-tie (NaiveQuant::ambiguous_from)

// Logits of every position of each sequence, all in one flat batch.
std::vector<std::vector<float>> forward_all(Model& m, const std::vector<std::vector<int32_t>>& seqs) {
  const int bs = 16;
  int blocks = 0;
  for (auto& s : seqs) blocks += int(s.size() + bs - 1) / bs;
  m.init_kv_cache(blocks, bs);
  ForwardBatch b;
  int next = 0;
  for (auto& s : seqs) {
    std::vector<int32_t> table;
    for (size_t i = 0; i < s.size(); i += bs) table.push_back(next++);
    b.tokens.insert(b.tokens.end(), s.begin(), s.end());
    b.seqs.push_back({0, int32_t(s.size()), table, true});
  }
  std::vector<float> out;
  m.forward(b, out);
  std::vector<std::vector<float>> rows;
  const size_t V = size_t(m.config().vocab_size);
  size_t off = 0;
  for (auto& s : seqs) {
    rows.emplace_back(out.begin() + long(off), out.begin() + long(off + s.size() * V));
    off += s.size() * V;
  }
  return rows;
}

LoadedModel load_cpu(const fs::path& dir, const std::string& quantization = "", const std::string& kv = "auto",
                     LoadFormat fmt = LoadFormat::Auto) {
  ModelLoadOptions o;
  o.device = "cpu";
  o.quantization = quantization;
  o.kv_cache_dtype = kv;
  o.load_format = fmt;
  o.seed = 5;
  return load_model(dir, o);
}

class Formats : public ::testing::TestWithParam<test::Fp8Format> {};

TEST_P(Formats, EveryTinyModelMatchesTheNaiveFakeQuantForward) {
  const test::Fp8Format f = GetParam();
  int g_positions = 0, g_tight = 0;  // how many positions were compared tightly
  for (const char* base : {"llama", "qwen2", "mistral_sw", "llama_bias_tied", "llama3_rope"}) {
    SCOPED_TRACE(std::string(base) + " as " + test::fp8_format_name(f));
    test::TempDir dir(std::string("fp8fmt_") + base);
    test::Fp8Reference ref = test::write_fp8_folder(kModels / base, dir.path(), f);
    LoadedModel lm = load_cpu(dir.path());
    const ModelConfig& c = lm.model->config();
    ASSERT_TRUE(c.quant.quantized());
    EXPECT_EQ(lm.model->kv_dtype(), ref.quant.kv_scales.empty() ? DType::F32 : DType::F8_E4M3);
    const std::vector<std::vector<int32_t>> seqs = {
        test::random_tokens(21, c.vocab_size, 7), test::random_tokens(9, c.vocab_size, 8),
        test::random_tokens(5, c.vocab_size, 9), test::random_tokens(4, c.vocab_size, 10),
        test::random_tokens(3, c.vocab_size, 11)};
    auto got = forward_all(*lm.model, seqs);
    double worst = 0, worst_ambiguous = 0, worst_l2 = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      auto want = test::naive_logits(ref.dense_cfg, ref.dequant, seqs[s], &ref.quant);
      ASSERT_EQ(got[s].size(), want.size());
      const size_t V = size_t(c.vocab_size);
      double d2 = 0, r2 = 0;
      for (size_t i = 0; i < want.size(); ++i) d2 += (got[s][i] - double(want[i])) * (got[s][i] - double(want[i])), r2 += double(want[i]) * want[i];
      worst_l2 = std::max(worst_l2, std::sqrt(d2 / r2));
      for (size_t p = 0; p < seqs[s].size(); ++p) {
        const double e = test::rel_err(got[s].data() + p * V, want.data() + p * V, V);
        if (int(p) < ref.quant.ambiguous_from) worst = std::max(worst, e), ++g_tight;
        else worst_ambiguous = std::max(worst_ambiguous, e);
        ++g_positions;
      }
    }
    std::printf("[   info   ] %s as %s: worst sequence rel L2 against the naive forward %.3g\n", base,
                test::fp8_format_name(f), worst_l2);
    EXPECT_LE(worst, kTol);             // exact up to fp32 summation order
    EXPECT_LE(worst_ambiguous, 0.2);    // after a rounding tie the two may differ by one e4m3 step somewhere
    // The interpretation itself, bit for bit: layer 0's fused q/k/v holds the file's dequantized weights.
    if (auto* cm = dynamic_cast<CpuModel*>(lm.model.get())) {
      const cpu::Linear& qkv = cm->qkv_linear(0);
      std::vector<float> want;
      for (const std::string& m : layer_linears(0).qkv) {
        const TensorRef& t = ref.dequant.get(m + ".weight");
        const float* p = static_cast<const float*>(t.data);
        want.insert(want.end(), p, p + t.numel());
      }
      EXPECT_EQ(qkv.weight(), want);
      EXPECT_EQ(qkv.spec().act, ref.quant.inputs.at(layer_linears(0).qkv[0]).first.act);
      EXPECT_EQ(qkv.input_scale(), ref.quant.inputs.at(layer_linears(0).qkv[0]).second);
      EXPECT_FALSE(cm->lm_head_linear().spec().fp8());
      EXPECT_EQ(cm->kv_scales(), ref.quant.kv_scales);
    } else {
      ADD_FAILURE() << "not a CpuModel";
    }
    // FP8 is not a no-op: the dense model differs by more than the tolerance.
    auto dense = forward_all(*CpuModel::load(kModels / base), seqs);
    EXPECT_GT(test::rel_err(dense[0].data(), got[0].data(), got[0].size()), 10 * std::max(worst, 1e-5));
  }
  std::printf("[   info   ] %s: %d of %d positions before the first near-tie, compared at %g\n",
              test::fp8_format_name(f), g_tight, g_positions, kTol);
  EXPECT_GE(g_tight, std::max(20, g_positions / 5));  // the tight comparison is not vacuous
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, Formats, ::testing::ValuesIn(test::all_fp8_formats()),
                         [](const auto& info) { return std::string(test::fp8_format_name(info.param)); });

TEST(Fp8Load, QuantizeWriterDynamicEqualsQuantizationOnLoad) {
  for (const char* base : {"llama", "qwen2", "llama_bias_tied"}) {
    SCOPED_TRACE(base);
    test::TempDir dir(std::string("fp8rt_") + base);
    const fs::path out = dir.path() / "out";
    ModelConfig cfg = load_model_config(kModels / base);
    WeightStore ws = WeightStore::load(kModels / base, cfg);
    QuantizeCheckpointOptions o;
    o.progress = false;
    write_fp8_checkpoint(kModels / base, out, cfg, ws, o, nullptr);
    LoadedModel written = load_cpu(out), on_load = load_cpu(kModels / base, "fp8");
    EXPECT_EQ(written.model->config().quant.method, QuantConfig::Method::CompressedTensors);
    EXPECT_EQ(on_load.model->config().quant.method, QuantConfig::Method::OnLoad);
    const std::vector<std::vector<int32_t>> seqs = {test::random_tokens(17, cfg.vocab_size, 3)};
    auto a = forward_all(*written.model, seqs), b = forward_all(*on_load.model, seqs);
    EXPECT_EQ(a[0], b[0]);  // the same codes and scales: bit for bit
  }
}

TEST(Fp8Load, QuantizeWriterShardsLikeItsInput) {
  test::TempDir dir("fp8shards");
  QuantizeCheckpointOptions o;
  o.progress = false;
  // tests/data/models/llama is sharded in two: the output keeps the shard files.
  ModelConfig cfg = load_model_config(kModels / "llama");
  WeightStore ws = WeightStore::load(kModels / "llama", cfg);
  write_fp8_checkpoint(kModels / "llama", dir.path() / "a", cfg, ws, o, nullptr);
  for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                        "model.safetensors.index.json", "config.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(dir.path() / "a" / f)) << f;
  auto index = nlohmann::json::parse(std::ifstream(dir.path() / "a" / "model.safetensors.index.json"));
  const auto& wm = index["weight_map"];
  EXPECT_EQ(wm["model.layers.1.mlp.down_proj.weight_scale"], wm["model.layers.1.mlp.down_proj.weight"]);
  EXPECT_EQ(wm["lm_head.weight"], ws.get("lm_head.weight").file.substr(ws.get("lm_head.weight").file.rfind('/') + 1));
  // A single-file input above --max-shard-size is split, with an index.
  o.max_shard_bytes = 64 << 10;
  ModelConfig qc = load_model_config(kModels / "qwen2");
  WeightStore qws = WeightStore::load(kModels / "qwen2", qc);
  write_fp8_checkpoint(kModels / "qwen2", dir.path() / "b", qc, qws, o, nullptr);
  int shards = 0;
  for (auto& e : fs::directory_iterator(dir.path() / "b")) shards += e.path().extension() == ".safetensors";
  EXPECT_GT(shards, 2);
  EXPECT_TRUE(fs::exists(dir.path() / "b" / "model.safetensors.index.json"));
  LoadedModel lm = load_cpu(dir.path() / "b");
  EXPECT_EQ(lm.model->config().quant.linear.describe(), "fp8-e4m3 (weight per channel, input dynamic per token)");
  // Refusals: a non-empty output folder, static scales without calibration, an FP8 input.
  EXPECT_THROW(write_fp8_checkpoint(kModels / "qwen2", dir.path() / "b", qc, qws, o, nullptr), Error);
  o.act = ActScale::StaticTensor;
  EXPECT_THROW(write_fp8_checkpoint(kModels / "qwen2", dir.path() / "c", qc, qws, o, nullptr), Error);
  o.act = ActScale::DynamicToken;
  ModelConfig q8 = lm.model->config();
  EXPECT_THROW(write_fp8_checkpoint(dir.path() / "b", dir.path() / "d", q8, qws, o, nullptr), Error);
}

TEST(Fp8Load, DummyWeightsWithFp8Configs) {
  // A checkpoint config that stores FP8 (codes + scales generated) and --quantization fp8 on dense dummies.
  for (auto f : {test::Fp8Format::CtTensorStaticKv, test::Fp8Format::Fp8Block, test::Fp8Format::CtChannelDynamic}) {
    SCOPED_TRACE(test::fp8_format_name(f));
    test::TempDir dir("fp8dummy");
    test::write_fp8_folder(kModels / "llama", dir.path(), f);
    fs::remove(dir.path() / "model.safetensors");  // config only
    ModelConfig cfg = load_model_config(dir.path());
    WeightStore ws = WeightStore::load(dir.path(), cfg, LoadFormat::Dummy, 9);
    EXPECT_EQ(ws.get("model.layers.0.mlp.up_proj.weight").dtype, DType::F8_E4M3);
    validate_weights(ws, cfg);
    LoadedModel lm = load_cpu(dir.path(), "", "auto", LoadFormat::Dummy);
    auto out = forward_all(*lm.model, {test::random_tokens(12, cfg.vocab_size, 1)});
    for (float x : out[0]) ASSERT_TRUE(std::isfinite(x));
  }
  LoadedModel lm = load_cpu(kModels / "llama", "fp8", "fp8", LoadFormat::Dummy);
  EXPECT_EQ(lm.model->config().quant.method, QuantConfig::Method::OnLoad);
  EXPECT_EQ(lm.model->kv_dtype(), DType::F8_E4M3);
  auto out = forward_all(*lm.model, {test::random_tokens(12, lm.model->config().vocab_size, 1)});
  for (float x : out[0]) ASSERT_TRUE(std::isfinite(x));
  // Quantizing an FP8 checkpoint again is refused.
  test::TempDir dir("fp8twice");
  test::write_fp8_folder(kModels / "llama", dir.path(), test::Fp8Format::ModelOpt);
  try {
    load_cpu(dir.path(), "fp8");
    ADD_FAILURE() << "--quantization fp8 on an FP8 checkpoint accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantized already"), std::string::npos) << e.what();
  }
}

TEST(Fp8Load, WeightBytes) {
  ModelConfig c = load_model_config(kModels / "llama");
  const int64_t dense = model_weight_bytes(c);
  EXPECT_EQ(dense, c.num_params() * int64_t(dtype_size(c.dtype)));
  apply_quantization_flag(c, "fp8");
  const int64_t proj = int64_t(c.num_layers) * (int64_t(c.hidden_size) * (c.q_size() + 2 * c.kv_size()) +
                                                int64_t(c.q_size()) * c.hidden_size + 3ll * c.hidden_size * c.intermediate_size);
  EXPECT_EQ(model_weight_bytes(c), dense - proj * int64_t(dtype_size(c.dtype) - 1));
}

}  // namespace
}  // namespace ignis
