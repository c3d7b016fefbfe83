// Report arithmetic on a synthetic trace with known timings: every number checked by hand.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/lib/report.h"

using namespace ignis::bench;

namespace {
RequestRecord rec(double arrival, std::vector<double> tokens, double finish, int prompt, bool ok = true) {
  RequestRecord r;
  r.arrival = arrival;
  r.token_times = tokens;
  r.first_token = tokens.empty() ? finish : tokens[0];
  r.finish = finish;
  r.prompt_tokens = prompt;
  r.output_tokens = static_cast<int>(tokens.size());
  r.ok = ok;
  if (!ok) r.error = "boom";
  return r;
}
// A: 3 tokens, B: 2 tokens, C: 1 token, D: failed.
std::vector<RequestRecord> trace() {
  return {rec(0.0, {1.0, 1.5, 2.5}, 2.5, 10), rec(0.5, {2.0, 3.0}, 3.0, 20), rec(1.0, {1.25}, 1.25, 5),
          rec(2.0, {}, 4.0, 7, false)};
}
}  // namespace

TEST(Percentile, NumpyLinearMethod) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 25), 1.75);  // numpy.percentile([1,2,3,4], 25)
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 90), 3.7);
  EXPECT_DOUBLE_EQ(percentile({10}, 99), 10);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(percentile({5, 1}, 0), 1);
  EXPECT_DOUBLE_EQ(percentile({5, 1}, 100), 5);
}

TEST(Report, ThroughputAndCounts) {
  const Report r = compute_report("throughput", trace());
  EXPECT_EQ(r.num_requests, 4);
  EXPECT_EQ(r.completed, 3);
  EXPECT_EQ(r.failed, 1);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_DOUBLE_EQ(r.duration_s, 4.0);  // first arrival 0, last finish 4.0 (the failed request)
  EXPECT_EQ(r.input_tokens, 35);
  EXPECT_EQ(r.output_tokens, 6);
  EXPECT_DOUBLE_EQ(r.requests_per_s, 0.75);
  EXPECT_DOUBLE_EQ(r.input_tokens_per_s, 8.75);
  EXPECT_DOUBLE_EQ(r.output_tokens_per_s, 1.5);
  EXPECT_DOUBLE_EQ(r.total_tokens_per_s, 10.25);
}

TEST(Report, LatencyStatistics) {
  const Report r = compute_report("latency", trace());
  // TTFT: 1.0, 1.5, 0.25
  EXPECT_EQ(r.ttft.n, 3);
  EXPECT_NEAR(r.ttft.mean, 2.75 / 3, 1e-12);
  EXPECT_NEAR(r.ttft.p50, 1.0, 1e-12);
  EXPECT_NEAR(r.ttft.p90, 1.4, 1e-12);   // rank 1.8 between 1.0 and 1.5
  EXPECT_NEAR(r.ttft.p99, 1.49, 1e-12);  // rank 1.98
  EXPECT_DOUBLE_EQ(r.ttft.min, 0.25);
  EXPECT_DOUBLE_EQ(r.ttft.max, 1.5);
  // TPOT: A (2.5 - 1.0) / 2 = 0.75, B (2.5 - 1.5) / 1 = 1.0; C has one token (none)
  EXPECT_EQ(r.tpot.n, 2);
  EXPECT_NEAR(r.tpot.mean, 0.875, 1e-12);
  EXPECT_NEAR(r.tpot.p50, 0.875, 1e-12);
  EXPECT_NEAR(r.tpot.p90, 0.975, 1e-12);
  EXPECT_NEAR(r.tpot.p99, 0.9975, 1e-12);
  // ITL: A 0.5, 1.0; B 1.0
  EXPECT_EQ(r.itl.n, 3);
  EXPECT_NEAR(r.itl.mean, 2.5 / 3, 1e-12);
  EXPECT_NEAR(r.itl.p50, 1.0, 1e-12);
  EXPECT_NEAR(r.itl.p90, 1.0, 1e-12);
  // E2E: 2.5, 2.5, 0.25 (the failed request is excluded)
  EXPECT_EQ(r.e2e.n, 3);
  EXPECT_NEAR(r.e2e.mean, 1.75, 1e-12);
  EXPECT_NEAR(r.e2e.p50, 2.5, 1e-12);
  EXPECT_NEAR(r.e2e.p99, 2.5, 1e-12);
}

