#include "model_options.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "model/config.h"
#include "model/json_util.h"
#include "runtime/draft_loader.h"
#include "spec/eagle.h"
#include "spec/medusa.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {

void ModelFlags::add(CLI::App& app) {
  app.add_option("--model", model_dir, "Hugging Face model folder (config.json, safetensors, tokenizer.json)")
      ->required();
  app.add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--load-format", load_format, "auto | safetensors | dummy (seeded random weights)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_option("--weight-seed", seed, "seed of --load-format dummy");
  app.add_option("--kv-cache-fraction", kv_cache_fraction, "GPU: fraction of free memory for the KV cache")
      ->check(CLI::Range(0.01, 1.0));
  app.add_option("--max-batch-size", max_batch_size, "sequences per step")->check(CLI::Range(1, 4096));
  app.add_option("--max-num-tokens", max_num_tokens, "tokens per step (chunked prefill)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-model-len", max_model_len, "context length (default: the model's)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--kv-block-size", kv_block_size, "tokens per KV block")->check(CLI::Range(1, 1024));
  app.add_option("--kv-reserve-tokens", kv_reserve_tokens,
                 "admit a request only while the KV pool keeps room for every running request's next N tokens "
                 "(0: admit whenever its first chunk fits; running requests then preempt the newest)")
      ->check(CLI::Range(0, 1 << 24));
  app.add_option("--constraint-threads", constraint_threads,
                 "threads that fill constrained requests' token masks beside the engine thread "
                 "(-1: min(4, cores / 4); 0, the default: the engine thread only)")
      ->check(CLI::Range(-1, 64));
  app.add_option("--quantization", quantization,
                 "fp8: quantize the dense projections at load (e4m3, per-channel weight scales, dynamic per-token "
                 "input scales; lm_head kept) | int8-wo: 8-bit weight-only, symmetric, group 128 | int4: 4-bit "
                 "weight-only with zero points, group 128 (round to nearest) | none. FP8 / AWQ / GPTQ / "
                 "compressed-tensors checkpoints load as published without it")
      ->check(CLI::IsMember({"none", "fp8", "int8-wo", "int4"}));
  app.add_option("--kv-cache-dtype", kv_cache_dtype,
                 "auto (fp8 when the checkpoint carries KV scales) | bf16 (the compute dtype) | fp8 (e4m3 with "
                 "per-layer scales: the checkpoint's, else 1.0)")
      ->check(CLI::IsMember({"auto", "bf16", "fp8"}));
  app.add_option("--tensor-parallel-size", tensor_parallel,
                 "ranks each layer is split across (attention heads, MLP columns, vocabulary; an all-reduce after "
                 "attention and MLP). CPU backend only for now: one thread per rank")
      ->check(CLI::Range(1, 64));
  app.add_option("--pipeline-parallel-size", pipeline_parallel,
                 "stages the layers are split into (hidden states passed stage to stage, the step's sequences in "
                 "micro-batches). CPU backend only for now")
      ->check(CLI::Range(1, 64));
  app.add_flag("--no-cuda-graphs", no_cuda_graphs, "GPU: do not replay CUDA graphs for decode steps");
  app.add_flag("--batch-invariant", batch_invariant,
               "GPU: decode and verification passes compute each token's logits with the same bits whatever else "
               "the pass holds (bf16 / fp16 projections of passes of 1-256 tokens on one tensor-core GEMV shape, "
               "attention of decode / verification pieces and token trees in decode tiles with key splits at fixed "
               "positions), so speculative decoding's greedy output equals decoding without it; slower at 17-256 "
               "tokens per pass");
  app.add_flag("--batch-invariant-prefill", invariant_prefill,
               "GPU: --batch-invariant for every pass, prefill chunks included (dense projections on the tensor-core "
               "GEMV, attention in decode tiles), so outputs do not depend on how requests were chunked or batched; "
               "prefill becomes several times slower");
  app.add_flag("--no-gemm-tune", no_gemm_tune,
               "GPU: keep cuBLASLt's heuristic GEMM choice (no timing of candidates at load, ~1-3 s)");
}

ModelLoadOptions ModelFlags::load_options() const {
  ModelLoadOptions o;
  o.device = device;
  o.load_format = parse_load_format(load_format);
  o.seed = seed;
  o.kv_cache_fraction = kv_cache_fraction;
  o.max_num_tokens = max_num_tokens;
  o.max_batch_size = std::max(max_batch_size, 1);
  o.max_model_len = max_model_len;
  o.cuda_graphs = !no_cuda_graphs;
  o.batch_invariant = batch_invariant;
  o.invariant_prefill = invariant_prefill;
  o.gemm_tune = !no_gemm_tune;
  o.quantization = quantization == "none" ? "" : quantization;
  o.kv_cache_dtype = kv_cache_dtype;
  o.tensor_parallel = tensor_parallel;
  o.pipeline_parallel = pipeline_parallel;
  apply_launch_env(o);
  return o;
}

