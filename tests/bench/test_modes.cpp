// Each bench mode briefly on a tiny dummy-weight model on CPU: the in-process runner directly,
// then the `ignis bench` command end to end (dataset -> throughput / latency -> serve against
// `ignis serve` on loopback).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "bench/lib/dataset.h"
#include "bench/lib/runners.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"

using namespace ignis;
using namespace ignis::bench;
namespace fs = std::filesystem;

namespace {
const char* kTinyConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
  "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": false})";

// A model folder with config.json (+ the Mistral tokenizer from the assets when present).
fs::path tiny_model_dir(bool with_tokenizer) {
  fs::path d = fs::temp_directory_path() / ("ignis_bench_tiny_" + std::to_string(::getpid()) + (with_tokenizer ? "_tok" : ""));
  fs::create_directories(d);
  std::ofstream(d / "config.json") << kTinyConfig;
  const fs::path tok = IGNIS_ASSETS_DIR "/tokenizer-mistral/models/tokenizer.json";
  if (with_tokenizer && fs::exists(tok)) fs::copy_file(tok, d / "tokenizer.json", fs::copy_options::overwrite_existing);
  return d;
}

std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = WEXITSTATUS(::pclose(p));
  return out;
}
nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}
const std::string kIgnis = IGNIS_BINARY_DIR "/bin/ignis";
}  // namespace

TEST(BenchModes, EngineRunnerThroughputAndLatency) {
  const fs::path dir = tiny_model_dir(false);
  ModelLoadOptions lo;
  lo.device = "cpu";
  lo.load_format = LoadFormat::Dummy;
  lo.cpu_kv_memory_bytes = 16ll << 20;
  LoadedModel lm = load_model(dir, lo, 16);
  EngineConfig ec;
  ec.kv_block_size = 16;
  ec.kv_num_blocks = lm.kv_num_blocks;
  Engine engine(std::move(lm.model), ec);

  SyntheticOptions so;
  so.num_requests = 8;
  so.input = {20, 5};
  so.output = {6, 2, 2, 10};
  so.vocab = 32000;
  const auto items = synthetic_workload(so);
  for (int conc : {0, 2}) {
    EngineRunOptions ro;
    ro.concurrency = conc;
    ro.progress = false;
    EngineObservations obs;
    const auto recs = run_engine(engine, nullptr, items, ro, &obs);
    ASSERT_EQ(recs.size(), items.size());
    int64_t out = 0;
    for (size_t i = 0; i < recs.size(); i++) {
      ASSERT_TRUE(recs[i].ok) << recs[i].error;
      EXPECT_EQ(recs[i].output_tokens, items[i].output_len);  // ignore_eos: exact lengths
      EXPECT_EQ(recs[i].prompt_tokens, static_cast<int>(items[i].prompt_ids.size()));
      EXPECT_EQ(recs[i].token_times.size(), static_cast<size_t>(items[i].output_len));
      EXPECT_LE(recs[i].arrival, recs[i].first_token);
      EXPECT_LE(recs[i].first_token, recs[i].finish);
      out += items[i].output_len;
    }
    EXPECT_GT(obs.steps, 0);
    EXPECT_GE(obs.prefix_queries, 0);
    EXPECT_GE(obs.preemptions, 0);
    EXPECT_GT(obs.computed_prefill_tokens, 0);
    const Report r = compute_report(conc ? "latency" : "throughput", recs, obs);
    EXPECT_EQ(r.completed, 8);
    EXPECT_EQ(r.output_tokens, out);
    EXPECT_GT(r.output_tokens_per_s, 0);
  }
  // A request the engine rejects (longer than the 1024-token context) fails alone.
  auto bad = items;
  bad[3].prompt_ids.assign(2000, 5);
  for (int conc : {0, 2}) {
    EngineRunOptions ro;
    ro.concurrency = conc;
    ro.progress = false;
    const auto recs = run_engine(engine, nullptr, bad, ro, nullptr);
    EXPECT_FALSE(recs[3].ok);
    EXPECT_FALSE(recs[3].error.empty());
    EXPECT_TRUE(recs[0].ok && recs[7].ok) << recs[0].error << recs[7].error;
    EXPECT_EQ(compute_report("throughput", recs).failed, 1);
  }
  fs::remove_all(dir);
}

