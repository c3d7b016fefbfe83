// ignis bench: throughput / latency / serve benchmarks and the workloads they read.
//   ignis bench dataset    --output FILE [--num-requests N --input-mean .. --output-mean ..] [--corpus PATH | --chats FILE]
//   ignis bench throughput --model DIR [--load-format dummy] [--dataset FILE]   all requests at once
//   ignis bench latency    --model DIR [--dataset FILE] [--concurrency N]       N in flight (default 1)
//     both in-process modes: [--tokenizer DIR] [--json-schema FILE | --regex PATTERN [--compare-unconstrained]]
//   ignis bench serve      --url URL --dataset FILE (--request-rate R | --concurrency N) [--api-key KEY]
// Every mode prints the report table (bench/lib/report.h) and optionally --json FILE / --plot FILE.svg.
#ifdef HAVE_IGNIS_BENCHLIB
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "bench/lib/dataset.h"
#include "bench/lib/hardware.h"
#include "bench/lib/report.h"
#include "bench/lib/runners.h"
#include "bench/lib/workload.h"
#include "command.h"
#include "model/linear_weights.h"
#include "core/error.h"
#include "model_options.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

using namespace ignis::bench;

// Synthetic-workload flags, shared by `dataset` and by the in-process modes without --dataset.
struct SynthFlags {
  int num_requests = 32;
  double input_mean = 128, input_stdev = 0, output_mean = 128, output_stdev = 0;
  int input_min = 1, input_max = 1 << 20, output_min = 1, output_max = 1 << 20;
  uint64_t seed = 0;
  void add(CLI::App& app) {
    app.add_option("--num-requests", num_requests, "number of requests")->check(CLI::Range(1, 10000000));
    app.add_option("--input-mean", input_mean, "mean prompt length (tokens)")->check(CLI::Range(1.0, 1e7));
    app.add_option("--input-stdev", input_stdev, "prompt length stdev (0 = fixed)")->check(CLI::Range(0.0, 1e7));
    app.add_option("--output-mean", output_mean, "mean output length (tokens)")->check(CLI::Range(1.0, 1e7));
    app.add_option("--output-stdev", output_stdev, "output length stdev (0 = fixed)")->check(CLI::Range(0.0, 1e7));
    app.add_option("--input-min", input_min)->check(CLI::Range(1, 1 << 24));
    app.add_option("--input-max", input_max)->check(CLI::Range(1, 1 << 24));
    app.add_option("--output-min", output_min)->check(CLI::Range(1, 1 << 24));
    app.add_option("--output-max", output_max)->check(CLI::Range(1, 1 << 24));
    app.add_option("--seed", seed, "workload seed");
  }
  SyntheticOptions options(int vocab) const {
    SyntheticOptions o;
    o.num_requests = num_requests;
    o.input = {input_mean, input_stdev, input_min, input_max};
    o.output = {output_mean, output_stdev, output_min, output_max};
    o.vocab = vocab;
    o.seed = seed;
    return o;
  }
};

struct OutputFlags {
  std::string json_path, plot_path;
  bool no_progress = false;
  void add(CLI::App& app) {
    app.add_option("--json", json_path, "write the report as JSON to FILE");
    app.add_option("--plot", plot_path, "write an SVG plot (latency percentiles, throughput over time) to FILE");
    app.add_flag("--no-progress", no_progress, "no progress bar on stderr");
  }
  void emit(const Report& r) const {
    std::fputs(format_table(r).c_str(), stdout);
    std::fflush(stdout);
    auto write = [](const std::string& path, const std::string& text) {
      std::ofstream f(path, std::ios::binary);
      IGNIS_CHECK(f.good(), "{}: cannot write", path);
      f << text;
      IGNIS_CHECK(f.good(), "{}: write failed", path);
    };
    if (!json_path.empty()) write(json_path, to_json(r));
    if (!plot_path.empty()) write(plot_path, render_svg(r));
  }
};

template <class F>
int parse_or_exit(CLI::App& app, int argc, char** argv, F&& after) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return after();
}

std::vector<int32_t> special_ids(const Tokenizer& tok) {
  std::vector<int32_t> s;
  for (int32_t i = 0; i < tok.vocab_size(); i++)
    if (tok.is_special(i)) s.push_back(i);
  return s;
}

