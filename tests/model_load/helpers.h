// Helpers for the model-loading tests: temp folders, tiny configs, a tiny valid
// checkpoint writer, and an assertion that a call throws ignis::Error naming things.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace ignis::test {

namespace fs = std::filesystem;

// A fresh empty folder under the temp dir, removed at destruction.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    std::random_device rd;
    path = fs::temp_directory_path() / ("ignis_load_" + std::to_string(rd()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Calls fn, expects an ignis::Error whose message contains every needle.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected ignis::Error containing '" << (needles.empty() ? "" : needles[0]) << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg << "\nmissing: " << n;
  }
}

// A tiny Llama-family config (GQA 4 heads / 2 kv heads, head_dim 8).
inline std::string tiny_config_json(const std::string& arch = "LlamaForCausalLM", const std::string& dtype = "float32",
                                    bool tie = false) {
  return std::string(R"({"architectures": [")") + arch + R"("], "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "torch_dtype": ")" +
         dtype + R"(", "tie_word_embeddings": )" + (tie ? "true" : "false") + "}";
}

// Bytes of `numel` values of dtype t, from a deterministic sequence.
inline std::vector<uint8_t> tensor_bytes(DType t, int64_t numel, uint32_t seed, std::vector<float>* values = nullptr) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.5f);
  std::vector<uint8_t> b(size_t(numel) * dtype_size(t));
  for (int64_t i = 0; i < numel; i++) {
    float x = nd(rng);
    if (t == DType::F32) {
      std::memcpy(&b[size_t(i) * 4], &x, 4);
    } else {
      uint16_t h = t == DType::BF16 ? f32_to_bf16(x) : f32_to_f16(x);
      std::memcpy(&b[size_t(i) * 2], &h, 2);
    }
    if (values) values->push_back(x);
  }
  return b;
}

// All expected tensors of `cfg`, filled deterministically, in dtype t.
inline std::vector<SafetensorsWriteTensor> model_tensors(const ModelConfig& cfg, DType t) {
  std::vector<SafetensorsWriteTensor> out;
  uint32_t seed = 1;
  for (auto& [name, shape] : expected_tensors(cfg)) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    out.push_back({name, t, shape, tensor_bytes(t, n, seed++)});
  }
  return out;
}

// Writes config.json + model.safetensors for the tiny config into dir.
inline ModelConfig write_tiny_model(const TempDir& dir, const std::string& dtype = "float32", bool tie = false,
                                    const std::string& arch = "LlamaForCausalLM") {
  write_text(dir.file("config.json"), tiny_config_json(arch, dtype, tie));
  ModelConfig cfg = load_model_config(dir.path);
  write_safetensors(dir.file("model.safetensors"), model_tensors(cfg, cfg.dtype));
  return cfg;
}

}  // namespace ignis::test