TEST(BenchModes, CommandThroughputLatencyAndServe) {
  if (!fs::exists(kIgnis)) GTEST_SKIP() << "ignis binary not built";
  ::setenv("OPENBLAS_NUM_THREADS", "1", 1);  // tiny model: BLAS threads only cost time on a busy CI machine
  const fs::path dir = tiny_model_dir(true);
  const fs::path tmp = dir / "out";
  fs::create_directories(tmp);
  int rc = 0;
  std::string out = run_capture(kIgnis + " bench dataset --vocab 32000 --num-requests 6 --input-mean 24 --input-stdev 4 "
                                         "--output-mean 5 --seed 3 -o " + (tmp / "w.jsonl").string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_EQ(read_workload(tmp / "w.jsonl").size(), 6u);

  for (const char* mode : {"throughput", "latency"}) {
    out = run_capture(kIgnis + " bench " + mode + " --model " + dir.string() + " --load-format dummy --device cpu " +
                          "--dataset " + (tmp / "w.jsonl").string() + " --no-progress --json " +
                          (tmp / "r.json").string() + " --plot " + (tmp / "r.svg").string(), &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(std::string("=== ignis bench ") + mode), std::string::npos) << out;
    const auto j = read_json(tmp / "r.json");
    EXPECT_EQ(j["completed"], 6);
    EXPECT_EQ(j["output_tokens"], 30);
    EXPECT_GT(j["output_tokens_per_s"].get<double>(), 0);
    EXPECT_TRUE(fs::file_size(tmp / "r.svg") > 500);
  }
  // Bad input: a clear error, non-zero exit.
  out = run_capture(kIgnis + " bench throughput --model " + dir.string() + " --load-format dummy --dataset /nonexistent.jsonl", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("cannot open the workload"), std::string::npos) << out;
  out = run_capture(kIgnis + " bench serve --url ftp://x --dataset " + (tmp / "w.jsonl").string(), &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("only http://"), std::string::npos) << out;

  if (!fs::exists(dir / "tokenizer.json")) {
    fs::remove_all(dir);
    GTEST_SKIP() << "assets not fetched: no tokenizer for ignis serve";
  }
  // ignis serve (with an API key, as the README starts it) on a free loopback port; its first line
  // tells the URL.
  const fs::path log = tmp / "serve.log";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::freopen(log.c_str(), "w", stdout);
    ::dup2(::fileno(stdout), 2);
    ::execl(kIgnis.c_str(), kIgnis.c_str(), "serve", "--model", dir.c_str(), "--load-format", "dummy", "--device",
            "cpu", "--host", "127.0.0.1", "--port", "0", "--api-key", "s3cret", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string url;
  for (int i = 0; i < 300 && url.empty(); i++) {  // up to 30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    std::smatch m;
    const std::string s = ss.str();
    if (std::regex_search(s, m, std::regex("listening on (http://127\\.0\\.0\\.1:[0-9]+)"))) url = m[1];
  }
  if (url.empty()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL() << "ignis serve did not start";
  }
  // Real text from the corpus, sent as text (the server tokenizes it).
  out = run_capture(kIgnis + " bench dataset --tokenizer " + dir.string() + " --corpus " IGNIS_ASSETS_DIR
                             "/moby-dick/data/chapter_1.txt --num-requests 6 --input-mean 24 --output-mean 5 -o " +
                             (tmp / "m.jsonl").string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  for (const auto& w : read_workload(tmp / "m.jsonl")) EXPECT_FALSE(w.prompt.empty());
  // The key from --api-key, then from IGNIS_API_KEY (its first key).
  for (const std::string& extra : {"--api-key s3cret --request-rate 100 --dataset " + (tmp / "w.jsonl").string(),
                                  "--concurrency 2 --send-text --dataset " + (tmp / "m.jsonl").string()}) {
    const std::string env = extra.rfind("--api-key", 0) == 0 ? "" : "IGNIS_API_KEY=s3cret,other ";
    out = run_capture(env + kIgnis + " bench serve --url " + url + " " + extra + " --no-progress --json " +
                          (tmp / "s.json").string(), &rc);
    EXPECT_EQ(rc, 0) << out;
    const auto j = read_json(tmp / "s.json");
    EXPECT_EQ(j["completed"], 6) << out;
    EXPECT_EQ(j["output_tokens"], 30) << out;  // usage.completion_tokens with ignore_eos
    EXPECT_GT(j["ttft_s"]["p50"].get<double>(), 0);
    EXPECT_TRUE(j["prefix_cache_hit_rate"].is_number()) << j.dump();  // scraped from ignis serve's /metrics
  }
  // A wrong key (the flag wins over the environment) and no key: every request fails with a clear 401.
  for (const std::string& key : {"IGNIS_API_KEY=s3cret " + kIgnis + " bench serve --api-key wrong", "IGNIS_API_KEY= " + kIgnis + " bench serve"}) {
    out = run_capture(key + " --url " + url + " --dataset " + (tmp / "w.jsonl").string() + " --no-progress --json " +
                          (tmp / "s.json").string(), &rc);
    EXPECT_NE(rc, 0) << out;
    EXPECT_EQ(read_json(tmp / "s.json")["failed"], 6) << out;
    EXPECT_NE(out.find("HTTP 401"), std::string::npos) << out;
    EXPECT_NE(out.find(key.find("wrong") != std::string::npos ? "rejected the API key" : "requires an API key"),
              std::string::npos) << out;
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  fs::remove_all(dir);
}
