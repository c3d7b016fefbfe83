// GPU (label gpu, skips without a device): every integer weight-only layout of the tiny llama (written
// by int_writer) and --quantization int4 / int8-wo run on the CUDA backend (dequantized to bf16 at
// upload) and stay close to the CPU reference: relative error of the logits < 3e-2 (bf16 compute), the
// argmax of nearly every row the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "cuda/device_buffer.h"
#include "fp8_writer.h"
#include "int_writer.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

std::vector<float> logits(Model& m, const std::vector<int32_t>& toks) {
  m.init_kv_cache(8, 16);
  ForwardBatch b;
  b.tokens = toks;
  b.seqs.push_back({0, int32_t(toks.size()), {0, 1, 2}, true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

void compare(const fs::path& dir, const std::string& quantization, const std::string& what) {
  SCOPED_TRACE(what);
  ModelLoadOptions o;
  o.seed = 5;
  o.quantization = quantization;
  o.progress = false;
  o.device = "cpu";
  LoadedModel cpu = load_model(dir, o);
  o.device = "cuda";
  o.max_num_tokens = 64;
  o.max_batch_size = 8;
  o.kv_cache_fraction = 0.05;
  LoadedModel gpu = load_model(dir, o);
  const int V = cpu.model->config().vocab_size;
  const auto toks = test::random_tokens(33, V, 17);
  const std::vector<float> a = logits(*gpu.model, toks), r = logits(*cpu.model, toks);
  ASSERT_EQ(a.size(), r.size());
  EXPECT_LT(test::rel_err(a.data(), r.data(), a.size()), 3e-2);
  int same = 0;
  const int rows = int(toks.size());
  for (int i = 0; i < rows; ++i) {
    const float* x = a.data() + size_t(i) * V;
    const float* y = r.data() + size_t(i) * V;
    same += std::max_element(x, x + V) - x == std::max_element(y, y + V) - y;
  }
  EXPECT_GE(same, rows - 2);
}

TEST(GpuInt, EveryLayoutAndOnLoadMatchTheCpuReference) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped";
  const fs::path base = fs::path(IGNIS_TEST_DATA_DIR) / "models" / "llama";
  for (test::IntFormat f : test::all_int_formats()) {
    test::TempDir dir(std::string("gpuint_") + test::int_format_name(f));
    test::write_int_folder(base, dir.path(), f);
    compare(dir.path(), "", test::int_format_name(f));
  }
  compare(base, "int4", "--quantization int4");
  compare(base, "int8-wo", "--quantization int8-wo");
}

}  // namespace
}  // namespace ignis
