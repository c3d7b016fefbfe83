// `ignis bench latency` with speculative decoding on the demo models (CPU): the n-gram and the
// draft-target runs against a baseline of the same workload (--compare-no-spec) report an
// acceptance rate and every greedy output identical; `ignis generate` takes the same flags.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {
const std::string kIgnis = IGNIS_BINARY_DIR "/bin/ignis";
const fs::path kDemo = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";
const fs::path kDraft = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo-draft";

std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = WEXITSTATUS(::pclose(p));
  return out;
}
}  // namespace

TEST(BenchModesSpec, CompareNoSpecOnTheDemoModels) {
  if (!fs::exists(kIgnis)) GTEST_SKIP() << "ignis binary not built";
  if (!fs::exists(kDemo / "tokenizer.json")) GTEST_SKIP() << "assets not fetched: no tokenizer for the demo models";
  const fs::path tmp = fs::temp_directory_path() / ("ignis_bench_spec_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  int rc = 0;
  std::string out = run_capture(kIgnis + " bench dataset --tokenizer " + kDemo.string() + " --corpus " +
                                    (kDemo / "heldout.txt").string() + " --num-requests 2 --input-mean 40 " +
                                    "--output-mean 16 --seed 2 -o " + (tmp / "w.jsonl").string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  for (const std::string& spec : {std::string("--speculative ngram --ngram-min 1 --ngram-max 3"),
                                 "--speculative-model " + kDraft.string(),
                                 std::string("--speculative lookahead --lookahead-window 3 --lookahead-ngram 3 "
                                             "--lookahead-verify 2")}) {
    out = run_capture(kIgnis + " bench latency --model " + kDemo.string() + " --device cpu " + spec +
                          " --num-speculative-tokens 4 --speculative-policy fixed --compare-no-spec --dataset " +
                          (tmp / "w.jsonl").string() + " --no-progress --json " + (tmp / "r.json").string(), &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("vs no speculation"), std::string::npos) << out;
    std::ifstream f(tmp / "r.json");
    const auto j = nlohmann::json::parse(f);
    EXPECT_EQ(j["completed"], 2) << out;
    EXPECT_EQ(j["greedy_compared"], 2) << out;
    EXPECT_EQ(j["greedy_identical"], 2) << out;
    EXPECT_GT(j["spec_proposed_tokens"].get<int64_t>(), 0) << out;
    EXPECT_TRUE(j["spec_acceptance_rate"].is_number()) << out;
    EXPECT_GT(j["spec_propose_ms_per_step"].get<double>(), 0.0) << out;  // the engine timed the drafting
    EXPECT_TRUE(j["speedup_vs_no_spec"].is_number()) << out;
  }
  out = run_capture(kIgnis + " generate --model " + kDemo.string() + " --device cpu --speculative-model " +
                        kDraft.string() + " --num-speculative-tokens 3 --max-tokens 16 --prompt 'def add(a, b):'", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("speculative:"), std::string::npos) << out;
  out = run_capture(kIgnis + " generate --model " + kDemo.string() + " --device cpu --speculative ngram " +
                        "--speculative-model " + kDraft.string() + " --prompt x", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("exclude each other"), std::string::npos) << out;
  out = run_capture(kIgnis + " generate --model " + kDemo.string() + " --device cpu --speculative lookahead " +
                        "--lookahead-ngram 1 --prompt x", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--lookahead-ngram must be in [2, 16]"), std::string::npos) << out;
  fs::remove_all(tmp);
}
