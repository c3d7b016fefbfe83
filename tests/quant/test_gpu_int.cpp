// GPU (label gpu, skips without a device): every integer weight-only layout of the tiny llama (written
// by int_writer) and --quantization int4 / int8-wo run on the CUDA backend (dequantized to bf16 at
// upload) and stay close to the CPU reference: relative error of the logits < 3e-2 (bf16 compute), the
// argmax of nearly every row the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cuda/device_buffer.h"
#include "fp8_writer.h"
#include "int_writer.h"
#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

std::vector<float> logits(Model& m, const std::vector<int32_t>& toks, int chunk = 0) {
  if (chunk > 0) {  // prefill in passes of `chunk` tokens (the projections run on that many rows)
    m.init_kv_cache(16, 16);
    std::vector<float> all, out;
    for (size_t p = 0; p < toks.size(); p += size_t(chunk)) {
      ForwardBatch b;
      const size_t e = std::min(toks.size(), p + size_t(chunk));
      b.tokens.assign(toks.begin() + long(p), toks.begin() + long(e));
      b.seqs.push_back({int32_t(p), int32_t(e - p), {0, 1, 2, 3, 4, 5, 6, 7}, true});
      m.forward(b, out);
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  }
  m.init_kv_cache(8, 16);
  ForwardBatch b;
  b.tokens = toks;
  b.seqs.push_back({0, int32_t(toks.size()), {0, 1, 2}, true});
  std::vector<float> out;
  m.forward(b, out);
  return out;
}

// Default: the integer GEMV up to 64 rows, the dequantized scratch beyond; WithGemm: the mixed-input GEMM
// for 17..256 rows (Hopper); None: every pass on the dequantized scratch and cuBLASLt.
enum class IntKernels { Default, WithGemm, None };

void compare(const fs::path& dir, const std::string& quantization, const std::string& what, bool dummy = false,
             int n_tokens = 33, int chunk = 0, IntKernels kernels = IntKernels::Default) {
  SCOPED_TRACE(what);
  ModelLoadOptions o;
  o.gemv = kernels != IntKernels::None;
  o.int_gemm = kernels == IntKernels::WithGemm;
  if (dummy) o.load_format = LoadFormat::Dummy;
  o.seed = 5;
  o.quantization = quantization;
  o.progress = false;
  o.device = "cpu";
  LoadedModel cpu = load_model(dir, o);
  o.device = "cuda";
  o.max_num_tokens = 128;
  o.max_batch_size = 8;
  o.kv_cache_fraction = 0.05;
  LoadedModel gpu = load_model(dir, o);
  const int V = cpu.model->config().vocab_size;
  const auto toks = test::random_tokens(n_tokens, V, 17);
  const std::vector<float> a = logits(*gpu.model, toks, chunk), r = logits(*cpu.model, toks, chunk);
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

namespace ignis {
namespace {

// A llama whose projections the integer GEMV takes (k and groups multiples of 128): 4- and 8-bit
// on-load quantization of seeded dummy weights, passes of 1, 5, 12, 33 and 64 rows (every column-tile
// count of the GEMV) and of 100 rows (the dequantized scratch and the dense GEMM); 33, 64 and 100 rows
// again on the mixed-input GEMM (Hopper), and 100 rows with the integer kernels off.
TEST(GpuInt, IntegerGemvPathMatchesTheCpuReference) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped";
  test::TempDir dir("gpuint_gemv");
  {
    std::ofstream f(dir.path() / "config.json");
    f << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
      "intermediate_size": 768, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 64, "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
      "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";
  }
  for (const char* qz : {"int4", "int8-wo"}) {
    for (int chunk : {1, 5, 12, 33, 64, 100})
      compare(dir.path(), qz, std::string(qz) + " passes of " + std::to_string(chunk), true, chunk == 1 ? 9 : 100,
              chunk);
    for (int chunk : {33, 64, 100})
      compare(dir.path(), qz, std::string(qz) + " GEMM passes of " + std::to_string(chunk), true, 100, chunk,
              IntKernels::WithGemm);
    compare(dir.path(), qz, std::string(qz) + " dense passes of 100", true, 100, 100, IntKernels::None);
  }
}

}  // namespace
}  // namespace ignis
