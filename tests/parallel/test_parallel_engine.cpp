// Tensor / pipeline parallel CPU ranks through the engine and the loader (what `ignis generate |
// serve | bench --tensor-parallel-size N --pipeline-parallel-size M` runs): greedy outputs of
// batched requests equal the single-rank model's, on a tiny test model and on models/demo; the
// loader's errors for sizes that do not fit and for the CUDA backend.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "../runtime/engine_test_util.h"
#include "core/error.h"
#include "model/parallel_model.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"

namespace ignis {
namespace {

namespace fs = std::filesystem;
using testing::collect;
using testing::greedy_request;

std::vector<std::vector<int32_t>> generate(const fs::path& dir, int tp, int pp, int n_requests, int max_tokens) {
  ModelLoadOptions o;
  o.device = "cpu";
  o.progress = false;
  o.tensor_parallel = tp;
  o.pipeline_parallel = pp;
  LoadedModel lm = load_model(dir, o, 8);
  if (tp * pp > 1) {
    auto* pm = dynamic_cast<ParallelCpuModel*>(lm.model.get());
    EXPECT_TRUE(pm && pm->tensor_parallel() == tp && pm->pipeline_parallel() == pp);
  }
  const int V = lm.model->config().vocab_size;
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 64;
  cfg.max_batch_size = 4;
  cfg.max_num_tokens = 32;  // chunked prefill beside decodes
  Engine e(std::move(lm.model), cfg);
  std::mt19937 rng(7);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < n_requests; ++i) {
    std::vector<int32_t> p;
    for (int k = 3 + 5 * i; k > 0; --k) p.push_back(int32_t(3 + rng() % uint32_t(V - 3)));
    auto r = greedy_request(p, max_tokens);
    r.sampling.ignore_eos = true;
    hs.push_back(e.submit(r));
  }
  std::vector<std::vector<int32_t>> out;
  for (auto& h : hs) {
    testing::Collected c = collect(*h, std::chrono::seconds(120));
    EXPECT_EQ(c.finish, FinishReason::Length) << c.error;
    out.push_back(c.tokens);
  }
  return out;
}

TEST(ParallelEngine, GreedyOutputsEqualOneRankTinyModel) {
  const fs::path dir = fs::path(IGNIS_TEST_DATA_DIR) / "models" / "llama";
  const auto ref = generate(dir, 1, 1, 6, 12);
  for (auto [tp, pp] : {std::pair{2, 1}, {4, 1}, {1, 2}, {2, 2}})
    EXPECT_EQ(generate(dir, tp, pp, 6, 12), ref) << "tp " << tp << " pp " << pp;
}

TEST(ParallelEngine, GreedyOutputsEqualOneRankDemoModel) {
  const fs::path demo = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";  // 3 heads, 1 KV head, 14 layers
  if (!fs::exists(demo / "config.json")) GTEST_SKIP() << "no models/demo";
  const auto ref = generate(demo, 1, 1, 3, 10);
  for (auto [tp, pp] : {std::pair{3, 1}, {1, 2}, {3, 2}})
    EXPECT_EQ(generate(demo, tp, pp, 3, 10), ref) << "tp " << tp << " pp " << pp;
}

TEST(ParallelEngine, LoaderErrors) {
  const fs::path dir = fs::path(IGNIS_TEST_DATA_DIR) / "models" / "llama";  // 4 heads, 2 layers
  auto error_of = [&](const std::string& device, int tp, int pp) -> std::string {
    ModelLoadOptions o;
    o.device = device;
    o.progress = false;
    o.tensor_parallel = tp;
    o.pipeline_parallel = pp;
    try {
      load_model(dir, o, 8);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("cuda", 2, 1).find("multi-GPU runs need NCCL ranks"), std::string::npos);
  EXPECT_NE(error_of("cuda", 1, 2).find("multi-GPU runs need NCCL ranks"), std::string::npos);
  EXPECT_NE(error_of("cpu", 3, 1).find("does not divide the model's 4 attention heads"), std::string::npos);
  EXPECT_NE(error_of("cpu", 1, 4).find("between 1 and the model's 2 layers"), std::string::npos);
  EXPECT_NE(error_of("cpu", 0, 1).find("at least 1"), std::string::npos);
}

}  // namespace
}  // namespace ignis
