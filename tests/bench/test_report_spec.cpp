// The speculative-decoding part of the bench report: acceptance rate, mean accepted tokens per
// verified sequence-step, and the comparison with a baseline run (speedup, identical greedy outputs).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/lib/report.h"

using namespace ignis::bench;

namespace {
std::vector<RequestRecord> recs(double duration, std::vector<std::vector<int32_t>> outs) {
  std::vector<RequestRecord> v;
  for (auto& o : outs) {
    RequestRecord r;
    r.arrival = 0;
    r.first_token = 0.1;
    r.finish = duration;
    r.output_tokens = int(o.size());
    r.prompt_tokens = 4;
    for (size_t i = 0; i < o.size(); ++i) r.token_times.push_back(0.1 + double(i) * 0.01);
    r.output_ids = o;
    v.push_back(r);
  }
  return v;
}
}  // namespace

TEST(ReportSpec, AcceptanceSpeedupAndIdenticalOutputs) {
  EngineObservations o;
  o.spec_method = "draft";
  o.spec_steps = 10;
  o.spec_sequences = 20;
  o.spec_proposed = 80;
  o.spec_accepted = 50;
  o.spec_propose_ns = 30'000'000;  // 30 ms over 10 verified steps
  const auto spec_recs = recs(1.0, {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 9}});
  const auto base_recs = recs(2.0, {{1, 2, 3, 4}, {5, 6, 0, 8}, {9, 9}});
  Report r = compute_report("latency", spec_recs, o);
  const Report base = compute_report("latency", base_recs);
  ASSERT_TRUE(r.spec_acceptance_rate && r.spec_mean_accepted && r.spec_steps);
  EXPECT_DOUBLE_EQ(*r.spec_acceptance_rate, 50.0 / 80.0);
  EXPECT_DOUBLE_EQ(*r.spec_mean_accepted, 2.5);
  ASSERT_TRUE(r.spec_propose_ms_per_step.has_value());
  EXPECT_DOUBLE_EQ(*r.spec_propose_ms_per_step, 3.0);
  EXPECT_FALSE(r.speedup.has_value());
  add_baseline(r, base, spec_recs, base_recs, /*greedy=*/true);
  ASSERT_TRUE(r.speedup && r.greedy_identical && r.greedy_compared);
  EXPECT_DOUBLE_EQ(*r.speedup, 2.0);
  EXPECT_EQ(*r.greedy_identical, 2);
  EXPECT_EQ(*r.greedy_compared, 3);
  const std::string t = format_table(r);
  EXPECT_NE(t.find("speculative (draft)     acceptance 62.5 % (50 of 80 proposed), 2.50 accepted"), std::string::npos) << t;
  EXPECT_NE(t.find("vs no speculation     2.000 x output tokens/s"), std::string::npos) << t;
  EXPECT_NE(t.find("drafting              3.00 ms per verified step (3.0 % of the run)"), std::string::npos) << t;
  EXPECT_NE(t.find("greedy output         2 of 3 requests identical"), std::string::npos) << t;
  const auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["speculative_method"], "draft");
  EXPECT_DOUBLE_EQ(j["spec_acceptance_rate"].get<double>(), 0.625);
  EXPECT_DOUBLE_EQ(j["spec_mean_accepted_per_step"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["spec_propose_ms_per_step"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["speedup_vs_no_spec"].get<double>(), 2.0);
  EXPECT_EQ(j["greedy_identical"], 2);
  EXPECT_EQ(j["greedy_compared"], 3);
  // Sampled runs: a speedup but no identity count; no speculation: nulls and no table line.
  Report s = compute_report("latency", spec_recs, o);
  add_baseline(s, base, spec_recs, base_recs, false);
  EXPECT_TRUE(s.speedup.has_value());
  EXPECT_FALSE(s.greedy_identical.has_value());
  const Report none = compute_report("latency", base_recs);
  EXPECT_EQ(format_table(none).find("speculative"), std::string::npos);
  EXPECT_TRUE(nlohmann::json::parse(to_json(none))["spec_acceptance_rate"].is_null());
}
