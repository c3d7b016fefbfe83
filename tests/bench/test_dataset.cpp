// Workload generators: length statistics, determinism by seed, corpus windows, JSONL round trip, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/lib/dataset.h"
#include "core/error.h"

using namespace ignis;
using namespace ignis::bench;

namespace {
void moments(const std::vector<double>& v, double* mean, double* sd) {
  double s = 0, s2 = 0;
  for (double x : v) s += x, s2 += x * x;
  *mean = s / v.size();
  *sd = std::sqrt(s2 / v.size() - *mean * *mean);
}
}  // namespace

TEST(Dataset, SyntheticLengthStatistics) {
  SyntheticOptions o;
  o.num_requests = 4000;
  o.input = {300, 50};
  o.output = {100, 20};
  o.vocab = 1000;
  o.seed = 3;
  const auto w = synthetic_workload(o);
  ASSERT_EQ(w.size(), 4000u);
  std::vector<double> in, out;
  for (const auto& x : w) {
    in.push_back(static_cast<double>(x.prompt_ids.size()));
    out.push_back(x.output_len);
    for (int32_t t : x.prompt_ids) ASSERT_TRUE(t >= 0 && t < 1000);
  }
  double m, sd;
  moments(in, &m, &sd);
  EXPECT_NEAR(m, 300, 3 * 50 / std::sqrt(4000.0) + 0.5);  // 3 standard errors
  EXPECT_NEAR(sd, 50, 2.5);
  moments(out, &m, &sd);
  EXPECT_NEAR(m, 100, 3 * 20 / std::sqrt(4000.0) + 0.5);
  EXPECT_NEAR(sd, 20, 1.0);
}

TEST(Dataset, FixedLengthsClampAndExcludedIds) {
  SyntheticOptions o;
  o.num_requests = 50;
  o.input = {16, 0};
  o.output = {-5, 0, 1, 100};  // clamped to min 1
  o.vocab = 10;
  o.exclude_ids = {0, 1, 2, 3, 4, 5, 6, 7};
  for (const auto& x : synthetic_workload(o)) {
    EXPECT_EQ(x.prompt_ids.size(), 16u);
    EXPECT_EQ(x.output_len, 1);
    for (int32_t t : x.prompt_ids) EXPECT_TRUE(t == 8 || t == 9);
  }
  o.exclude_ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_THROW(synthetic_workload(o), Error);
}

TEST(Dataset, DeterministicInTheSeed) {
  SyntheticOptions o;
  o.num_requests = 20;
  o.input = {50, 10};
  o.output = {20, 5};
  o.seed = 42;
  const auto a = synthetic_workload(o), b = synthetic_workload(o);
  o.seed = 43;
  const auto c = synthetic_workload(o);
  std::string la, lb, lc;
  for (size_t i = 0; i < a.size(); i++) la += workload_line(a[i]), lb += workload_line(b[i]), lc += workload_line(c[i]);
  EXPECT_EQ(la, lb);
  EXPECT_NE(la, lc);
}

TEST(Dataset, CorpusWindowsAreContiguousSlices) {
  std::vector<int32_t> corpus(1000);
  for (int i = 0; i < 1000; i++) corpus[i] = i;  // a window is then an increasing run
  SyntheticOptions o;
  o.num_requests = 100;
  o.input = {64, 16, 1, 200};
  o.output = {8, 0};
  const auto w = corpus_workload(corpus, o, [](const std::vector<int32_t>& ids) { return std::to_string(ids.size()); });
  for (const auto& x : w) {
    ASSERT_FALSE(x.prompt_ids.empty());
    for (size_t i = 1; i < x.prompt_ids.size(); i++) ASSERT_EQ(x.prompt_ids[i], x.prompt_ids[i - 1] + 1);
    EXPECT_EQ(x.prompt, std::to_string(x.prompt_ids.size()));
    EXPECT_EQ(x.output_len, 8);
  }
  o.input = {2000, 0};
  EXPECT_THROW(corpus_workload(corpus, o), Error);
}

TEST(Dataset, ReadCorpusOfRealAssets) {
  const std::filesystem::path moby = IGNIS_ASSETS_DIR "/moby-dick/data/chapter_1.txt";
  const std::filesystem::path sotu = IGNIS_ASSETS_DIR "/sotu/data";
  if (!std::filesystem::exists(moby) || !std::filesystem::exists(sotu)) GTEST_SKIP() << "assets not fetched";
  EXPECT_NE(read_corpus(moby).find("Call me Ishmael"), std::string::npos);
  const std::string s = read_corpus(sotu);
  EXPECT_GT(s.size(), 1000000u);
  EXPECT_EQ(s.find("{\"year\""), std::string::npos);  // the text, not the JSON
  // Each address once (.txt and .json twins are not both read).
  const std::string first = "Fellow-Citizens of the Senate and House of Representatives: In meeting you again";
  const size_t at = s.find(first);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(s.find(first, at + 1), std::string::npos);
  // A single .json entry gives its text field.
  EXPECT_EQ(read_corpus(sotu / "1790_george_washington_n.json").rfind("Fellow-Citizens", 0), 0u);
}

TEST(Workload, JsonlRoundTripAndErrors) {
  WorkItem a;
  a.prompt_ids = {1, 2, 3};
  a.output_len = 7;
  WorkItem b;
  b.prompt = "hello \"world\"\n";
  b.output_len = 2;
  const auto path = std::filesystem::temp_directory_path() / "ignis_test_workload.jsonl";
  write_workload(path, {a, b});
  const auto r = read_workload(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].prompt_ids, a.prompt_ids);
  EXPECT_EQ(r[0].output_len, 7);
  EXPECT_EQ(r[1].prompt, b.prompt);
  std::filesystem::remove(path);

  EXPECT_THROW(parse_workload("{\"prompt_ids\": [1], \"output_len\": 0}\n", "x"), Error);
  EXPECT_THROW(parse_workload("{\"prompt_ids\": [-1], \"output_len\": 3}\n", "x"), Error);
  EXPECT_THROW(parse_workload("{\"prompt_ids\": [1]}\n", "x"), Error);
  EXPECT_THROW(parse_workload("{\"output_len\": 3}\n", "x"), Error);
  EXPECT_THROW(parse_workload("[1, 2]\n", "x"), Error);
  EXPECT_THROW(parse_workload("\n# only a comment\n", "x"), Error);
  try {
    parse_workload("{\"prompt\": \"a\", \"output_len\": 1}\n{not json\n", "w.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("w.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_workload("/nonexistent/ignis.jsonl"), Error);
}
