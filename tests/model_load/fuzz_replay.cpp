// Replays a libFuzzer seed corpus (tests/fuzz_corpus/<target>/) through the fuzz
// target's LLVMFuzzerTestOneInput in the normal (GCC) build, so every committed
// input, including past findings, stays a regression test without clang.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

TEST(IGNIS_FUZZ_SUITE, Corpus) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(IGNIS_SOURCE_DIR) / "tests" / "fuzz_corpus" / IGNIS_FUZZ_TARGET;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), {});
    SCOPED_TRACE(e.path().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(b.data(), b.size()), 0);
    n++;
  }
  EXPECT_GE(n, 5) << "seed corpus too small: " << dir;
}