int run_dataset(int argc, char** argv) {
  CLI::App app{"Write a JSONL workload (one {\"prompt_ids\"|\"prompt\", \"output_len\"} per line)", "ignis bench dataset"};
  SynthFlags sf;
  sf.add(app);
  std::string output = "-", tokenizer_dir, corpus, chats;
  int vocab = 0;
  app.add_option("--output,-o", output, "output file ('-' = stdout)");
  app.add_option("--vocab", vocab, "draw random prompt ids from [0, N) (synthetic mode)")->check(CLI::Range(1, 1 << 24));
  app.add_option("--tokenizer", tokenizer_dir, "model folder with tokenizer.json (its vocab; needed by --corpus/--chats)");
  auto* c1 = app.add_option("--corpus", corpus, "real prompts: windows of a text corpus (file or folder, e.g. assets/sotu/data)");
  auto* c2 = app.add_option("--chats", chats, "real prompts: JSONL of conversations rendered with the chat template");
  c1->excludes(c2);
  return parse_or_exit(app, argc, argv, [&] {
    std::unique_ptr<Tokenizer> tok;
    if (!tokenizer_dir.empty()) tok = Tokenizer::load(tokenizer_dir);
    std::vector<WorkItem> items;
    if (!corpus.empty() || !chats.empty()) {
      IGNIS_CHECK(tok != nullptr, "--corpus / --chats need --tokenizer DIR to count and cut tokens");
      SyntheticOptions o = sf.options(tok->vocab_size());
      if (!chats.empty()) {
        items = chat_workload(chats, *tok, o);
      } else {
        const std::vector<int32_t> ids = tok->encode(read_corpus(corpus), false);
        items = corpus_workload(ids, o, [&](const std::vector<int32_t>& w) { return tok->decode(w); });
      }
    } else {
      IGNIS_CHECK(vocab > 0 || tok, "synthetic prompts need --vocab N or --tokenizer DIR");
      SyntheticOptions o = sf.options(vocab > 0 ? vocab : tok->vocab_size());
      if (tok) o.exclude_ids = special_ids(*tok);
      items = synthetic_workload(o);
    }
    if (output == "-") {
      for (const WorkItem& w : items) std::cout << workload_line(w) << '\n';
    } else {
      write_workload(output, items);
      std::fprintf(stderr, "wrote %zu requests to %s\n", items.size(), output.c_str());
    }
    return 0;
  });
}

