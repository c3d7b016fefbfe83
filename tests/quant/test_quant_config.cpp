// Parsing of the published FP8 checkpoint descriptions (fixtures in tests/data/quant) and every
// unsupported or malformed field: one Error naming the file and the field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "fp8_writer.h"
#include "model/config.h"
#include "model/json_util.h"
#include "quant/config.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace ignis {
namespace {

const fs::path kDir = fs::path(IGNIS_TEST_DATA_DIR) / "quant";

std::string text(const fs::path& p) { return jsonf::read_text_file(p.string()); }
ModelConfig parse(const std::string& name) { return parse_model_config(text(kDir / name), name); }

TEST(QuantConfigParse, CompressedTensorsStaticWithKv) {
  ModelConfig c = parse("ct_static_kv.config.json");
  const QuantConfig& q = c.quant;
  EXPECT_EQ(q.method, QuantConfig::Method::CompressedTensors);
  EXPECT_EQ(q.linear.weight, DType::F8_E4M3);
  EXPECT_EQ(q.linear.wscale, WeightScale::Tensor);
  EXPECT_EQ(q.linear.act, ActScale::StaticTensor);
  EXPECT_TRUE(q.kv_cache_fp8);
  EXPECT_EQ(q.ignore, std::vector<std::string>{"lm_head"});
  EXPECT_TRUE(q.targets.empty());  // "Linear": every projection
  EXPECT_EQ(q.source, "ct_static_kv.config.json");
  EXPECT_TRUE(q.spec_for("model.layers.5.self_attn.o_proj", DType::BF16).fp8());
  EXPECT_FALSE(q.spec_for("lm_head", DType::BF16).fp8());
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.hidden_size, 4096);
}

TEST(QuantConfigParse, CompressedTensorsDynamicAndBlock) {
  ModelConfig d = parse("ct_dynamic.config.json");
  EXPECT_EQ(d.quant.linear.describe(), "fp8-e4m3 (weight per channel, input dynamic per token)");
  EXPECT_FALSE(d.quant.kv_cache_fp8);
  ModelConfig b = parse("ct_block.config.json");
  EXPECT_EQ(b.quant.linear.describe(), "fp8-e4m3 (weight per 128x128 block, input dynamic per 128-group)");
  EXPECT_EQ(b.quant.weight_scale_name(), "weight_scale");
}

TEST(QuantConfigParse, ModelOptFileAndConfigJson) {
  test::TempDir dir("quant_modelopt");
  fs::copy_file(kDir / "modelopt.config.json", dir.path() / "config.json");
  fs::copy_file(kDir / "modelopt.hf_quant_config.json", dir.path() / "hf_quant_config.json");
  ModelConfig c = load_model_config(dir.path());
  EXPECT_EQ(c.quant.method, QuantConfig::Method::ModelOpt);
  EXPECT_EQ(c.quant.linear.describe(), "fp8-e4m3 (weight per tensor, input static per tensor)");
  EXPECT_TRUE(c.quant.kv_cache_fp8);
  EXPECT_EQ(c.quant.source, (dir.path() / "hf_quant_config.json").string());
  ModelConfig m = parse("modelopt_in_config.config.json");
  EXPECT_EQ(m.quant.method, QuantConfig::Method::ModelOpt);
  EXPECT_FALSE(m.quant.kv_cache_fp8);
  EXPECT_FALSE(m.quant.spec_for("model.layers.0.mlp.down_proj", DType::BF16).fp8());  // glob exclude
  EXPECT_TRUE(m.quant.spec_for("model.layers.1.mlp.down_proj", DType::BF16).fp8());
  // transformers' ModelOpt form in config.json (what tests/data/models_fp8/*_modelopt carry): the KV cache
  // as a kv_cache_scheme object, the exclusions as `ignore`.
  const fs::path ours = fs::path(IGNIS_TEST_DATA_DIR) / "models_fp8" / "llama_modelopt" / "config.json";
  if (fs::exists(ours)) {
    ModelConfig t = load_model_config(ours.parent_path());
    EXPECT_EQ(t.quant.method, QuantConfig::Method::ModelOpt);
    EXPECT_TRUE(t.quant.kv_cache_fp8);
    EXPECT_FALSE(t.quant.spec_for("lm_head", DType::BF16).fp8());
  }
  // No hf_quant_config.json: dense.
  fs::remove(dir.path() / "hf_quant_config.json");
  EXPECT_FALSE(load_model_config(dir.path()).quant.quantized());
}

