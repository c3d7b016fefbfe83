// `ignis info` end to end: runs the built binary on generated model folders and
// checks its report, exit status and error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "helpers.h"

namespace ignis {
namespace {

struct InfoRun {
  int status = -1;
  std::string out;  // stdout + stderr
};

InfoRun run_info(const std::string& args) {
  std::string cmd = std::string(IGNIS_BINARY_DIR) + "/bin/ignis info " + args + " 2>&1";
  InfoRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(InfoCli, ValidModel) {
  test::TempDir d;
  ModelConfig cfg = test::write_tiny_model(d, "bfloat16", true, "Qwen2ForCausalLM");
  InfoRun r = run_info("--model " + d.path.string());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Qwen2ForCausalLM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("parameters:       {} ", cfg.num_params())), std::string::npos) << r.out;
  // KV per token: 2 (K,V) * 2 layers * 2 kv heads * 8 head_dim * 2 bytes = 128 in bf16, 256 in fp32.
  EXPECT_NE(r.out.find("KV cache/token:   128 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV cache/token:   256 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("present and valid"), std::string::npos) << r.out;
}

TEST(InfoCli, DummyNeedsOnlyConfig) {
  test::TempDir d;
  test::write_text(d.file("config.json"), test::tiny_config_json());
  InfoRun r = run_info("--model " + d.path.string() + " --load-format dummy --materialize --seed 3");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("dummy, seed 3"), std::string::npos) << r.out;
}

TEST(InfoCli, ErrorsExitNonZeroWithMessage) {
  test::TempDir d;
  InfoRun missing_dir = run_info("--model " + d.file("nope"));
  EXPECT_EQ(missing_dir.status, 1);
  EXPECT_NE(missing_dir.out.find("does not exist"), std::string::npos) << missing_dir.out;

  test::write_text(d.file("config.json"), test::tiny_config_json());
  InfoRun no_weights = run_info("--model " + d.path.string());
  EXPECT_EQ(no_weights.status, 1);
  EXPECT_NE(no_weights.out.find("--load-format dummy"), std::string::npos) << no_weights.out;

  ModelConfig cfg = test::write_tiny_model(d, "float32");
  auto bytes = test::read_bytes(d.file("model.safetensors"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(d.file("model.safetensors"), bytes);
  InfoRun truncated = run_info("--model " + d.path.string());
  EXPECT_EQ(truncated.status, 1);
  EXPECT_NE(truncated.out.find("model.safetensors"), std::string::npos) << truncated.out;
  EXPECT_NE(truncated.out.find("truncated"), std::string::npos) << truncated.out;

  test::write_text(d.file("config.json"), R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3,
    "max_position_embeddings": 128})");
  InfoRun bad_config = run_info("--model " + d.path.string());
  EXPECT_EQ(bad_config.status, 1);
  EXPECT_NE(bad_config.out.find(d.file("config.json") + ": field 'num_key_value_heads' = 3 must divide"),
            std::string::npos) << bad_config.out;

  InfoRun bad_flag = run_info("--model " + d.path.string() + " --load-format gguf");
  EXPECT_NE(bad_flag.status, 0);
}

}  // namespace
}  // namespace ignis