TEST(Report, EngineObservationsAndBandwidth) {
  EngineObservations o;
  o.kv_utilization_samples = {0.2, 0.4, 0.9};
  o.prefix_queries = 120;
  o.prefix_hits = 30;
  o.steps = 100;
  o.preemptions = 3;
  o.computed_prefill_tokens = 90;
  o.weight_bytes = 1e9;
  o.kv_bytes_per_token = 1e5;
  o.mean_kv_tokens = 1e4;  // 1e9 KV bytes per step
  o.copy_bandwidth_gbps = 100.0;
  o.hardware = "Test GPU";
  const Report r = compute_report("throughput", trace(), o);
  ASSERT_TRUE(r.kv_util_mean && r.kv_util_max && r.prefix_hit_rate);
  EXPECT_NEAR(*r.kv_util_mean, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(*r.kv_util_max, 0.9);
  EXPECT_DOUBLE_EQ(*r.prefix_hit_rate, 0.25);
  ASSERT_TRUE(r.decode_bandwidth_gbps && r.decode_bandwidth_fraction);
  EXPECT_NEAR(*r.decode_bandwidth_gbps, 50.0, 1e-9);  // 100 steps * 2e9 B / 4 s
  EXPECT_NEAR(*r.decode_bandwidth_fraction, 0.5, 1e-12);
  EXPECT_EQ(r.hardware, "Test GPU");
  ASSERT_TRUE(r.engine_steps && r.preemptions && r.computed_prefill_tokens);
  EXPECT_EQ(*r.engine_steps, 100);
  EXPECT_EQ(*r.preemptions, 3);
  EXPECT_EQ(*r.computed_prefill_tokens, 90);
  EXPECT_NE(format_table(r).find("engine steps          100 (3 preemptions; 90 prefill tokens computed"),
            std::string::npos)
      << format_table(r);
  const auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["preemptions"], 3);
  EXPECT_EQ(j["computed_prefill_tokens"], 90);
  // Without a copy-bandwidth measurement (CPU) there is no fraction and the table says n/a.
  o.copy_bandwidth_gbps.reset();
  const Report cpu = compute_report("throughput", trace(), o);
  EXPECT_FALSE(cpu.decode_bandwidth_fraction.has_value());
  EXPECT_NE(format_table(cpu).find("decode bandwidth      n/a"), std::string::npos);
  // Serve mode knows nothing about the engine.
  const Report serve = compute_report("serve", trace());
  EXPECT_FALSE(serve.kv_util_mean || serve.prefix_hit_rate || serve.decode_bandwidth_gbps);
  EXPECT_FALSE(serve.engine_steps || serve.preemptions || serve.computed_prefill_tokens);
  EXPECT_TRUE(nlohmann::json::parse(to_json(serve))["preemptions"].is_null());
}

TEST(Report, ThroughputSeriesCountsEveryToken) {
  const Report r = compute_report("throughput", trace());
  ASSERT_EQ(r.output_tokens_per_s_series.size(), 40u);
  EXPECT_DOUBLE_EQ(r.bucket_s, 0.1);
  double tokens = 0;
  for (double v : r.output_tokens_per_s_series) tokens += v * r.bucket_s;
  EXPECT_NEAR(tokens, 6.0, 1e-9);
  EXPECT_NEAR(r.output_tokens_per_s_series[20], 10.0, 1e-9);  // the token at t = 2.0 s
  EXPECT_NEAR(r.output_tokens_per_s_series[12], 10.0, 1e-9);  // t = 1.25 s
  EXPECT_NEAR(r.output_tokens_per_s_series[0], 0.0, 1e-9);
}

TEST(Report, JsonTableAndSvg) {
  const Report r = compute_report("serve", trace());
  const auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j["mode"], "serve");
  EXPECT_EQ(j["completed"], 3);
  EXPECT_DOUBLE_EQ(j["requests_per_s"].get<double>(), 0.75);
  EXPECT_NEAR(j["tpot_s"]["p90"].get<double>(), 0.975, 1e-12);
  EXPECT_TRUE(j["kv_utilization_mean"].is_null());
  const std::string t = format_table(r);
  EXPECT_NE(t.find("916.67"), std::string::npos) << t;  // mean TTFT in ms
  EXPECT_NE(t.find("875.00"), std::string::npos) << t;  // mean TPOT in ms
  const std::string svg = render_svg(r);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("TTFT (ms)"), std::string::npos);
  // An empty run still renders and reports zeros, not NaN.
  const Report empty = compute_report("throughput", {});
  EXPECT_EQ(empty.completed, 0);
  EXPECT_EQ(to_json(empty).find("nan"), std::string::npos);
  EXPECT_NE(render_svg(empty).find("</svg>"), std::string::npos);
}