TEST(QuantConfigParse, Fp8BlockAndStatic) {
  ModelConfig b = parse("fp8_block.config.json");
  EXPECT_EQ(b.quant.method, QuantConfig::Method::Fp8);
  EXPECT_EQ(b.quant.linear.describe(), "fp8-e4m3 (weight per 128x128 block, input dynamic per 128-group)");
  EXPECT_EQ(b.quant.weight_scale_name(), "weight_scale_inv");
  EXPECT_FALSE(b.quant.spec_for("lm_head", DType::BF16).fp8());  // never converted
  EXPECT_FALSE(b.quant.spec_for("model.layers.31.mlp.down_proj", DType::BF16).fp8());
  EXPECT_TRUE(b.quant.spec_for("model.layers.30.mlp.down_proj", DType::BF16).fp8());
  ModelConfig s = parse("fp8_static.config.json");
  EXPECT_EQ(s.quant.linear.describe(), "fp8-e4m3 (weight per tensor, input static per tensor)");
  EXPECT_EQ(s.quant.weight_scale_name(), "weight_scale");
}

TEST(QuantConfigParse, CliMethod) {
  EXPECT_FALSE(parse_quantization_method(""));
  EXPECT_FALSE(parse_quantization_method("none"));
  auto q = parse_quantization_method("fp8");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->method, QuantConfig::Method::OnLoad);
  EXPECT_EQ(q->linear.describe(), "fp8-e4m3 (weight per channel, input dynamic per token)");
  EXPECT_EQ(q->ignore, std::vector<std::string>{"lm_head"});
  EXPECT_THROW(parse_quantization_method("int3"), Error);
  auto i4 = parse_quantization_method("int4");
  ASSERT_TRUE(i4);
  EXPECT_EQ(i4->linear.describe(), "int4 (round to nearest on load, group 128, zero points, weight-only)");
  auto i8 = parse_quantization_method("int8-wo");
  ASSERT_TRUE(i8);
  EXPECT_EQ(i8->linear.describe(), "int8 (round to nearest on load, group 128, symmetric, weight-only)");
  EXPECT_EQ(i8->ignore, std::vector<std::string>{"lm_head"});
}

TEST(QuantConfigParse, WrittenConfigParsesBack) {
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  s.wscale = WeightScale::Channel;
  s.act = ActScale::StaticTensor;
  auto oj = compressed_tensors_config(s, {"lm_head"}, true);
  QuantConfig q = parse_quantization_config(Json::parse(oj.dump()), "written");
  EXPECT_EQ(q.method, QuantConfig::Method::CompressedTensors);
  EXPECT_EQ(q.linear, s);
  EXPECT_TRUE(q.kv_cache_fp8);
  EXPECT_EQ(q.ignore, std::vector<std::string>{"lm_head"});
}

// One mutation of a fixture's quantization_config and the words its error must contain.
struct Bad {
  const char* fixture;
  std::function<void(Json&)> mutate;
  std::vector<std::string> words;
};