// A/B switches of the GPU backend, read here (the CLI) and passed down as load options.
void apply_launch_env(ModelLoadOptions& o) {
  auto env = [](const char* name) -> std::string {
    const char* e = std::getenv(name);
    return e ? e : "";
  };
  if (env("IGNIS_GEMV") == "0") o.gemv = false;
  if (const std::string g = env("IGNIS_INT_GEMM"); !g.empty()) o.int_gemm = g != "0";
  if (const std::string g = env("IGNIS_FP8_FUSED"); !g.empty())
    o.fp8_fused_rows = std::clamp(std::atoi(g.c_str()), 0, 4);  // kernels::kFp8FusedMaxM
  if (const std::string g = env("IGNIS_FUSED_ROPE"); !g.empty())
    o.fused_rope_rows = std::clamp(std::atoi(g.c_str()), 0, 8);  // the GEMVs' one column tile
  if (const std::string g = env("IGNIS_GEMV_MMA"); !g.empty()) o.gemv_mma_rows = std::clamp(std::atoi(g.c_str()), 0, 64);
  if (env("IGNIS_PDL") == "0") o.pdl = false;
  if (const std::string p = env("IGNIS_PROFILE"); !p.empty() && p != "0") o.profile = true;
  if (env("IGNIS_GEMM_CACHE") == "0") o.gemm_cache = false;
  if (const std::string t = env("IGNIS_GEMM_TUNE"); !t.empty()) o.gemm_tune = t != "0";
  if (const std::string a = env("IGNIS_ATTENTION"); a == "simple" || a == "mma" || a == "wgmma") o.attention = a;
}

EngineConfig ModelFlags::engine_config(int kv_num_blocks) const {
  EngineConfig c;
  c.max_batch_size = max_batch_size;
  c.max_num_tokens = max_num_tokens;
  c.kv_block_size = kv_block_size;
  c.kv_num_blocks = kv_num_blocks;
  c.max_model_len = max_model_len;
  c.kv_reserve_tokens = kv_reserve_tokens;
  c.constraint_threads = constraint_threads;
  return c;
}

void SpecFlags::add(CLI::App& app) {
  app.add_option("--speculative", method,
                 "speculative decoding: ngram (prompt lookup) | draft | lookahead (Jacobi n-grams, token trees) | "
                 "medusa (Medusa heads, token trees; CPU or CUDA backend) | eagle (an EAGLE draft head over the "
                 "target's hidden states, EAGLE-2 dynamic trees) | none")
      ->check(CLI::IsMember({"ngram", "draft", "lookahead", "medusa", "eagle", "none"}));
  app.add_option("--speculative-model", draft_dir,
                 "draft model folder for draft-target speculation (implies --speculative draft; same tokenizer), or "
                 "with --speculative medusa the Medusa heads folder (config.json + medusa_lm_head.safetensors), with "
                 "--speculative eagle the EAGLE head folder (config.json + model.safetensors)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--medusa-choices", medusa_choices,
                 "Medusa's candidate tree as JSON medusa_choices, e.g. [[0],[0,0],[1]] (a node per path of top-k "
                 "indices); default: Medusa's mc_sim_7b_63 (63 nodes)");
  app.add_flag("--typical-acceptance", typical,
               "Medusa's typical acceptance for sampled requests (not exact: accepts a tree token whose target "
               "probability beats min(--posterior-threshold, --posterior-alpha * exp(-entropy))); greedy stays exact");
  app.add_option("--posterior-threshold", posterior_threshold, "typical acceptance's threshold (Medusa: 0.09)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--posterior-alpha", posterior_alpha,
                 "typical acceptance's entropy factor (Medusa: 0.3, about sqrt(threshold))")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--eagle-total-tokens", eagle_total_tokens,
                 "EAGLE: tokens verified per step, the root included (EAGLE-2's total_token; the draft tree has one "
                 "less; 2-513)");
  app.add_option("--eagle-depth", eagle_depth,
                 "EAGLE: expansion steps of the draft tree after its first level (EAGLE-2's depth; 1-32)");
  app.add_option("--eagle-topk", eagle_topk,
                 "EAGLE: nodes expanded per step and children per node (EAGLE-2's top_k; 1-64)");
  app.add_option("--num-speculative-tokens", num_tokens, "most proposed tokens per sequence per step (the policy picks <= K)")
      ->check(CLI::Range(1, 64));
  app.add_option("--ngram-min", ngram_min, "shortest n-gram the prompt lookup matches")->check(CLI::Range(1, 64));
  app.add_option("--ngram-max", ngram_max, "longest n-gram the prompt lookup matches (tried first)")->check(CLI::Range(1, 64));
  app.add_option("--lookahead-window", lookahead_window, "lookahead decoding: W, the Jacobi window's width (1-64)");
  app.add_option("--lookahead-ngram", lookahead_ngram, "lookahead decoding: N, the n-gram size (2-16)");
  app.add_option("--lookahead-verify", lookahead_verify,
                 "lookahead decoding: G, the most n-grams verified per step (0-64); (W + G) * (N - 1) <= 512");
  app.add_option("--speculative-policy", policy,
                 "adaptive (k per step from batch size, acceptance and measured step times; off when slower) | fixed "
                 "(always K)")
      ->check(CLI::IsMember({"adaptive", "fixed"}));
}

