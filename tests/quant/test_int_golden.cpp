// CPU logits of the integer weight-only checkpoints packed by PyTorch / numpy from the published
// specifications (tools/golden/make_int4.py, run on the GPU machine: tests/data/models_int4/<name>/ in
// AWQ gemm, GPTQ and compressed-tensors pack-quantized layouts, with golden.json + golden_logits.f32 of
// transformers' fp32 forward over the dequantized weights): every folder of MANIFEST.json, relative L2
// error <= 1e-4 per sequence (weight-only: no activation rounding, only the summation order differs).
// Skips (with a message) while the data is not there.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "golden_logits.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

const fs::path kDir = std::getenv("IGNIS_INT4_GOLDEN_DIR") ? fs::path(std::getenv("IGNIS_INT4_GOLDEN_DIR"))
                                                           : fs::path(IGNIS_TEST_DATA_DIR) / "models_int4";
constexpr double kTol = 1e-4;

TEST(IntGolden, CpuLogitsMatchPyTorchDequantizedWeights) {
  if (!fs::exists(kDir / "MANIFEST.json"))
    GTEST_SKIP() << "no " << (kDir / "MANIFEST.json") << " yet: create it on the GPU machine with "
                 << "python3 tools/golden/make_int4.py --out tests/data/models_int4 --demo models/demo";
  golden::Result r = golden::run_goldens(kDir, [](const std::string& name, const std::string& what, const golden::Sequence& s) {
    const double rel = golden::rel_l2(s.got, s.ref.data(), s.ref.size());
    std::printf("[   info   ] %s sequence %d: rel L2 %.3g (%s)\n", name.c_str(), s.index, rel, what.c_str());
    EXPECT_LE(rel, kTol) << name << " sequence " << s.index;
  });
  if (r.checked == 0) GTEST_SKIP() << "every folder of " << kDir << "/MANIFEST.json is absent (" << r.missing << ")";
}

}  // namespace
}  // namespace ignis
