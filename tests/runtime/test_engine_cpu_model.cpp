// The in-flight batching invariance test on the real CPU backend: a tiny Llama with
// seeded dummy weights (config.json written at test time). Batching, chunked prefill,
// preemption and prefix reuse must not change greedy outputs versus each request alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "engine_test_util.h"
#include "model/cpu_model.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

fs::path tiny_llama_dir() {
  fs::path dir = fs::temp_directory_path() / ("ignis_engine_cpu_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "hidden_act": "silu", "tie_word_embeddings": false, "torch_dtype": "float32",
  "bos_token_id": 1, "eos_token_id": 2
})";
  return dir;
}

std::vector<GenerateRequest> make_requests(int n) {
  std::mt19937_64 rng(11);
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::vector<int32_t> shared;
  for (int i = 0; i < 20; ++i) shared.push_back(uni(3, 95));
  std::vector<GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> p = uni(0, 1) ? shared : std::vector<int32_t>{};
    for (int k = uni(1, 30); k > 0; --k) p.push_back(uni(3, 95));
    auto r = greedy_request(p, uni(1, 16));
    r.sampling.ignore_eos = true;
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST(EngineCpuModel, BatchedOutputsEqualRunAlone) {
  fs::path dir = tiny_llama_dir();
  auto reqs = make_requests(40);

  EngineConfig alone_cfg;
  alone_cfg.kv_block_size = 8;
  alone_cfg.kv_num_blocks = 16;
  alone_cfg.enable_prefix_caching = false;
  std::vector<std::vector<int32_t>> ref;
  {
    Engine e(CpuModel::load(dir, LoadFormat::Dummy, 3), alone_cfg);
    for (auto& r : reqs) ref.push_back(collect(*e.submit(r)).tokens);
  }

  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 14;  // 112 slots: forces preemption with 8 sequences of up to 65
  cfg.max_batch_size = 8;
  cfg.max_num_tokens = 24;
  Engine e(CpuModel::load(dir, LoadFormat::Dummy, 3), cfg);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (auto& r : reqs) hs.push_back(e.submit(r));
  for (size_t i = 0; i < hs.size(); ++i) {
    Collected c = collect(*hs[i]);
    ASSERT_EQ(c.finish, FinishReason::Length) << c.error;
    EXPECT_EQ(c.tokens, ref[i]) << "request " << i;
  }
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.preemptions, 0);
  EXPECT_GT(s.prefix_cache_hits, 0);
  fs::remove_all(dir);
}

// Prefix-cache safety end to end: with a prefix hash under which every block collides, every
// lookup finds some cached block; only blocks that really hold the prompt's prefix may be reused,
// so greedy outputs still equal each request run alone without prefix caching.
TEST(EngineCpuModel, CollidingPrefixHashNeverChangesOutputs) {
  fs::path dir = tiny_llama_dir();
  auto reqs = make_requests(24);
  std::vector<int32_t> lead_prompt;
  for (int32_t t = 3; t < 23; ++t) lead_prompt.push_back(t);
  auto lead = greedy_request(lead_prompt, 4);
  lead.sampling.ignore_eos = true;
  reqs.insert(reqs.begin(), lead);  // registers the only findable block (every later block collides with it)
  reqs.push_back(lead);             // a repeated prompt: that block really holds its prefix
  EngineConfig alone_cfg;
  alone_cfg.kv_block_size = 8;
  alone_cfg.kv_num_blocks = 16;
  alone_cfg.enable_prefix_caching = false;
  std::vector<std::vector<int32_t>> ref;
  {
    Engine e(CpuModel::load(dir, LoadFormat::Dummy, 3), alone_cfg);
    for (auto& r : reqs) ref.push_back(collect(*e.submit(r)).tokens);
  }
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 64;
  cfg.kv_block_hash = [](uint64_t, std::span<const int32_t>, uint64_t) -> uint64_t { return 12345; };
  Engine e(CpuModel::load(dir, LoadFormat::Dummy, 3), cfg);
  for (size_t i = 0; i < reqs.size(); ++i) {  // one at a time: each finds the cache as the last left it
    Collected c = collect(*e.submit(reqs[i]));
    ASSERT_EQ(c.finish, FinishReason::Length) << c.error;
    EXPECT_EQ(c.tokens, ref[i]) << "request " << i;
  }
  EngineStats s = wait_idle(e);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GT(s.prefix_cache_hits, 0);  // the repeated prompt reused its confirmed first block
  EXPECT_GT(s.prefix_hash_mismatches, 0);  // and every other colliding block was refused
  fs::remove_all(dir);
}
