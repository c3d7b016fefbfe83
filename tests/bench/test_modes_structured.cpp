// `ignis bench` with a constraint on the demo model (CPU): every request carries the JSON schema
// (or regex); the saved outputs that parse as JSON are exactly those the report counts complete,
// each valid against the schema, and the others were cut at the output length; the report has
// the mask and comparison fields (--compare-unconstrained), and every mask fill is a cache hit or miss.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "schema_validate.h"

namespace fs = std::filesystem;

namespace {
const std::string kIgnis = IGNIS_BINARY_DIR "/bin/ignis";
const fs::path kDemo = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";

std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = WEXITSTATUS(::pclose(p));
  return out;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream f(p);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

const char* kSchema = R"({"type": "object", "additionalProperties": false,
  "properties": {"name": {"type": "string", "maxLength": 12}, "n": {"type": "integer", "minimum": 0, "maximum": 99},
    "kind": {"enum": ["alpha", "beta"]}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 2},
    "pos": {"type": "object", "additionalProperties": false, "properties": {"x": {"type": "number", "minimum": -1, "maximum": 1}},
            "required": ["x"]}},
  "required": ["name", "n", "kind", "pos"]})";

bool have_demo() { return fs::exists(kIgnis) && fs::exists(kDemo / "tokenizer.json"); }
}  // namespace

TEST(BenchModesStructured, JsonSchemaOutputsValidateAndReportHasMaskFields) {
  if (!have_demo()) GTEST_SKIP() << "ignis binary or models/demo/tokenizer.json (scripts/fetch-assets.sh) missing";
  const fs::path tmp = fs::temp_directory_path() / ("ignis_bench_structured_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "schema.json") << kSchema;
  const int kOut = 64, kReq = 4;
  int rc = 0;
  const std::string out = run_capture(
      kIgnis + " bench throughput --model " + kDemo.string() + " --device cpu --no-progress --num-requests " +
          std::to_string(kReq) + " --input-mean 12 --output-mean " + std::to_string(kOut) + " --json-schema " +
          (tmp / "schema.json").string() + " --compare-unconstrained --save-outputs " + (tmp / "out.jsonl").string() +
          " --json " + (tmp / "r.json").string(),
      &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("vs unconstrained"), std::string::npos) << out;

  std::ifstream rf(tmp / "r.json");
  const nlohmann::json r = nlohmann::json::parse(rf);
  EXPECT_EQ(r["completed"], kReq);
  ASSERT_TRUE(r["constraint"].is_string());
  EXPECT_NE(r["constraint"].get<std::string>().find("json_schema"), std::string::npos);
  ASSERT_TRUE(r["constraint_masks"].is_number_integer());
  ASSERT_TRUE(r["mask_cache_hits"].is_number_integer() && r["mask_cache_misses"].is_number_integer());
  // One mask per generated token (no speculation), each served from the cache or computed.
  EXPECT_EQ(r["constraint_masks"].get<int64_t>(), r["output_tokens"].get<int64_t>());
  EXPECT_EQ(r["mask_cache_hits"].get<int64_t>() + r["mask_cache_misses"].get<int64_t>(),
            r["constraint_masks"].get<int64_t>());
  EXPECT_GT(r["mask_cache_misses"].get<int64_t>(), 0);
  EXPECT_TRUE(r["mask_fill_ms_per_step"].is_number());
  EXPECT_TRUE(r["mask_fill_us_per_row"].is_number());
  EXPECT_TRUE(r["constraint_compile_ms"].is_number());
  EXPECT_GT(r["unconstrained_tpot_p50_s"].get<double>(), 0.0);
  EXPECT_TRUE(r["tpot_overhead_pct"].is_number());

  const auto outs = read_jsonl(tmp / "out.jsonl");
  ASSERT_EQ(outs.size(), size_t(kReq));
  const auto schema = ignis::test::OJson::parse(kSchema);
  int parsed = 0;
  for (const auto& o : outs) {
    const std::string text = o["text"].get<std::string>();
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text[0], '{') << text;
    auto v = ignis::test::OJson::parse(text, nullptr, false);
    if (v.is_discarded()) {  // not complete: only a length cut leaves it so
      EXPECT_EQ(o["output_tokens"].get<int>(), kOut) << text;
      continue;
    }
    ++parsed;
    EXPECT_EQ(ignis::test::validate(v, schema, schema, false), "") << text;
  }
  EXPECT_EQ(parsed, r["constraint_complete"].get<int>());
  fs::remove_all(tmp);
}

TEST(BenchModesStructured, RegexOutputsMatchWhole) {
  if (!have_demo()) GTEST_SKIP() << "ignis binary or models/demo/tokenizer.json (scripts/fetch-assets.sh) missing";
  const fs::path tmp = fs::temp_directory_path() / ("ignis_bench_regex_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  int rc = 0;
  const std::string out = run_capture(kIgnis + " bench latency --model " + kDemo.string() +
                                          " --device cpu --no-progress --num-requests 3 --input-mean 10 --output-mean 32"
                                          " --regex '[a-z]{3}-[0-9]{2}' --save-outputs " +
                                          (tmp / "out.jsonl").string() + " --json " + (tmp / "r.json").string(),
                                      &rc);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream rf(tmp / "r.json");
  const nlohmann::json r = nlohmann::json::parse(rf);
  EXPECT_EQ(r["constraint_complete"], 3);  // nothing can follow the match: every request ends there
  const auto outs = read_jsonl(tmp / "out.jsonl");
  ASSERT_EQ(outs.size(), 3u);
  for (const auto& o : outs)
    EXPECT_TRUE(std::regex_match(o["text"].get<std::string>(), std::regex("[a-z]{3}-[0-9]{2}"))) << o.dump();
  // Flag errors name the flag.
  const std::string bad = run_capture(kIgnis + " bench latency --model " + kDemo.string() +
                                          " --device cpu --compare-unconstrained --num-requests 1",
                                      &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(bad.find("--compare-unconstrained needs"), std::string::npos) << bad;
  fs::remove_all(tmp);
}