SpecConfig SpecFlags::config() const {
  SpecConfig c;
  c.method = parse_spec_method(method);
  if (!draft_dir.empty() && c.method != SpecMethod::Medusa && c.method != SpecMethod::Eagle) {
    IGNIS_CHECK(c.method != SpecMethod::Ngram, "--speculative ngram and --speculative-model exclude each other");
    c.method = SpecMethod::Draft;
  }
  IGNIS_CHECK(c.method != SpecMethod::Medusa || !draft_dir.empty(),
              "--speculative medusa needs --speculative-model DIR (the Medusa heads folder)");
  IGNIS_CHECK(medusa_choices.empty() || c.method == SpecMethod::Medusa, "--medusa-choices needs --speculative medusa");
  IGNIS_CHECK(c.method != SpecMethod::Eagle || !draft_dir.empty(),
              "--speculative eagle needs --speculative-model DIR (the EAGLE head folder)");
  IGNIS_CHECK(c.method == SpecMethod::Eagle || (eagle_total_tokens == 60 && eagle_depth == 5 && eagle_topk == 10),
              "--eagle-total-tokens, --eagle-depth and --eagle-topk need --speculative eagle");
  if (c.method == SpecMethod::Eagle) eagle_tree_size(eagle_total_tokens, eagle_depth, eagle_topk);
  c.eagle_total_tokens = eagle_total_tokens;
  c.eagle_depth = eagle_depth;
  c.eagle_topk = eagle_topk;
  if (!medusa_choices.empty()) {
    const jsonf::Json j = jsonf::parse(medusa_choices, "--medusa-choices");
    IGNIS_CHECK(j.is_array(), "--medusa-choices must be a JSON list of lists of integers, e.g. [[0],[0,0],[1]]");
    for (const auto& path : j) {
      IGNIS_CHECK(path.is_array(), "--medusa-choices must be a JSON list of lists of integers, e.g. [[0],[0,0],[1]]");
      std::vector<int>& node = c.medusa_choices.emplace_back();
      for (const auto& i : path) node.push_back(int(jsonf::get_int(i, "--medusa-choices", "index", 0, 63)));
    }
  }
  if (c.method == SpecMethod::Medusa) medusa_tree(c.medusa_choices);  // validated before the loads
  IGNIS_CHECK(!typical || c.method == SpecMethod::Medusa || c.method == SpecMethod::Lookahead ||
                  c.method == SpecMethod::Eagle,
              "--typical-acceptance needs --speculative medusa, eagle or lookahead");
  c.typical_acceptance = typical;
  c.posterior_threshold = posterior_threshold;
  c.posterior_alpha = posterior_alpha;
  IGNIS_CHECK(c.method != SpecMethod::Draft || !draft_dir.empty(), "--speculative draft needs --speculative-model DIR");
  IGNIS_CHECK(ngram_min <= ngram_max, "--ngram-min ({}) must be <= --ngram-max ({})", ngram_min, ngram_max);
  c.num_speculative_tokens = num_tokens;
  c.ngram_min = ngram_min;
  c.ngram_max = ngram_max;
  if (c.method == SpecMethod::Lookahead) lookahead_tree_size(lookahead_window, lookahead_ngram, lookahead_verify);
  c.lookahead_window = lookahead_window;
  c.lookahead_ngram = lookahead_ngram;
  c.lookahead_verify = lookahead_verify;
  c.policy.adaptive = policy != "fixed";
  return c;
}

