// Hostile and malformed checkpoints, each generated here in a temp folder: every
// one must give one ignis::Error that names the file and the tensor or field.
#include <gtest/gtest.h>

#include "helpers.h"

namespace ignis {
namespace {

using test::expect_error;
using test::TempDir;

std::vector<uint8_t> with_len(uint64_t n, const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
  for (int i = 0; i < 8; i++) b[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}
std::vector<uint8_t> raw(const std::string& header, size_t data_bytes) {
  return with_len(header.size(), header, data_bytes);
}

// Writes bytes as dir/model.safetensors and loads it as a model of the tiny config.
void load_raw(const TempDir& d, const std::vector<uint8_t>& bytes) {
  test::write_text(d.file("config.json"), test::tiny_config_json());
  test::write_bytes(d.file("model.safetensors"), bytes);
  ModelConfig cfg = load_model_config(d.path);
  WeightStore::load(d.path, cfg);
}

const std::string kTwo = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]})";

TEST(Hostile, HeaderLengthBiggerThanFile) {
  TempDir d;
  auto b = with_len(5000, "{" + kTwo + "}", 16);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "header length 5000 exceeds the file size"});
}

TEST(Hostile, HeaderLengthHuge) {
  TempDir d;
  for (uint64_t n : {uint64_t(1) << 63, ~uint64_t(0), uint64_t(1) << 40}) {
    auto b = with_len(n, "{" + kTwo + "}", 16);
    expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "is absurd"});
  }
}

TEST(Hostile, TinyFiles) {
  TempDir d;
  expect_error([&] { load_raw(d, {}); }, {d.file("model.safetensors"), "truncated"});
  expect_error([&] { load_raw(d, {1, 0, 0}); }, {d.file("model.safetensors"), "truncated"});
  expect_error([&] { load_raw(d, with_len(0, "", 0)); }, {d.file("model.safetensors"), "JSON object"});
}

TEST(Hostile, HeaderNotJson) {
  TempDir d;
  expect_error([&] { load_raw(d, raw("{\"a\": {\"dtype\": \"F32\", ", 0)); }, {d.file("model.safetensors"), "not valid JSON"});
  expect_error([&] { load_raw(d, raw("[1, 2, 3]", 0)); }, {d.file("model.safetensors"), "JSON object"});
  expect_error([&] { load_raw(d, raw("{" + std::string(200, '[') + "}", 0)); }, {d.file("model.safetensors")});
}

TEST(Hostile, OverlappingOffsets) {
  TempDir d;
  auto b = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "tensor 'b'", "overlap tensor 'a'"});
}

TEST(Hostile, OutOfRangeOffsets) {
  TempDir d;
  auto b = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})", 16);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "tensor 'b'", "past the end"});
  auto huge = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [18446744073709551608, 18446744073709551615]}})", 0);
  expect_error([&] { load_raw(d, huge); }, {d.file("model.safetensors"), "tensor 'a'"});
  auto neg = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 0);
  expect_error([&] { load_raw(d, neg); }, {d.file("model.safetensors"), "tensor 'a'", "data_offsets[0]"});
  auto backwards = raw(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8);
  expect_error([&] { load_raw(d, backwards); }, {d.file("model.safetensors"), "tensor 'a'", "begin after end"});
}

TEST(Hostile, GapsAndUncoveredBytes) {
  TempDir d;
  auto gap = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12);
  expect_error([&] { load_raw(d, gap); }, {d.file("model.safetensors"), "tensor 'a'", "gap"});
  auto tail = raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 12);
  expect_error([&] { load_raw(d, tail); }, {d.file("model.safetensors"), "not covered"});
}

TEST(Hostile, UnknownDtype) {
  TempDir d;
  auto b = raw(R"({"model.norm.weight": {"dtype": "Q4_K", "shape": [2], "data_offsets": [0, 8]}})", 8);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "tensor 'model.norm.weight'", "unknown dtype 'Q4_K'"});
}

TEST(Hostile, ShapeDoesNotMatchDataSize) {
  TempDir d;
  auto b = raw(R"({"w": {"dtype": "BF16", "shape": [3, 3], "data_offsets": [0, 16]}})", 16);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "tensor 'w'", "needs 18 bytes"});
  auto bad_dim = raw(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}})", 8);
  expect_error([&] { load_raw(d, bad_dim); }, {d.file("model.safetensors"), "tensor 'w'", "shape[1]"});
  auto frac = raw(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8);
  expect_error([&] { load_raw(d, frac); }, {d.file("model.safetensors"), "tensor 'w'", "shape[0]"});
  auto overflow = raw(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]}})", 8);
  expect_error([&] { load_raw(d, overflow); }, {d.file("model.safetensors"), "tensor 'w'"});
  auto str_off = raw(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": ["0", 8]}})", 8);
  expect_error([&] { load_raw(d, str_off); }, {d.file("model.safetensors"), "tensor 'w'", "data_offsets[0]"});
}