void expect_error(const Bad& b) {
  Json j = Json::parse(text(kDir / b.fixture));
  b.mutate(j);
  const std::string file = std::string("bad/") + b.fixture;
  try {
    parse_model_config(j.dump(), file);
    ADD_FAILURE() << "accepted: " << j["quantization_config"].dump();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    for (const auto& w : b.words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
  }
}

TEST(QuantConfigParse, EveryUnsupportedFieldIsOneClearError) {
  auto g0 = [](Json& j) -> Json& { return j["quantization_config"]["config_groups"]["group_0"]; };
  const char* ct = "ct_static_kv.config.json";
  const std::vector<Bad> cases = {
      {ct, [&](Json& j) { g0(j)["weights"]["num_bits"] = 4; }, {"quantization_config.config_groups.group_0.weights", "4-bit"}},
      {ct, [&](Json& j) { g0(j)["weights"]["type"] = "int"; }, {"group_0.weights", "int"}},
      {ct, [&](Json& j) { g0(j)["weights"]["symmetric"] = false; }, {"group_0.weights.symmetric", "asymmetric"}},
      {ct, [&](Json& j) { g0(j)["weights"]["strategy"] = "group"; }, {"group_0.weights.strategy", "group"}},
      {ct, [&](Json& j) { g0(j)["weights"]["dynamic"] = true; }, {"group_0.weights.dynamic"}},
      {ct, [&](Json& j) { g0(j)["weights"]["strategy"] = "block"; }, {"group_0.weights.block_structure"}},
      {ct, [&](Json& j) { g0(j)["input_activations"] = nullptr; }, {"group_0.input_activations", "weight-only"}},
      {ct, [&](Json& j) { g0(j)["input_activations"]["dynamic"] = true; }, {"group_0.input_activations", "tensor"}},
      {ct, [&](Json& j) { g0(j)["input_activations"]["dynamic"] = "local"; }, {"input_activations.dynamic", "local"}},
      {ct, [&](Json& j) { g0(j)["input_activations"]["num_bits"] = 16; }, {"group_0.input_activations", "16-bit"}},
      {ct, [&](Json& j) { g0(j)["output_activations"] = g0(j)["weights"]; }, {"output_activations"}},
      {ct, [&](Json& j) { g0(j).erase("weights"); }, {"group_0.weights", "missing"}},
      {ct, [&](Json& j) { g0(j)["targets"] = Json::array(); }, {"group_0.targets"}},
      {ct, [&](Json& j) { g0(j)["format"] = "pack-quantized"; }, {"group_0.format", "pack-quantized"}},
      {ct, [&](Json& j) { j["quantization_config"]["format"] = "int-quantized"; }, {"quantization_config.format", "int-quantized"}},
      {ct, [&](Json& j) { j["quantization_config"]["config_groups"] = Json::object(); }, {"config_groups", "empty"}},
      {ct, [&](Json& j) { j["quantization_config"].erase("config_groups"); }, {"config_groups", "missing"}},
      {ct, [&](Json& j) {
         Json g = g0(j);
         g["weights"]["strategy"] = "channel";
         j["quantization_config"]["config_groups"]["group_1"] = g;
       }, {"config_groups.group_1", "different schemes"}},
      {ct, [&](Json& j) { j["quantization_config"]["kv_cache_scheme"]["type"] = "int"; }, {"kv_cache_scheme", "int"}},
      {ct, [&](Json& j) { j["quantization_config"]["kv_cache_scheme"]["strategy"] = "attn_head"; }, {"kv_cache_scheme.strategy", "attn_head"}},
      {ct, [&](Json& j) { j["quantization_config"]["kv_cache_scheme"]["dynamic"] = true; }, {"kv_cache_scheme.dynamic"}},
      {ct, [&](Json& j) { j["quantization_config"]["ignore"] = Json::array({"lm_head", "re:(oops"}); }, {"quantization_config.ignore[1]", "invalid regex"}},
      {ct, [&](Json& j) { j["quantization_config"]["ignore"] = "lm_head"; }, {"quantization_config.ignore", "array"}},
      {ct, [&](Json& j) { j["quantization_config"]["sparsity_config"] = {{"format", "sparse-24"}}; }, {"sparsity_config", "sparse"}},
      {ct, [&](Json& j) { j["quantization_config"]["transform_config"] = {{"config_groups", 1}}; }, {"transform_config"}},
      {ct, [&](Json& j) { j["quantization_config"]["quant_method"] = "bitsandbytes"; }, {"quantization_config.quant_method", "bitsandbytes"}},
      {ct, [&](Json& j) { j["quantization_config"]["quant_method"] = "awq"; }, {"quantization_config.bits", "missing"}},
      {ct, [&](Json& j) { j["quantization_config"].erase("quant_method"); }, {"quantization_config.quant_method", "missing"}},
      {ct, [&](Json& j) { j["quantization_config"] = "fp8"; }, {"quantization_config", "object"}},
      {"modelopt_in_config.config.json", [&](Json& j) { j["quantization_config"]["quant_algo"] = "NVFP4"; }, {"quantization_config.quant_algo", "NVFP4"}},
      {"modelopt_in_config.config.json", [&](Json& j) { j["quantization_config"]["kv_cache_quant_algo"] = "INT8"; }, {"kv_cache_quant_algo", "INT8"}},
      {"modelopt_in_config.config.json", [&](Json& j) { j["quantization_config"].erase("quant_algo"); }, {"quant_algo", "missing"}},
      {"fp8_block.config.json", [&](Json& j) { j["quantization_config"]["fmt"] = "e5m2"; }, {"quantization_config.fmt", "e5m2"}},
      {"fp8_block.config.json", [&](Json& j) { j["quantization_config"]["activation_scheme"] = "static"; }, {"activation_scheme", "dynamic"}},
      {"fp8_block.config.json", [&](Json& j) { j["quantization_config"]["weight_block_size"] = {128}; }, {"weight_block_size"}},
      {"fp8_block.config.json", [&](Json& j) { j["quantization_config"]["weight_block_size"] = {128, 0}; }, {"weight_block_size[1]"}},
      {"fp8_block.config.json", [&](Json& j) { j["quantization_config"]["activation_scheme"] = "per-token"; }, {"activation_scheme", "per-token"}},
      {"fp8_static.config.json", [&](Json& j) { j["quantization_config"]["ignored_layers"] = {1}; }, {"ignored_layers[0]", "string"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    expect_error(cases[i]);
  }
}

TEST(QuantConfigParse, HfQuantConfigErrors) {
  auto bad = [](const std::string& body, const std::vector<std::string>& words) {
    try {
      parse_hf_quant_config(Json::parse(body), "dir/hf_quant_config.json");
      ADD_FAILURE() << "accepted " << body;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("dir/hf_quant_config.json"), std::string::npos) << m;
      for (auto& w : words) EXPECT_NE(m.find(w), std::string::npos) << w << " not in " << m;
    }
  };
  bad(R"({"producer": {"name": "modelopt"}})", {"quantization", "missing"});
  bad(R"({"quantization": {"quant_algo": "W4A16_AWQ"}})", {"quantization.quant_algo", "W4A16_AWQ"});
  bad(R"({"quantization": {"quant_algo": "FP8", "exclude_modules": [3]}})", {"quantization.exclude_modules[0]"});
  bad(R"({"producer": {"name": "other"}, "quantization": {"quant_algo": "FP8"}})", {"producer.name", "other"});
  bad(R"([1, 2])", {"top level"});
  // ModelOpt's per-channel / per-token FP8 is understood.
  QuantConfig q = parse_hf_quant_config(Json::parse(R"({"quantization": {"quant_algo": "FP8_PER_CHANNEL_PER_TOKEN"}})"), "f");
  EXPECT_EQ(q.linear.describe(), "fp8-e4m3 (weight per channel, input dynamic per token)");
}

TEST(QuantConfigParse, IntegerWeightOnlyLayouts) {
  QuantConfig a = parse_quantization_config(Json::parse(R"({"quant_method": "awq", "bits": 4, "group_size": 128,
      "zero_point": true, "version": "GEMM", "modules_to_not_convert": ["visual"]})"), "awq.json");
  EXPECT_EQ(a.method, QuantConfig::Method::Awq);
  EXPECT_EQ(a.linear.describe(), "int4 (awq gemm, group 128, zero points, weight-only)");
  EXPECT_TRUE(a.ignored("lm_head"));
  EXPECT_TRUE(a.ignored("visual.blocks.0"));
  EXPECT_TRUE(a.spec_for("model.layers.0.mlp.down_proj", DType::BF16).wint());
  QuantConfig g = parse_quantization_config(Json::parse(R"({"quant_method": "gptq", "bits": 8, "group_size": -1,
      "desc_act": true, "sym": false, "checkpoint_format": "gptq", "lm_head": true})"), "gptq.json");
  EXPECT_EQ(g.linear.describe(), "int8 (gptq, per channel, zero points, act order, weight-only)");
  EXPECT_FALSE(g.ignored("lm_head"));
  EXPECT_EQ(g.linear.group_size(4096), 4096);
  QuantConfig c = parse_quantization_config(Json::parse(R"({"quant_method": "compressed-tensors",
      "format": "pack-quantized", "ignore": ["lm_head"], "config_groups": {"group_0": {"targets": ["Linear"],
      "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 128,
      "actorder": "weight"}, "input_activations": null}}})"), "ct.json");
  EXPECT_EQ(c.method, QuantConfig::Method::CompressedTensors);
  EXPECT_EQ(c.linear.describe(), "int4 (compressed-tensors pack-quantized, group 128, symmetric, weight-only)");
  EXPECT_FALSE(c.spec_for("lm_head", DType::BF16).quantized());
  auto bad = [](const std::string& body, const std::vector<std::string>& words) {
    try {
      parse_quantization_config(Json::parse(body), "bad.json");
      ADD_FAILURE() << "accepted " << body;
    } catch (const Error& e) {
      std::string m = e.what();
      for (auto& w : words) EXPECT_NE(m.find(w), std::string::npos) << w << " not in " << m;
    }
  };
  bad(R"({"quant_method": "awq", "bits": 4, "group_size": 0})", {"quantization_config.group_size"});
  bad(R"({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "exllama"})", {"quantization_config.version"});
  bad(R"({"quant_method": "gptq", "bits": 4, "group_size": 128, "checkpoint_format": "marlin"})",
      {"quantization_config.checkpoint_format", "marlin"});
  bad(R"({"quant_method": "gptq", "bits": 2, "group_size": 128})", {"quantization_config.bits", "2-bit"});
  bad(R"({"quant_method": "gptq", "bits": 4})", {"quantization_config.group_size", "missing"});
  bad(R"({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": "yes"})", {"quantization_config.desc_act"});
  bad(R"({"quant_method": "exl2", "bits": 4})", {"exl2"});
  bad(R"({"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": {"targets":
      ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "channel", "actorder": "group"}}}})",
      {"config_groups.g.weights.actorder", "group"});
  bad(R"({"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": {"targets":
      ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "group"}}}})",
      {"config_groups.g.weights.group_size", "missing"});
}

}  // namespace
}  // namespace ignis