EngineParts load_engine_parts(const ModelFlags& mf, const SpecFlags& sf) {
  const SpecConfig sc = sf.config();  // flag errors before the (slow) loads
  EngineParts p;
  const ModelLoadOptions lo = mf.load_options();
  LoadedModel lm = load_model(mf.model_dir, lo, mf.kv_block_size);
  int blocks = lm.kv_num_blocks;
  std::unique_ptr<Model> draft;
  if (sc.method == SpecMethod::Draft) {
    LoadedDraft ld = load_draft_model(sf.draft_dir, mf.model_dir, *lm.model, lm.kv_num_blocks, lo, mf.kv_block_size);
    draft = std::move(ld.model);
    blocks = ld.kv_num_blocks;
  } else if (sc.method == SpecMethod::Eagle) {
    LoadedDraft ld = load_eagle_draft(sf.draft_dir, mf.model_dir, *lm.model, lm.kv_num_blocks, lo, mf.kv_block_size);
    draft = std::move(ld.model);
    blocks = ld.kv_num_blocks;
  } else if (sc.method == SpecMethod::Medusa) {
    LoadedMedusa m = load_medusa_proposer(sf.draft_dir, mf.model_dir, *lm.model, sc, lm.kv_num_blocks, lo,
                                          mf.kv_block_size);
    p.proposer = std::move(m.proposer);
    blocks = m.kv_num_blocks;
  }
  p.model = std::move(lm.model);
  p.config = mf.engine_config(blocks);
  p.config.spec = sc;
  if (sc.method == SpecMethod::Eagle) p.proposer = make_eagle_proposer(std::move(draft), sc);
  else if (sc.method != SpecMethod::Medusa) p.proposer = make_proposer(sc, std::move(draft));  // Medusa's: above
  return p;
}

void SamplingFlags::add(CLI::App& app) {
  app.add_option("--max-tokens", max_tokens, "tokens to generate")->check(CLI::Range(1, 1 << 24));
  app.add_option("--temperature", temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", top_k, "0 = off")->check(CLI::Range(0, 1 << 24));
  app.add_option("--top-p", top_p)->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-p", min_p)->check(CLI::Range(0.0, 1.0));
  app.add_option("--repetition-penalty", repetition_penalty)->check(CLI::Range(0.01, 100.0));
  app.add_option("--presence-penalty", presence_penalty)->check(CLI::Range(-2.0, 2.0));
  app.add_option("--frequency-penalty", frequency_penalty)->check(CLI::Range(-2.0, 2.0));
  app.add_option("--seed", seed, "sampling seed (same seed, same output)");
  app.add_option("--stop", stop, "stop string (repeatable)");
  app.add_option("--stop-id", stop_ids, "stop token id (repeatable)");
  app.add_flag("--ignore-eos", ignore_eos, "keep generating past end-of-sequence");
  app.add_option("--logprobs", logprobs, "print log-probabilities with N alternatives")->check(CLI::Range(0, 20));
}

SamplingParams SamplingFlags::params(const std::string& model_dir) const {
  SamplingParams p;
  GenerationConfig g = load_generation_config(model_dir);
  bool sample = g.do_sample.value_or(false);
  p.temperature = temperature >= 0 ? temperature : (sample ? g.temperature.value_or(1.0f) : 0.0f);
  p.top_k = top_k >= 0 ? top_k : (sample ? g.top_k.value_or(0) : 0);
  p.top_p = top_p >= 0 ? top_p : (sample ? g.top_p.value_or(1.0f) : 1.0f);
  p.min_p = min_p >= 0 ? min_p : (sample ? g.min_p.value_or(0.0f) : 0.0f);
  p.repetition_penalty = repetition_penalty > 0 ? repetition_penalty : g.repetition_penalty.value_or(1.0f);
  p.presence_penalty = presence_penalty;
  p.frequency_penalty = frequency_penalty;
  if (seed >= 0) p.seed = uint64_t(seed);
  p.max_tokens = max_tokens;
  p.stop_strings = stop;
  p.stop_token_ids = stop_ids;
  p.ignore_eos = ignore_eos;
  p.logprobs = logprobs;
  return p;
}

std::vector<int32_t> model_end_ids(const ModelConfig& cfg, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  auto add = [&](int32_t id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  for (int e : cfg.eos_token_ids) add(e);
  if (auto e = tok.eos_id()) add(*e);
  return ids;
}

}  // namespace ignis::cli
