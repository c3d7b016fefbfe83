// Round trip: a tiny model written as safetensors (bf16, fp16, fp32; single and
// sharded) loads with the right names, shapes, dtypes and bytes; dummy weights.
#include <gtest/gtest.h>

#include <cmath>

#include "helpers.h"

namespace ignis {
namespace {

using test::expect_error;
using test::TempDir;

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, WriteThenLoad) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, GetParam());
  auto written = test::model_tensors(cfg, cfg.dtype);
  WeightStore ws = WeightStore::load(d.path, cfg);
  EXPECT_EQ(ws.all().size(), written.size());
  for (auto& w : written) {
    const TensorRef& t = ws.get(w.name);
    EXPECT_EQ(t.dtype, cfg.dtype) << w.name;
    EXPECT_EQ(t.shape, w.shape) << w.name;
    EXPECT_EQ(t.file, d.file("model.safetensors"));
    ASSERT_EQ(t.nbytes, w.bytes.size());
    EXPECT_EQ(std::memcmp(t.data, w.bytes.data(), t.nbytes), 0) << w.name;
  }
  // Values convert back to what was written (to the dtype's precision).
  const TensorRef& emb = ws.get("model.embed_tokens.weight");
  std::vector<float> ref;
  test::tensor_bytes(cfg.dtype, emb.numel(), 1, &ref);
  std::vector<float> got(size_t(emb.numel()));
  to_f32(emb.dtype, emb.data, got.data(), got.size());
  double tol = cfg.dtype == DType::F32 ? 0 : cfg.dtype == DType::F16 ? 2e-3 : 1.6e-2;
  for (size_t i = 0; i < got.size(); i++) ASSERT_LE(std::fabs(got[i] - ref[i]), tol * (1 + std::fabs(ref[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RoundTrip, ::testing::Values("float32", "float16", "bfloat16"));

TEST(Weights, TiedEmbeddingsNeedNoLmHeadAndExtrasIgnored) {
  TempDir d;
  test::write_text(d.file("config.json"), test::tiny_config_json("Qwen2ForCausalLM", "bfloat16", true));
  ModelConfig cfg = load_model_config(d.path);
  auto t = test::model_tensors(cfg, DType::BF16);
  for (auto& x : t) EXPECT_NE(x.name, "lm_head.weight");
  EXPECT_TRUE(std::any_of(t.begin(), t.end(), [](auto& x) { return x.name == "model.layers.1.self_attn.k_proj.bias"; }));
  t.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", DType::F32, {4}, test::tensor_bytes(DType::F32, 4, 9)});
  write_safetensors(d.file("model.safetensors"), t, {{"format", "pt"}});
  WeightStore ws = WeightStore::load(d.path, cfg);
  EXPECT_FALSE(ws.has("lm_head.weight"));
  EXPECT_TRUE(ws.has("model.layers.0.self_attn.rotary_emb.inv_freq"));
}

TEST(Weights, Sharded) {
  TempDir d;
  test::write_text(d.file("config.json"), test::tiny_config_json("LlamaForCausalLM", "bfloat16"));
  ModelConfig cfg = load_model_config(d.path);
  auto all = test::model_tensors(cfg, DType::BF16);
  std::vector<SafetensorsWriteTensor> a(all.begin(), all.begin() + all.size() / 2), b(all.begin() + all.size() / 2, all.end());
  write_safetensors(d.file("model-00001-of-00002.safetensors"), a);
  write_safetensors(d.file("model-00002-of-00002.safetensors"), b);
  nlohmann::json idx = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (auto& t : a) idx["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (auto& t : b) idx["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  test::write_text(d.file("model.safetensors.index.json"), idx.dump());
  WeightStore ws = WeightStore::load(d.path, cfg, LoadFormat::Safetensors);
  EXPECT_EQ(ws.all().size(), all.size());
  EXPECT_EQ(ws.get(a.front().name).file, d.file("model-00001-of-00002.safetensors"));
  EXPECT_EQ(ws.get(b.back().name).file, d.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(std::memcmp(ws.get(b.back().name).data, b.back().bytes.data(), b.back().bytes.size()), 0);

  // A shard that is missing is named, with a tensor it should hold.
  std::filesystem::remove(d.file("model-00002-of-00002.safetensors"));
  expect_error([&] { WeightStore::load(d.path, cfg); },
               {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "not found"});
}

TEST(Weights, NoWeightsSuggestsDummy) {
  TempDir d;
  test::write_text(d.file("config.json"), test::tiny_config_json());
  ModelConfig cfg = load_model_config(d.path);
  expect_error([&] { WeightStore::load(d.path, cfg); }, {d.path.string(), "no weights found", "--load-format dummy"});
  EXPECT_EQ(parse_load_format("dummy"), LoadFormat::Dummy);
  expect_error([] { parse_load_format("gguf"); }, {"gguf"});
}

TEST(Weights, DummyDeterministicAndSane) {
  TempDir d;
  test::write_text(d.file("config.json"), test::tiny_config_json("Qwen2ForCausalLM", "bfloat16"));
  ModelConfig cfg = load_model_config(d.path);
  WeightStore a = WeightStore::load(d.path, cfg, LoadFormat::Dummy, 7);
  WeightStore b = WeightStore::load(d.path, cfg, LoadFormat::Dummy, 7);
  WeightStore c = WeightStore::load(d.path, cfg, LoadFormat::Dummy, 8);
  validate_weights(a, cfg);
  ASSERT_EQ(a.all().size(), expected_tensors(cfg).size());
  for (auto& [name, t] : a.all()) {
    EXPECT_EQ(t.dtype, DType::BF16);
    EXPECT_EQ(t.file, "<dummy>");
    EXPECT_EQ(std::memcmp(t.data, b.get(name).data, t.nbytes), 0) << name;
  }
  const TensorRef& w = a.get("lm_head.weight");
  EXPECT_NE(std::memcmp(w.data, c.get("lm_head.weight").data, w.nbytes), 0);
  std::vector<float> v(size_t(w.numel()));
  to_f32(w.dtype, w.data, v.data(), v.size());
  double sum = 0, sq = 0;
  for (float x : v) sum += x, sq += double(x) * x;
  double mean = sum / double(v.size()), sd = std::sqrt(sq / double(v.size()) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(sd, 0.02, 0.002);
  const TensorRef& n = a.get("model.norm.weight");
  std::vector<float> nv(size_t(n.numel()));
  to_f32(n.dtype, n.data, nv.data(), nv.size());
  for (float x : nv) EXPECT_NEAR(x, 1.0f, 0.08f);
}

TEST(Weights, DummyBigTensorSpansBlocks) {
  // Vocab large enough that the embedding spans many generator blocks; fp32.
  std::string j = test::tiny_config_json("LlamaForCausalLM", "float32");
  j.replace(j.find("\"vocab_size\": 64"), 16, "\"vocab_size\": 9000");
  ModelConfig cfg = parse_model_config(j, "config.json");
  WeightStore ws = make_dummy_weights(cfg, 1);
  const TensorRef& e = ws.get("model.embed_tokens.weight");
  ASSERT_EQ(e.numel(), 9000 * 32);
  const float* p = static_cast<const float*>(e.data);
  // Blocks must differ from each other (not the same stream repeated).
  EXPECT_NE(std::memcmp(p, p + (1 << 16), 256), 0);
  EXPECT_EQ(ws.total_bytes(), cfg.num_params() * 4);
}

}  // namespace
}  // namespace ignis
