// CPU logits of the integer weight-only checkpoints packed by PyTorch / numpy from the published
// specifications (tools/golden/make_int4.py, run on the GPU machine: tests/data/models_int4/<name>/ in
// AWQ gemm, GPTQ and compressed-tensors pack-quantized layouts, with golden.json + golden_logits.f32 of
// transformers' fp32 forward over the dequantized weights): every folder of MANIFEST.json, relative L2
// error <= 1e-4 per sequence (weight-only: no activation rounding, only the summation order differs).
// Skips (with a message) while the data is not there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

const fs::path kDir = std::getenv("IGNIS_INT4_GOLDEN_DIR") ? fs::path(std::getenv("IGNIS_INT4_GOLDEN_DIR"))
                                                           : fs::path(IGNIS_TEST_DATA_DIR) / "models_int4";
constexpr double kTol = 1e-4;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(IntGolden, CpuLogitsMatchPyTorchDequantizedWeights) {
  if (!fs::exists(kDir / "MANIFEST.json"))
    GTEST_SKIP() << "no " << (kDir / "MANIFEST.json") << " yet: create it on the GPU machine with "
                 << "python3 tools/golden/make_int4.py --out tests/data/models_int4 --demo models/demo";
  auto manifest = nlohmann::json::parse(slurp(kDir / "MANIFEST.json"));
  int checked = 0, missing = 0;
  for (const auto& entry : manifest.at("models")) {
    const std::string name = entry.at("name").get<std::string>();
    const fs::path dir = kDir / name;
    if (!fs::exists(dir / "golden.json")) {
      std::printf("[ skipped  ] %s: folder %s is absent\n", name.c_str(), dir.string().c_str());
      ++missing;
      continue;
    }
    SCOPED_TRACE(name);
    auto g = nlohmann::json::parse(slurp(dir / "golden.json"));
    const int vocab = g.at("vocab_size").get<int>();
    const std::string raw = slurp(dir / g.at("logits_file").get<std::string>());
    ModelLoadOptions o;
    o.device = "cpu";
    LoadedModel lm = load_model(dir, o);
    Model& m = *lm.model;
    ASSERT_EQ(m.config().vocab_size, vocab);
    const int bs = 16;
    int blocks = 0;
    for (auto& s : g.at("sequences")) blocks += int(s.at("tokens").size() + bs - 1) / bs;
    m.init_kv_cache(blocks, bs);
    ForwardBatch b;
    int next = 0;
    for (auto& s : g.at("sequences")) {
      auto t = s.at("tokens").get<std::vector<int32_t>>();
      std::vector<int32_t> table;
      for (size_t i = 0; i < t.size(); i += bs) table.push_back(next++);
      b.tokens.insert(b.tokens.end(), t.begin(), t.end());
      b.seqs.push_back({0, int32_t(t.size()), table, true});
    }
    std::vector<float> out;
    m.forward(b, out);
    size_t row = 0;
    int si = 0;
    for (auto& s : g.at("sequences")) {
      const size_t n = s.at("tokens").size() * size_t(vocab), off = s.at("logits_offset").get<size_t>();
      ASSERT_LE((off + n) * 4, raw.size());
      std::vector<float> ref(n);
      std::memcpy(ref.data(), raw.data() + off * 4, n * 4);
      double d2 = 0, r2 = 0;
      for (size_t i = 0; i < n; ++i) {
        const double d = double(out[row + i]) - ref[i];
        d2 += d * d;
        r2 += double(ref[i]) * ref[i];
      }
      const double rel = std::sqrt(d2 / std::max(r2, 1e-30));
      std::printf("[   info   ] %s sequence %d: rel L2 %.3g (%s)\n", name.c_str(), si, rel,
                  m.config().quant.quantized() ? m.config().quant.linear.describe().c_str() : "dense");
      EXPECT_LE(rel, kTol) << name << " sequence " << si;
      row += n;
      ++si;
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "every folder of " << kDir << "/MANIFEST.json is absent (" << missing << ")";
}

}  // namespace
}  // namespace ignis