#ifdef IGNIS_BENCH_HAVE_ENGINE
// Constrained decoding for the in-process modes: every request carries one constraint, compiled
// once through the same cache `ignis serve` builds (structured::make_constraint_cache with the
// model's end ids).
struct ConstraintFlags {
  std::string schema_file, regex, outputs_path;
  bool compare = false;
  void add(CLI::App& app) {
    auto* js = app.add_option("--json-schema", schema_file, "constrain every request to this JSON schema (a file)");
    auto* re = app.add_option("--regex", regex, "constrain every request to this regular expression");
    js->excludes(re);
    app.add_flag("--compare-unconstrained", compare,
                 "also run the same requests without the constraint (each its constrained output length, "
                 "ignore_eos; after a short warm-up): TPOT p50 of both and the overhead");
    app.add_option("--save-outputs", outputs_path,
                   "write each request's output as JSONL {index, output_tokens, text} (text from the tokenizer's bytes)");
  }
  bool active() const { return !schema_file.empty() || !regex.empty(); }
  // The spec and its report name; the schema file must hold JSON.
  std::pair<structured::ConstraintSpec, std::string> spec() const {
    structured::ConstraintSpec sp;
    if (!regex.empty()) {
      sp.kind = structured::ConstraintSpec::Kind::Regex;
      sp.text = regex;
      return {sp, "regex " + regex};
    }
    std::ifstream f(schema_file, std::ios::binary);
    IGNIS_CHECK(f.good(), "--json-schema {}: cannot read", schema_file);
    std::stringstream ss;
    ss << f.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    IGNIS_CHECK(!j.is_discarded() && (j.is_object() || j.is_boolean()), "--json-schema {}: not a JSON schema object",
                schema_file);
    sp.kind = structured::ConstraintSpec::Kind::JsonSchema;
    sp.text = j.dump();
    return {sp, "json_schema " + schema_file};
  }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void write_outputs(const std::string& path, const Tokenizer* tok, const std::vector<RequestRecord>& recs) {
  std::ofstream f(path, std::ios::binary);
  IGNIS_CHECK(f.good(), "--save-outputs {}: cannot write", path);
  for (size_t i = 0; i < recs.size(); ++i) {
    nlohmann::json j = {{"index", i}, {"output_tokens", recs[i].output_tokens}, {"ok", recs[i].ok}};
    if (tok) {
      std::string text;
      for (int32_t t : recs[i].output_ids)
        if (auto b = tok->token_bytes(t)) text += *b;  // special tokens (the end id) add nothing
      j["text"] = text;
    }
    f << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  IGNIS_CHECK(f.good(), "--save-outputs {}: write failed", path);
}

int run_in_process(int argc, char** argv, bool latency) {
  CLI::App app{latency ? "Latency: requests at a fixed concurrency (default 1) on the in-process engine"
                       : "Throughput: every request submitted at once to the in-process engine (in-flight batching)",
               latency ? "ignis bench latency" : "ignis bench throughput"};
  ModelFlags mf;
  mf.add(app);
  SpecFlags spf;
  spf.add(app);
  SynthFlags sf;
  sf.add(app);
  OutputFlags of;
  of.add(app);
  ConstraintFlags cf;
  cf.add(app);
  std::string dataset, tokenizer_dir;
  app.add_option("--tokenizer", tokenizer_dir, "folder with tokenizer.json when the model folder has none");
  int concurrency = latency ? 1 : 0;
  float temperature = 0;
  bool honor_eos = false, compare_no_spec = false;
  app.add_flag("--compare-no-spec", compare_no_spec,
               "first run the workload without speculation on the same engine (its own prefix-cache namespace), "
               "then with it: the speedup and, when greedy, how many outputs are identical");
  app.add_option("--dataset", dataset, "JSONL workload (default: synthetic from --num-requests/--input-mean/...)");
  if (latency) app.add_option("--concurrency", concurrency, "requests in flight")->check(CLI::Range(1, 100000));
  app.add_option("--temperature", temperature, "sampling temperature (default 0 = greedy)")->check(CLI::Range(0.0, 100.0));
  app.add_flag("--honor-eos", honor_eos, "stop at end-of-sequence (default: ignore_eos, fixed output lengths)");
  return parse_or_exit(app, argc, argv, [&] {
    const bool gpu = mf.device != "cpu" && cuda_device_available();
    const HardwareInfo hw = probe_hardware(gpu);  // before the KV cache takes the device memory
    std::shared_ptr<const Tokenizer> tok;
    if (!tokenizer_dir.empty())
      tok = Tokenizer::load(tokenizer_dir);
    else if (std::filesystem::exists(std::filesystem::path(mf.model_dir) / "tokenizer.json"))
      tok = Tokenizer::load(mf.model_dir);
    IGNIS_CHECK(!cf.compare || cf.active(), "--compare-unconstrained needs --json-schema FILE or --regex PATTERN");
    IGNIS_CHECK(!cf.compare || !compare_no_spec, "--compare-unconstrained and --compare-no-spec: give one");
    IGNIS_CHECK(!cf.active() || tok, "--json-schema / --regex need a tokenizer: tokenizer.json in {} or --tokenizer DIR",
                mf.model_dir);
    std::optional<std::pair<structured::ConstraintSpec, std::string>> spec;
    if (cf.active()) spec = cf.spec();  // before the (slow) model load: fail fast
    std::vector<WorkItem> items;
    if (!dataset.empty()) items = read_workload(dataset);  // before the (slow) model load: fail fast
    EngineParts ep = load_engine_parts(mf, spf);
    const ModelConfig cfg = ep.model->config();
    const DType kv_dtype = ep.model->kv_dtype();
    if (dataset.empty()) {
      SyntheticOptions o = sf.options(cfg.vocab_size);
      if (tok) o.exclude_ids = special_ids(*tok);
      items = synthetic_workload(o);
    }
    for (const WorkItem& w : items)
      for (int32_t t : w.prompt_ids)
        IGNIS_CHECK(t < cfg.vocab_size, "{}: prompt token id {} is outside the model's vocabulary ({})",
                    dataset.empty() ? "synthetic workload" : dataset, t, cfg.vocab_size);
    EngineConfig ec = ep.config;
    ec.max_queue = std::max<int>(ec.max_queue, static_cast<int>(items.size()));
    IGNIS_CHECK(!compare_no_spec || ep.proposer, "--compare-no-spec needs --speculative ngram|draft|lookahead|medusa|eagle");
    std::shared_ptr<const structured::CompiledConstraint> constraint;
    std::optional<double> compile_ms;
    if (spec) {
      auto t0 = std::chrono::steady_clock::now();
      auto cache = structured::make_constraint_cache(*tok, model_end_ids(cfg, *tok));
      const double vocab_ms = ms_since(t0);
      t0 = std::chrono::steady_clock::now();
      constraint = cache->get(spec->first);
      compile_ms = ms_since(t0);
      std::fprintf(stderr, "constraint %s: vocabulary %.1f ms, compiled in %.2f ms\n", spec->second.c_str(), vocab_ms,
                   *compile_ms);
    }
    Engine engine(std::move(ep.model), ec, tok, std::move(ep.proposer));
    std::fprintf(stderr, "%s: %zu requests on %s (%s)\n", latency ? "latency" : "throughput", items.size(),
                 engine.model().backend_name(), hw.name.c_str());

    EngineRunOptions ro;
    ro.concurrency = concurrency;
    ro.ignore_eos = !honor_eos;
    ro.temperature = temperature;
    ro.progress = !of.no_progress;
    const char* mode = latency ? "latency" : "throughput";
    auto run = [&](bool speculative, uint64_t salt, std::vector<RequestRecord>& recs, bool constrained = true,
                   const std::vector<WorkItem>* work = nullptr) {
      EngineRunOptions r = ro;
      r.speculative = speculative;
      r.cache_salt = salt;
      if (constrained && spec) {
        r.constraint = constraint;
        r.constraint_name = spec->second;
      }
      EngineObservations obs;
      recs = run_engine(engine, tok.get(), work ? *work : items, r, &obs);
      obs.hardware = hw.name;
      obs.copy_bandwidth_gbps = hw.copy_bandwidth_gbps;
      obs.weight_bytes = static_cast<double>(model_weight_bytes(cfg));  // FP8 projections count 1 byte per weight
      obs.kv_bytes_per_token = static_cast<double>(cfg.kv_bytes_per_token(kv_dtype));
      return compute_report(mode, recs, obs);
    };
    std::vector<RequestRecord> base_recs, recs;
    std::optional<Report> base;
    if (compare_no_spec) {
      std::fprintf(stderr, "%s: baseline run without speculation\n", mode);
      base = run(false, 1, base_recs);
      std::fputs(format_table(*base).c_str(), stdout);
      std::fprintf(stderr, "%s: run with speculation (%s)\n", mode, spec_method_name(ec.spec.method));
    }
    if (cf.compare) {  // warm-up (unreported): every request, a few tokens, unconstrained
      std::vector<WorkItem> warm = items;
      for (WorkItem& w : warm) w.output_len = std::min(w.output_len, 8);
      std::fprintf(stderr, "%s: warm-up (%zu requests, <= 8 tokens, unconstrained)\n", mode, warm.size());
      std::vector<RequestRecord> warm_recs;
      run(true, 3, warm_recs, false, &warm);
    }
    Report r = run(true, compare_no_spec || cf.compare ? 2 : 0, recs);
    r.constraint_compile_ms = compile_ms;
    if (base) add_baseline(r, *base, recs, base_recs, temperature == 0);
    if (cf.compare) {  // the same requests, free, each as long as its constrained output
      std::vector<WorkItem> same = items;
      for (size_t i = 0; i < same.size(); ++i)
        if (recs[i].ok) same[i].output_len = std::max(1, recs[i].output_tokens);
      std::fprintf(stderr, "%s: the same requests unconstrained (output lengths as constrained)\n", mode);
      base = run(true, 1, base_recs, false, &same);
      std::fputs(format_table(*base).c_str(), stdout);
      add_unconstrained_baseline(r, *base);
    }
    if (!cf.outputs_path.empty()) write_outputs(cf.outputs_path, tok.get(), recs);
    of.emit(r);
    return r.failed == 0 && (!base || base->failed == 0) ? 0 : 1;
  });
}
#endif

// IGNIS_API_KEY may list several keys ("k1,k2", as `ignis serve` takes it): the bench sends the first.
std::string api_key_from_env(const char* env) {
  std::string v = env ? env : "";
  v = v.substr(0, v.find(','));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  return v;
}

int run_serve_mode(int argc, char** argv) {
  CLI::App app{"Serve: load an OpenAI-compatible server (streaming /v1/completions)", "ignis bench serve"};
  ServeOptions so;
  OutputFlags of;
  of.add(app);
  std::string dataset;
  app.add_option("--url", so.url, "server base URL, e.g. http://127.0.0.1:8000")->required();
  app.add_option("--dataset", dataset, "JSONL workload")->required();
  app.add_option("--model-name", so.model, "\"model\" field of each request");
  auto* key_opt = app.add_option("--api-key", so.api_key,
                                 "Bearer token for a server started with --api-key (default: IGNIS_API_KEY, its first "
                                 "comma-separated key)");
  auto* rr = app.add_option("--request-rate", so.request_rate, "Poisson arrivals at R requests/s (default: all at once)")
                 ->check(CLI::PositiveNumber);
  app.add_option("--concurrency", so.concurrency, "at most N requests in flight (0 = unlimited)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--seed", so.seed, "arrival-time seed");
  app.add_option("--temperature", so.temperature)->check(CLI::Range(0.0, 100.0));
  app.add_option("--timeout", so.timeout_s, "seconds without a byte before a request fails")->check(CLI::PositiveNumber);
  app.add_flag("--send-text", so.send_text, "send prompt text instead of token ids");
  bool honor_eos = false;
  app.add_flag("--honor-eos", honor_eos, "do not send ignore_eos");
  (void)rr;
  return parse_or_exit(app, argc, argv, [&] {
    if (key_opt->count() == 0) so.api_key = api_key_from_env(std::getenv("IGNIS_API_KEY"));
    so.ignore_eos = !honor_eos;
    so.progress = !of.no_progress;
    const auto items = read_workload(dataset);
    EngineObservations obs;  // from the server's /metrics when it has one
    const auto recs = run_serve(items, so, &obs);
    const Report r = compute_report("serve", recs, obs);
    of.emit(r);
    return r.failed == 0 ? 0 : 1;
  });
}

int run_bench(int argc, char** argv) {
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: ignis bench <mode> [options]\n\nmodes:\n"
                 "  dataset     write a JSONL workload (synthetic lengths, corpus windows or chats)\n"
#ifdef IGNIS_BENCH_HAVE_ENGINE
                 "  throughput  all requests at once on the in-process engine\n"
                 "  latency     one request at a time (or --concurrency N) on the in-process engine\n"
#endif
                 "  serve       load an OpenAI-compatible server over HTTP\n\n"
                 "'ignis bench <mode> --help' for the options of a mode.\n");
  };
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string mode = argv[1];
  std::string prog = std::string("ignis bench ") + mode;
  argv[1] = prog.data();
  if (mode == "dataset") return run_dataset(argc - 1, argv + 1);
  if (mode == "serve") return run_serve_mode(argc - 1, argv + 1);
#ifdef IGNIS_BENCH_HAVE_ENGINE
  if (mode == "throughput") return run_in_process(argc - 1, argv + 1, false);
  if (mode == "latency") return run_in_process(argc - 1, argv + 1, true);
#endif
  std::fprintf(stderr, "error: unknown bench mode '%s'\n", mode.c_str());
  usage();
  return 2;
}

}  // namespace

IGNIS_COMMAND(bench, "throughput / latency / serve benchmarks and their workloads", run_bench);

}  // namespace ignis::cli
#endif  // HAVE_IGNIS_BENCHLIB
