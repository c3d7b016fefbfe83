// ignis CLI: the flags shared by every command that opens a model (generate, chat,
// serve, bench, eval), so each command spells them the same way.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "sampling/params.h"
#include "spec/proposer.h"

namespace ignis::cli {

struct ModelFlags {
  std::string model_dir;
  std::string device = "auto";
  std::string load_format = "auto";
  uint64_t seed = 0;
  double kv_cache_fraction = 0.90;
  int max_batch_size = 64;
  int max_num_tokens = 2048;
  int max_model_len = 0;
  int kv_block_size = 32;
  int kv_reserve_tokens = 512;
  int constraint_threads = 0;
  bool no_cuda_graphs = false;
  bool batch_invariant = false;
  bool invariant_prefill = false;
  bool no_gemm_tune = false;
  std::string quantization = "none";
  std::string kv_cache_dtype = "auto";
  int tensor_parallel = 1;
  int pipeline_parallel = 1;

  void add(CLI::App& app);
  ModelLoadOptions load_options() const;
  EngineConfig engine_config(int kv_num_blocks) const;
};

// The environment's defaults for the GPU backend's A/B switches (IGNIS_GEMV=0, IGNIS_PDL=0,
// IGNIS_PROFILE=1, IGNIS_GEMM_CACHE=0, IGNIS_GEMM_TUNE=0|1, IGNIS_ATTENTION=simple|mma|wgmma).
void apply_launch_env(ModelLoadOptions& o);

// Speculative decoding: --speculative ngram|draft|lookahead|medusa|eagle|none, --speculative-model DIR
// (implies draft; with medusa / eagle: the heads folder), --eagle-total-tokens / --eagle-depth /
// --eagle-topk, --medusa-choices JSON, --typical-acceptance
// --posterior-threshold T --posterior-alpha A, --num-speculative-tokens K, --ngram-min / --ngram-max, --lookahead-window W /
// --lookahead-ngram N / --lookahead-verify G, --speculative-policy adaptive|fixed.
struct SpecFlags {
  std::string method = "none";
  std::string draft_dir;
  int num_tokens = 4;
  int ngram_min = 2, ngram_max = 4;
  int lookahead_window = 4, lookahead_ngram = 3, lookahead_verify = 4;  // W, N, G
  std::string policy = "adaptive";
  std::string medusa_choices;  // --medusa-choices JSON (empty: Medusa's default tree)
  bool typical = false;        // --typical-acceptance (--posterior-threshold, --posterior-alpha)
  double posterior_threshold = 0.09, posterior_alpha = 0.3;
  int eagle_total_tokens = 60, eagle_depth = 5, eagle_topk = 10;  // EAGLE-2's EaModel defaults

  void add(CLI::App& app);
  SpecConfig config() const;  // the method resolved (draft when --speculative-model is given)
};

// What an Engine is built from: the target, its engine config (the KV pool shared with the draft)
// and the proposer (null without speculation). Loads the draft next to the target when asked.
struct EngineParts {
  std::unique_ptr<Model> model;
  EngineConfig config;
  std::unique_ptr<Proposer> proposer;
};
EngineParts load_engine_parts(const ModelFlags& mf, const SpecFlags& sf);

struct SamplingFlags {
  int max_tokens = 128;
  float temperature = -1, top_p = -1, min_p = -1;
  float repetition_penalty = -1, presence_penalty = 0, frequency_penalty = 0;
  int top_k = -1;
  int64_t seed = -1;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_ids;
  bool ignore_eos = false;
  int logprobs = -1;

  void add(CLI::App& app);
  // Unset flags take the model's generation_config.json defaults (greedy unless it samples).
  SamplingParams params(const std::string& model_dir) const;
};

// The ids that end generation, as constrained decoding allows them once a constraint is complete
// (`ignis serve` and `ignis bench --json-schema` alike): config.json's eos_token_ids, then the
// tokenizer's eos, duplicates dropped.
std::vector<int32_t> model_end_ids(const ModelConfig& cfg, const Tokenizer& tok);

}  // namespace ignis::cli