TEST(Hostile, DuplicateTensorName) {
  TempDir d;
  auto b = raw(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 16);
  expect_error([&] { load_raw(d, b); }, {d.file("model.safetensors"), "duplicate key 'w'"});
}

TEST(Hostile, TruncatedValidFile) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "bfloat16");
  auto bytes = test::read_bytes(d.file("model.safetensors"));
  bytes.resize(bytes.size() - 100);
  test::write_bytes(d.file("model.safetensors"), bytes);
  expect_error([&] { WeightStore::load(d.path, cfg); }, {d.file("model.safetensors"), "lm_head.weight", "truncated"});
}

TEST(Hostile, TensorShapeDoesNotMatchConfig) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "float32");
  auto t = test::model_tensors(cfg, DType::F32);
  for (auto& x : t)
    if (x.name == "model.layers.1.self_attn.k_proj.weight") x.shape = {8, 32}, x.bytes.resize(8 * 32 * 4);
  write_safetensors(d.file("model.safetensors"), t);
  expect_error([&] { WeightStore::load(d.path, cfg); },
               {d.file("model.safetensors"), "model.layers.1.self_attn.k_proj.weight", "[8, 32]", "expected [16, 32]"});
}

TEST(Hostile, MissingTensor) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "float16");
  auto t = test::model_tensors(cfg, DType::F16);
  std::erase_if(t, [](auto& x) { return x.name == "model.layers.0.mlp.up_proj.weight"; });
  write_safetensors(d.file("model.safetensors"), t);
  expect_error([&] { WeightStore::load(d.path, cfg); },
               {d.path.string(), "missing tensor 'model.layers.0.mlp.up_proj.weight'", "[48, 32]"});
}

TEST(Hostile, WrongTensorDtype) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "float32");
  auto t = test::model_tensors(cfg, DType::F32);
  for (auto& x : t)
    if (x.name == "model.norm.weight") x.dtype = DType::I32;
  write_safetensors(d.file("model.safetensors"), t);
  expect_error([&] { WeightStore::load(d.path, cfg); }, {d.file("model.safetensors"), "model.norm.weight", "dtype I32"});
}

TEST(Hostile, IndexProblems) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "float32");
  std::filesystem::rename(d.file("model.safetensors"), d.file("shard-a.safetensors"));
  nlohmann::json idx = {{"weight_map", nlohmann::json::object()}};
  for (auto& [n, s] : expected_tensors(cfg)) idx["weight_map"][n] = "shard-a.safetensors";
  idx["weight_map"]["model.layers.0.extra"] = "shard-a.safetensors";
  test::write_text(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { WeightStore::load(d.path, cfg); },
               {"model.safetensors.index.json", "model.layers.0.extra", "does not contain it"});
  idx["weight_map"]["model.layers.0.extra"] = "shard-b.safetensors";
  test::write_text(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { WeightStore::load(d.path, cfg); },
               {"model.safetensors.index.json", "shard-b.safetensors", "model.layers.0.extra", "not found"});
  test::write_text(d.file("model.safetensors.index.json"), "{\"weight_map\": ");
  expect_error([&] { WeightStore::load(d.path, cfg); }, {"model.safetensors.index.json", "not valid JSON"});
}

TEST(Hostile, TensorInTwoShards) {
  TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "float32");
  auto t = test::model_tensors(cfg, DType::F32);
  write_safetensors(d.file("s1.safetensors"), t);
  write_safetensors(d.file("s2.safetensors"), {t[0]});
  nlohmann::json idx = {{"weight_map", nlohmann::json::object()}};
  for (auto& x : t) idx["weight_map"][x.name] = "s1.safetensors";
  idx["weight_map"]["model.embed_tokens.weight"] = "s2.safetensors";
  test::write_text(d.file("model.safetensors.index.json"), idx.dump());
  expect_error([&] { WeightStore::load(d.path, cfg); }, {"model.embed_tokens.weight", "another shard"});
}

}  // namespace
}  // namespace ignis
