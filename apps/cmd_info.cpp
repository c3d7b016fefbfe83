// ignis info --model DIR [--load-format auto|safetensors|dummy]: what a model
// folder holds (architecture, sizes, rope, window, dtype), its parameter count,
// the memory its weights and its KV cache per token need, and whether the
// weights are present and valid. Any problem: a clear message and exit 1.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "command.h"
#include "core/error.h"
#include "model/config.h"
#include "model/linear_weights.h"
#include "model/weights.h"

namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, u++;
  return fmt::format("{:.2f} {}", b, units[u]);
}

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.2f}K", n / 1e3);
  return fmt::format("{}", n);
}

std::string rope_str(const ignis::ModelConfig& c) {
  using T = ignis::RopeScaling::Type;
  const auto& r = c.rope_scaling;
  switch (r.type) {
    case T::None: return fmt::format("theta {}", c.rope_theta);
    case T::Linear: return fmt::format("theta {}, linear scaling factor {}", c.rope_theta, r.factor);
    case T::Llama3:
      return fmt::format("theta {}, llama3 scaling factor {} (low {}, high {}, original max positions {})",
                         c.rope_theta, r.factor, r.low_freq_factor, r.high_freq_factor,
                         r.original_max_position_embeddings);
  }
  return "?";
}

int run_info(int argc, char** argv) {
  CLI::App app{"Describe a Hugging Face model folder: architecture, sizes, memory needs, weights check", argv[0]};
  std::string model, load_format = "auto";
  bool materialize = false;
  uint64_t seed = 0;
  app.add_option("--model", model, "model folder (config.json [+ model.safetensors | index])")->required();
  app.add_option("--load-format", load_format, "auto | safetensors | dummy (dummy: no weight file needed)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_flag("--materialize", materialize, "with --load-format dummy: generate the dummy weights and time it");
  app.add_option("--seed", seed, "seed of the dummy weights");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ignis::LoadFormat fmt_ = ignis::parse_load_format(load_format);
  ignis::ModelConfig c = ignis::load_model_config(model);
  ignis::GenerationConfig g = ignis::load_generation_config(model);

  fmt::print("model:            {}\n", model);
  fmt::print("architecture:     {} ({})\n", c.architecture, ignis::arch_name(c.arch));
  fmt::print("layers:           {}\n", c.num_layers);
  fmt::print("hidden size:      {}\n", c.hidden_size);
  fmt::print("intermediate:     {}\n", c.intermediate_size);
  fmt::print("attention heads:  {} (kv heads {}, head dim {}{})\n", c.num_heads, c.num_kv_heads, c.head_dim,
             c.num_kv_heads < c.num_heads ? fmt::format(", GQA {}:1", c.num_heads / c.num_kv_heads) : "");
  fmt::print("vocab size:       {}\n", c.vocab_size);
  fmt::print("max positions:    {}\n", c.max_position_embeddings);
  fmt::print("rope:             {}\n", rope_str(c));
  fmt::print("sliding window:   {}\n", c.sliding_window > 0 ? std::to_string(c.sliding_window) : "none");
  fmt::print("rms norm eps:     {}\n", c.rms_norm_eps);
  fmt::print("attention bias:   {}\n", c.attention_bias ? (c.o_proj_bias ? "q, k, v, o" : "q, k, v") : "none");
  fmt::print("tied embeddings:  {}\n", c.tie_word_embeddings ? "yes" : "no");
  fmt::print("dtype:            {}\n", ignis::dtype_name(c.dtype));
  if (c.quant.quantized())
    fmt::print("quantization:     {} ({}): {}{}, ignored: [{}]\n", ignis::quant_method_name(c.quant.method), c.quant.source,
               c.quant.linear.describe(), c.quant.kv_cache_fp8 ? ", FP8 KV cache scales" : "",
               fmt::join(c.quant.ignore, ", "));
  std::vector<int> eos = g.eos_token_ids.empty() ? c.eos_token_ids : g.eos_token_ids;
  fmt::print("bos / eos ids:    {} / [{}]\n", c.bos_token_id ? std::to_string(*c.bos_token_id) : "none",
             fmt::join(eos, ", "));
  int64_t params = c.num_params();
  fmt::print("parameters:       {} ({})\n", params, human_count(double(params)));
  if (c.quant.quantized())
    fmt::print("weights memory:   {} (FP8 projections, the rest in {})\n", human_bytes(double(ignis::model_weight_bytes(c))),
               ignis::dtype_name(c.dtype));
  else
    fmt::print("weights memory:   {} in {}\n", human_bytes(double(params) * double(ignis::dtype_size(c.dtype))),
               ignis::dtype_name(c.dtype));
  for (ignis::DType kv : {ignis::DType::F8_E4M3, ignis::DType::BF16, ignis::DType::F32}) {
    int64_t b = c.kv_bytes_per_token(kv);
    fmt::print("KV cache/token:   {} bytes ({}) in {}; {} for {} tokens\n", b, human_bytes(double(b)),
               ignis::dtype_name(kv), human_bytes(double(b) * c.max_position_embeddings), c.max_position_embeddings);
  }

  if (fmt_ == ignis::LoadFormat::Dummy) {
    if (!materialize) {
      fmt::print("weights:          dummy (seeded random at load time; files not read)\n");
      return 0;
    }
    auto t0 = std::chrono::steady_clock::now();
    ignis::WeightStore ws = ignis::WeightStore::load(model, c, fmt_, seed);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ignis::validate_weights(ws, c);
    fmt::print("weights:          dummy, seed {}: {} tensors, {} generated in {:.2f} s ({:.2f} GB/s)\n", seed,
               ws.all().size(), human_bytes(double(ws.total_bytes())), s, double(ws.total_bytes()) / s / 1e9);
    return 0;
  }
  // Loading maps the files and validates every tensor against config.json; an
  // Error here is a bad or missing checkpoint (printed by main, exit 1).
  std::optional<ignis::WeightStore> loaded;
  try {
    loaded.emplace(ignis::WeightStore::load(model, c, fmt_));
  } catch (const ignis::Error&) {
    fmt::print("weights:          NOT VALID (see the error below)\n");
    std::fflush(stdout);
    throw;
  }
  const ignis::WeightStore& ws = *loaded;
  std::map<std::string, int> files;
  std::map<ignis::DType, int64_t> by_dtype;
  for (auto& [name, t] : ws.all()) files[t.file]++, by_dtype[t.dtype] += t.numel();
  std::string dtypes;
  for (auto& [dt, n] : by_dtype) dtypes += fmt::format("{}{} {}", dtypes.empty() ? "" : ", ", ignis::dtype_name(dt), human_count(double(n)));
  fmt::print("weights:          present and valid: {} tensors in {} file(s), {} ({})\n", ws.all().size(), files.size(),
             human_bytes(double(ws.total_bytes())), dtypes);
  return 0;
}

}  // namespace

IGNIS_COMMAND(info, "describe a model folder: architecture, parameters, memory, weights check", run_info);
