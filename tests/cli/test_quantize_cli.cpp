// `ignis quantize` end to end on tests/data/models/llama (runs the built binary): the dynamic output
// gives the logits of --quantization fp8 on load bit for bit; the static + FP8 KV output holds the
// scales calibration gives on the same samples and its logits are those of a naive forward with the
// same fake-quantization; bad usage fails with a message and a non-zero exit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fp8_writer.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/quantize_checkpoint.h"
#include "quant/quantize.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

const fs::path kLlama = fs::path(IGNIS_TEST_DATA_DIR) / "models" / "llama";

struct CliRun {
  int status = -1;
  std::string out;
};

CliRun ignis(const std::string& args) {
  std::string cmd = std::string(IGNIS_BINARY_DIR) + "/bin/ignis " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::unique_ptr<Model> cpu(const fs::path& dir, const std::string& quantization = "") {
  ModelLoadOptions o;
  o.device = "cpu";
  o.quantization = quantization;
  return load_model(dir, o).model;
}

std::vector<float> logits(Model& m, const std::vector<int32_t>& t) {
  m.init_kv_cache(4, 16);
  ForwardBatch b;
  b.tokens = t;
  b.seqs.push_back({0, int32_t(t.size()), {0, 1, 2, 3}, true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

float scalar(const WeightStore& ws, const std::string& name) {
  const TensorRef& t = ws.get(name);
  EXPECT_EQ(t.dtype, DType::F32) << name;
  EXPECT_EQ(t.shape, std::vector<int64_t>{1}) << name;
  float v = 0;
  std::memcpy(&v, t.data, 4);
  return v;
}

TEST(QuantizeCli, DynamicEqualsQuantizationOnLoad) {
  test::TempDir d("quantize_cli");
  const fs::path out = d.path() / "dyn";
  CliRun r = ignis("quantize --model " + kLlama.string() + " --out " + out.string() + " --method fp8");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out;
  auto cfg = nlohmann::json::parse(std::ifstream(out / "config.json"));
  const auto& qc = cfg["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "compressed-tensors");
  EXPECT_EQ(qc["format"], "float-quantized");
  EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["strategy"], "channel");
  EXPECT_EQ(qc["config_groups"]["group_0"]["input_activations"]["strategy"], "token");
  EXPECT_EQ(qc["ignore"], nlohmann::json::array({"lm_head"}));
  EXPECT_TRUE(qc["kv_cache_scheme"].is_null());
  EXPECT_EQ(cfg["hidden_size"], 64);  // the rest of config.json kept
  EXPECT_TRUE(fs::exists(out / "generation_config.json"));
  const auto toks = test::random_tokens(30, 256, 11);
  auto written = cpu(out), on_load = cpu(kLlama, "fp8");
  EXPECT_EQ(logits(*written, toks), logits(*on_load, toks));
  // ignis info reports the scheme.
  CliRun info = ignis("info --model " + out.string());
  EXPECT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("quantization:     compressed-tensors"), std::string::npos) << info.out;
}

TEST(QuantizeCli, StaticWithKvScalesFromCalibration) {
  test::TempDir d("quantize_cli");
  const fs::path calib = d.path() / "calib.jsonl", out = d.path() / "static";
  std::vector<std::vector<int32_t>> samples;
  {
    std::ofstream f(calib);
    for (uint64_t i = 0; i < 6; ++i) {
      auto t = test::random_tokens(24, 256, 40 + i);
      f << nlohmann::json{{"input_ids", t}}.dump() << "\n";
      if (i < 4) samples.emplace_back(t.begin(), t.begin() + 16);  // --calib-size 4 --calib-seq-len 16
    }
  }
  CliRun r = ignis("quantize --model " + kLlama.string() + " --out " + out.string() +
                " --scheme static --kv-cache-dtype fp8 --calib-data " + calib.string() +
                " --calib-size 4 --calib-seq-len 16 --quantize-lm-head --no-progress");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("calibrated on 4 samples, 64 tokens"), std::string::npos) << r.out;

  // The scales are those calibration gives on the same samples.
  const ModelConfig dense_cfg = load_model_config(kLlama);
  const WeightStore dense = WeightStore::load(kLlama, dense_cfg);
  CpuModel dense_model(dense_cfg, dense);
  const Calibration cal = calibrate(dense_model, samples, false);
  const ModelConfig qcfg = load_model_config(out);
  EXPECT_EQ(qcfg.quant.linear.describe(), "fp8-e4m3 (weight per channel, input static per tensor)");
  EXPECT_TRUE(qcfg.quant.kv_cache_fp8);
  EXPECT_TRUE(qcfg.quant.ignore.empty());
  const WeightStore ws = WeightStore::load(out, qcfg);
  EXPECT_EQ(ws.get("lm_head.weight").dtype, DType::F8_E4M3);
  test::NaiveQuant nq;
  WeightStore deq;
  for (const auto& [name, t] : dense.all()) {
    const bool proj = t.shape.size() == 2 && name != "model.embed_tokens.weight";
    std::vector<uint8_t> bytes(static_cast<const uint8_t*>(t.data), static_cast<const uint8_t*>(t.data) + t.nbytes);
    TensorRef ref = t;
    if (proj) {
      const std::string m = name.substr(0, name.size() - 7);
      const float s = scalar(ws, m + ".input_scale");
      EXPECT_EQ(s, dynamic_scale(cal.input_amax.at(m))) << m;
      LinearSpec spec = qcfg.quant.linear;
      nq.inputs[m] = {spec, s};
      QuantizedLinear q = quantize_weight_fp8(t.dtype, t.data, t.shape[0], t.shape[1], spec);
      EXPECT_EQ(std::memcmp(ws.get(name).data, q.data.data(), q.data.size()), 0) << name;
      std::vector<float> w(q.data.size());
      dequantize_weight(q, w.data());
      bytes.assign(reinterpret_cast<const uint8_t*>(w.data()), reinterpret_cast<const uint8_t*>(w.data()) + w.size() * 4);
      ref.dtype = DType::F32;
    }
    ref.data = bytes.data();
    ref.nbytes = bytes.size();
    deq.keep_alive(std::move(bytes));
    deq.add(ref);
  }
  for (int l = 0; l < dense_cfg.num_layers; ++l) {
    const float ks = scalar(ws, layer_tensor_name(l, "self_attn.k_scale")), vs = scalar(ws, layer_tensor_name(l, "self_attn.v_scale"));
    EXPECT_EQ(ks, dynamic_scale(cal.kv_amax[size_t(l)].first));
    EXPECT_EQ(vs, dynamic_scale(cal.kv_amax[size_t(l)].second));
    nq.kv_scales.push_back({ks, vs});
  }
  // Its logits are those of its own fake-quantization (the KV cache is FP8 by default: "auto").
  auto m = cpu(out);
  EXPECT_EQ(m->kv_dtype(), DType::F8_E4M3);
  const auto toks = test::random_tokens(30, 256, 12);
  auto got = logits(*m, toks), want = test::naive_logits(dense_cfg, deq, toks, &nq);
  EXPECT_LE(test::rel_err(got.data(), want.data(), want.size()), 1e-3);
  // Text calibration needs a tokenizer: a clear error for this folder (it has none).
  std::ofstream(d.path() / "calib.txt") << "some text\n";
  CliRun t = ignis("quantize --model " + kLlama.string() + " --out " + (d.path() / "t").string() +
                " --scheme static --calib-data " + (d.path() / "calib.txt").string());
  EXPECT_NE(t.status, 0);
  EXPECT_NE(t.out.find("tokenizer.json"), std::string::npos) << t.out;
}

TEST(QuantizeCli, BadUsageFailsCleanly) {
  test::TempDir d("quantize_cli");
  auto expect_fail = [](const std::string& args, const std::string& words) {
    CliRun r = ignis("quantize " + args);
    EXPECT_NE(r.status, 0) << args << ": " << r.out;
    EXPECT_NE(r.out.find(words), std::string::npos) << args << ": " << r.out;
  };
  const std::string base = "--model " + kLlama.string() + " --out " + (d.path() / "x").string();
  expect_fail(base + " --scheme static", "--calib-data");
  expect_fail(base + " --kv-cache-dtype fp8", "--calib-data");
  expect_fail(base + " --method int4", "--method");
  expect_fail(base + " --method awq", "--calib-data");
  std::ofstream(d.path() / "c.jsonl") << "{\"input_ids\": [1, 2, 3]}\n";
  expect_fail(base + " --scheme static --device cuda --calib-data " + (d.path() / "c.jsonl").string(), "CPU backend");
  std::ofstream(d.path() / "bad.jsonl") << "{\"input_ids\": [1, 999999]}\n";
  expect_fail(base + " --scheme static --calib-data " + (d.path() / "bad.jsonl").string(), "input_ids[1]");
  fs::create_directories(d.path() / "full");
  std::ofstream(d.path() / "full" / "f") << "x";
  expect_fail("--model " + kLlama.string() + " --out " + (d.path() / "full").string(), "not empty");
  CliRun ok = ignis("quantize " + base + " --no-progress");
  ASSERT_EQ(ok.status, 0) << ok.out;
  expect_fail("--model " + (d.path() / "x").string() + " --out " + (d.path() / "y").string(), "quantized already");
}

}  // namespace
}  // namespace ignis
