// config.json / generation_config.json parsing against the real hub configs
// (copied field for field from the Hugging Face model cards' config.json), the
// transformers 5.x form, and bad configs.
#include <gtest/gtest.h>

#include "helpers.h"

namespace ignis {
namespace {

using test::expect_error;

const char* kLlama2_7B = R"({"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
  "use_cache": true, "vocab_size": 32000})";

const char* kLlama3_8B = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 500000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0",
  "use_cache": true, "vocab_size": 128256})";

const char* kLlama31_8B_Instruct = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 128256})";

const char* kLlama32_1B = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";

const char* kMistral7B_v01 = R"({"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})";

const char* kQwen25_05B = R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896,
  "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
  "use_cache": true, "use_mrope": false, "use_sliding_window": false, "vocab_size": 151936})";

const char* kQwen25_7B = R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584,
  "initializer_range": 0.02, "intermediate_size": 18944, "max_position_embeddings": 131072,
  "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28,
  "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.43.1",
  "use_cache": true, "use_sliding_window": false, "use_mrope": false, "vocab_size": 152064})";

// transformers 5.x serialisation: dtype + rope_parameters (rope_theta inside).
const char* kLlama31_5x = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "bos_token_id": 128000, "dtype": "bfloat16", "eos_token_id": 128001, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
  "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"},
  "tie_word_embeddings": false, "transformers_version": "5.0.0", "use_cache": true, "vocab_size": 128256})";

const char* kQwen2_5x = R"({"architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "dtype": "float32",
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
  "layer_types": ["full_attention", "full_attention"], "max_position_embeddings": 32768,
  "max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 2,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_parameters": {"rope_theta": 1000000.0,
  "rope_type": "default"}, "sliding_window": null, "tie_word_embeddings": true, "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";

ModelConfig parse(const std::string& s) { return parse_model_config(s, "config.json"); }

TEST(Config, Llama2_7B) {
  ModelConfig c = parse(kLlama2_7B);
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.num_kv_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.dtype, DType::F16);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::None);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(c.num_params(), 6738415616);  // published size of Llama-2-7b
  EXPECT_EQ(c.kv_bytes_per_token(DType::F16), 2 * 32 * 4096 * 2);
}

TEST(Config, Llama3_8B) {
  ModelConfig c = parse(kLlama3_8B);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.kv_size(), 1024);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.num_params(), 8030261248);  // published size of Meta-Llama-3-8B
  EXPECT_EQ(c.kv_bytes_per_token(DType::BF16), 131072);  // 128 KiB per token
}

TEST(Config, Llama31RopeScaling) {
  ModelConfig c = parse(kLlama31_8B_Instruct);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
}

TEST(Config, Llama32TiedWithHeadDim) {
  ModelConfig c = parse(kLlama32_1B);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 32.0f);
  EXPECT_EQ(c.num_params(), 1235814400);  // published size of Llama-3.2-1B
  auto names = expected_tensors(c);
  for (auto& [n, s] : names) EXPECT_NE(n, "lm_head.weight");
}

TEST(Config, Mistral7BSlidingWindow) {
  ModelConfig c = parse(kMistral7B_v01);
  EXPECT_EQ(c.arch, Arch::Mistral);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.num_params(), 7241732096);  // published size of Mistral-7B-v0.1
  std::string v02 = kMistral7B_v01;
  v02.replace(v02.find("\"sliding_window\": 4096"), 22, "\"sliding_window\": null");
  EXPECT_EQ(parse(v02).sliding_window, 0);
  auto j = nlohmann::json::parse(kMistral7B_v01);
  j.erase("sliding_window");
  j.erase("rms_norm_eps");
  ModelConfig absent = parse(j.dump());
  EXPECT_EQ(absent.sliding_window, 4096);  // MistralConfig default
  EXPECT_FLOAT_EQ(absent.rms_norm_eps, 1e-6f);
}

TEST(Config, Qwen25SmallTiedBiasNoWindow) {
  ModelConfig c = parse(kQwen25_05B);
  EXPECT_EQ(c.arch, Arch::Qwen2);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window false
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_EQ(c.num_params(), 494032768);  // published size of Qwen2.5-0.5B
}

TEST(Config, Qwen25_7B) {
  ModelConfig c = parse(kQwen25_7B);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.num_params(), 7615616512);  // published size of Qwen2.5-7B
}

