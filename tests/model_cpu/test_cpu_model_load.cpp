// CpuModel::load end to end: a tiny checkpoint written to a temp folder (config.json in the
// transformers 5 form, bf16 tensors in two safetensors shards + index, tied embeddings, llama3
// rope) must give exactly the logits of the same weights handed over in memory; dummy weights
// load from config.json alone and are deterministic in the seed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "model/cpu_model.h"
#include "tiny_checkpoint.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

// Minimal safetensors writer (test only): 8-byte header length, JSON header, raw data.
void write_safetensors(const fs::path& path, const std::vector<const TensorRef*>& tensors) {
  nlohmann::json h = nlohmann::json::object();
  size_t off = 0;
  for (auto* t : tensors) {
    h[t->name] = {{"dtype", std::string(dtype_name(t->dtype))}, {"shape", t->shape}, {"data_offsets", {off, off + t->nbytes}}};
    off += t->nbytes;
  }
  h["__metadata__"] = {{"format", "pt"}};
  std::string hs = h.dump();
  while (hs.size() % 8) hs.push_back(' ');
  std::ofstream f(path, std::ios::binary);
  uint64_t n = hs.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(hs.data(), std::streamsize(hs.size()));
  for (auto* t : tensors) f.write(static_cast<const char*>(t->data), std::streamsize(t->nbytes));
  ASSERT_TRUE(f.good()) << path;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("ignis_cpu_model_load_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

ModelConfig llama3_tied_config() {
  ModelConfig c = test::tiny_config(Arch::Llama, 2);
  c.tie_word_embeddings = true;
  c.rope_scaling.type = RopeScaling::Type::Llama3;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.low_freq_factor = 1.0f;
  c.rope_scaling.high_freq_factor = 4.0f;
  c.rope_scaling.original_max_position_embeddings = 16;
  c.dtype = DType::BF16;
  return c;
}

void write_config(const fs::path& dir, const ModelConfig& c) {
  nlohmann::json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rms_norm_eps", c.rms_norm_eps},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"attention_bias", false},
      {"dtype", "bfloat16"},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"rope_parameters",
       {{"rope_type", "llama3"},
        {"rope_theta", c.rope_theta},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}}},
  };
  std::ofstream(dir / "config.json") << j.dump(2);
}

std::vector<float> prefill(CpuModel& m, const std::vector<int32_t>& toks) {
  m.init_kv_cache(16, 4);
  ForwardBatch b;
  b.tokens = toks;
  b.seqs.push_back({0, int32_t(toks.size()), {0, 1, 2, 3, 4, 5, 6, 7}, true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

TEST(CpuModelLoad, ShardedBf16FolderGivesTheSameLogitsAsInMemoryWeights) {
  TempDir dir;
  ModelConfig cfg = llama3_tied_config();
  WeightStore ws = test::tiny_weights(cfg, 42, DType::BF16);
  write_config(dir.path(), cfg);
  std::vector<const TensorRef*> a, b;
  nlohmann::json map = nlohmann::json::object();
  for (auto& [name, t] : ws.all()) {
    bool first = name.find("layers.1.") == std::string::npos;
    (first ? a : b).push_back(&t);
    map[name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_safetensors(dir.path() / "model-00001-of-00002.safetensors", a);
  write_safetensors(dir.path() / "model-00002-of-00002.safetensors", b);
  std::ofstream(dir.path() / "model.safetensors.index.json")
      << nlohmann::json({{"metadata", {{"total_size", 0}}}, {"weight_map", map}}).dump();

  auto loaded = CpuModel::load(dir.path());
  const ModelConfig& lc = loaded->config();
  EXPECT_EQ(lc.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_EQ(lc.rope_scaling.original_max_position_embeddings, 16);
  EXPECT_TRUE(lc.tie_word_embeddings);
  EXPECT_EQ(lc.num_kv_heads, 2);

  CpuModel mem(cfg, ws);
  auto toks = test::random_tokens(30, cfg.vocab_size, 5);  // positions past original_max_position_embeddings
  EXPECT_EQ(prefill(*loaded, toks), prefill(mem, toks));
  auto naive = test::naive_logits(cfg, ws, toks);
  auto got = prefill(mem, toks);
  for (size_t r = 0; r < toks.size(); ++r)
    ASSERT_LE(test::rel_err(got.data() + r * cfg.vocab_size, naive.data() + r * cfg.vocab_size, cfg.vocab_size), 2e-5);
}

TEST(CpuModelLoad, DummyWeightsNeedOnlyConfigAndAreSeeded) {
  TempDir dir;
  ModelConfig cfg = llama3_tied_config();
  write_config(dir.path(), cfg);
  auto toks = test::random_tokens(9, cfg.vocab_size, 6);
  auto a = prefill(*CpuModel::load(dir.path(), LoadFormat::Dummy, 1), toks);
  auto b = prefill(*CpuModel::load(dir.path(), LoadFormat::Dummy, 1), toks);
  auto c = prefill(*CpuModel::load(dir.path(), LoadFormat::Dummy, 2), toks);
  ASSERT_EQ(a.size(), toks.size() * cfg.vocab_size);
  for (float x : a) ASSERT_TRUE(std::isfinite(x));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_THROW(CpuModel::load(dir.path(), LoadFormat::Safetensors), Error);  // no weight files there
}

}  // namespace
}  // namespace ignis