TEST(Config, QwenSlidingWindowAllLayers) {
  std::string s = kQwen25_05B;
  s.replace(s.find("\"use_sliding_window\": false"), 27, "\"use_sliding_window\": true ");
  s.replace(s.find("\"max_window_layers\": 24"), 23, "\"max_window_layers\": 0 ");
  EXPECT_EQ(parse(s).sliding_window, 32768);
  std::string mixed = kQwen25_05B;
  mixed.replace(mixed.find("\"use_sliding_window\": false"), 27, "\"use_sliding_window\": true ");
  mixed.replace(mixed.find("\"max_window_layers\": 24"), 23, "\"max_window_layers\": 12");
  expect_error([&] { parse(mixed); }, {"config.json", "max_window_layers", "12 of 24"});
}

TEST(Config, Transformers5Form) {
  ModelConfig c = parse(kLlama31_5x);
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.num_params(), 8030261248);
  ModelConfig q = parse(kQwen2_5x);
  EXPECT_EQ(q.dtype, DType::F32);
  EXPECT_FLOAT_EQ(q.rope_theta, 1e6f);
  EXPECT_EQ(q.rope_scaling.type, RopeScaling::Type::None);
  EXPECT_EQ(q.sliding_window, 0);
  EXPECT_EQ(q.eos_token_ids, std::vector<int>{151645});
}

TEST(Config, LinearRopeAndLegacyTypeKey) {
  std::string s = kLlama2_7B;
  s.replace(s.find("\"rope_scaling\": null"), 20, R"("rope_scaling": {"type": "linear", "factor": 4.0})");
  ModelConfig c = parse(s);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Linear);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 4.0f);
}

TEST(Config, LlamaAttentionBiasAddsOProjBias) {
  std::string s = kLlama3_8B;
  s.replace(s.find("\"attention_bias\": false"), 23, "\"attention_bias\": true ");
  ModelConfig c = parse(s);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.o_proj_bias);
  EXPECT_EQ(c.num_params(), 8030261248 + 32 * (4096 + 1024 + 1024 + 4096));
}

// Replaces the value of `field` in the Llama-3-8B config with `value` (or drops it).
std::string with_field(const std::string& field, const std::string& value) {
  auto j = nlohmann::json::parse(kLlama3_8B);
  if (value.empty()) j.erase(field);
  else j[field] = nlohmann::json::parse(value);
  return j.dump();
}

TEST(Config, BadConfigsNameTheField) {
  struct Case { std::string field, value, needle; };
  std::vector<Case> cases = {
      {"hidden_size", "", "missing required field 'hidden_size'"},
      {"vocab_size", "", "'vocab_size'"},
      {"num_hidden_layers", "0", "'num_hidden_layers'"},
      {"num_attention_heads", "-4", "'num_attention_heads'"},
      {"hidden_size", "1e12", "'hidden_size'"},
      {"vocab_size", "99999999999", "'vocab_size'"},
      {"intermediate_size", "\"14336\"", "'intermediate_size' must be an integer, got string"},
      {"num_hidden_layers", "32.5", "'num_hidden_layers' must be an integer"},
      {"num_key_value_heads", "5", "'num_key_value_heads' = 5 must divide"},
      {"num_attention_heads", "24", "'num_attention_heads' = 24 must divide hidden_size"},
      {"rms_norm_eps", "-1", "'rms_norm_eps'"},
      {"rope_theta", "\"big\"", "'rope_theta' must be a number"},
      {"architectures", "[\"GPT2LMHeadModel\"]", "unsupported architecture 'GPT2LMHeadModel'"},
      {"architectures", "\"LlamaForCausalLM\"", "'architectures' must be a non-empty array"},
      {"rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})", "unsupported rope type 'yarn'"},
      {"rope_scaling", R"({"rope_type": "llama3", "factor": 8.0})", "rope_scaling.low_freq_factor"},
      {"rope_scaling", "[1, 2]", "'rope_scaling' must be an object"},
      {"torch_dtype", "\"int4\"", "unsupported dtype 'int4'"},
      {"tie_word_embeddings", "\"yes\"", "'tie_word_embeddings' must be true or false"},
      {"eos_token_id", "[128001, \"x\"]", "eos_token_id[1]"},
      {"hidden_act", "\"gelu\"", "'hidden_act'"},
      {"max_position_embeddings", "", "'max_position_embeddings'"},
      {"head_dim", "7", "'head_dim' = 7 must be even"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.field + "=" + c.value);
    expect_error([&] { parse_model_config(with_field(c.field, c.value), "/m/config.json"); },
                 {"/m/config.json", c.needle});
  }
}

TEST(Config, NotJsonOrNotObject) {
  expect_error([] { parse_model_config("{\"hidden_size\": ", "a/config.json"); }, {"a/config.json", "not valid JSON"});
  expect_error([] { parse_model_config("[1,2]", "a/config.json"); }, {"a/config.json", "JSON object"});
  expect_error([] { parse_model_config(std::string(100, '[') , "a/config.json"); }, {"a/config.json", "nested"});
  expect_error([] { parse_model_config(R"({"vocab_size": 1, "vocab_size": 2})", "a/config.json"); },
               {"a/config.json", "duplicate key 'vocab_size'"});
}

TEST(Config, LoadFromFolder) {
  test::TempDir d;
  expect_error([&] { load_model_config(d.path); }, {d.file("config.json"), "not found"});
  expect_error([&] { load_model_config(d.path / "nope"); }, {"nope", "does not exist"});
  test::write_text(d.file("config.json"), kMistral7B_v01);
  EXPECT_EQ(load_model_config(d.path).sliding_window, 4096);
  test::write_text(d.file("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"]}");
  expect_error([&] { load_model_config(d.path); }, {d.file("config.json"), "'vocab_size'"});
}

TEST(GenerationConfig, Llama31Instruct) {
  GenerationConfig g = parse_generation_config(R"({"bos_token_id": 128000, "do_sample": true,
    "eos_token_id": [128001, 128008, 128009], "temperature": 0.6, "top_p": 0.9,
    "transformers_version": "4.42.3"})", "generation_config.json");
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
  EXPECT_EQ(g.bos_token_id, 128000);
  EXPECT_EQ(g.do_sample, true);
  EXPECT_FLOAT_EQ(*g.temperature, 0.6f);
  EXPECT_FLOAT_EQ(*g.top_p, 0.9f);
  EXPECT_FALSE(g.top_k.has_value());
}

TEST(GenerationConfig, QwenAndMissingFile) {
  GenerationConfig g = parse_generation_config(R"({"bos_token_id": 151643, "do_sample": true,
    "eos_token_id": [151645, 151643], "pad_token_id": 151643, "repetition_penalty": 1.05,
    "temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_new_tokens": 2048})", "generation_config.json");
  EXPECT_EQ(g.top_k, 20);
  EXPECT_FLOAT_EQ(*g.repetition_penalty, 1.05f);
  EXPECT_EQ(g.max_new_tokens, 2048);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{151645, 151643}));
  test::TempDir d;
  GenerationConfig none = load_generation_config(d.path);
  EXPECT_TRUE(none.eos_token_ids.empty());
  EXPECT_FALSE(none.temperature.has_value());
  test::write_text(d.file("generation_config.json"), R"({"top_k": -3})");
  expect_error([&] { load_generation_config(d.path); }, {"generation_config.json", "'top_k'"});
}

}  // namespace
}  // namespace ignis

namespace ignis {
namespace {

// The tiny checkpoints under tests/data/models were saved by transformers 5.x
// (config.json) with a hub-form twin (config.classic.json): both forms must give
// the same ModelConfig.
TEST(Config, HubAndTransformers5FormsAgreeOnCommittedCheckpoints) {
  namespace fs = std::filesystem;
  fs::path root = fs::path(IGNIS_TEST_DATA_DIR) / "models";
  if (!fs::is_directory(root)) GTEST_SKIP() << "no " << root;
  int n = 0;
  for (auto& e : fs::directory_iterator(root)) {
    fs::path classic = e.path() / "config.classic.json";
    if (!fs::exists(classic)) continue;
    SCOPED_TRACE(e.path().string());
    ModelConfig a = load_model_config(e.path());
    ModelConfig b = parse_model_config(test::read_text(classic.string()), classic.string());
    EXPECT_EQ(a.arch, b.arch);
    EXPECT_EQ(a.vocab_size, b.vocab_size);
    EXPECT_EQ(a.hidden_size, b.hidden_size);
    EXPECT_EQ(a.intermediate_size, b.intermediate_size);
    EXPECT_EQ(a.num_layers, b.num_layers);
    EXPECT_EQ(a.num_heads, b.num_heads);
    EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
    EXPECT_EQ(a.head_dim, b.head_dim);
    EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
    EXPECT_FLOAT_EQ(a.rms_norm_eps, b.rms_norm_eps);
    EXPECT_FLOAT_EQ(a.rope_theta, b.rope_theta);
    EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
    EXPECT_FLOAT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
    EXPECT_FLOAT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
    EXPECT_FLOAT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
    EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
    EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
    EXPECT_EQ(a.attention_bias, b.attention_bias);
    EXPECT_EQ(a.o_proj_bias, b.o_proj_bias);
    EXPECT_EQ(a.sliding_window, b.sliding_window);
    EXPECT_EQ(a.dtype, b.dtype);
    n++;
  }
  EXPECT_GE(n, 1);
}

}  // namespace
}  // namespace ignis
