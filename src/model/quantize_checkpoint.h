// ignis model: the library half of `ignis quantize`: calibration (static input and KV scales from
// the amax a backend reports through CalibrationObserver) and the writer of a compressed-tensors
// FP8 folder (config.json with quantization_config, safetensors shards + index, tokenizer and
// generation files copied) that ignis, vLLM and transformers load as published.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "model/weights.h"
#include "quant/scheme.h"

namespace ignis {

struct Calibration {
  std::map<std::string, float> input_amax;         // module ("model.layers.0.self_attn.q_proj") -> amax of its input
  std::vector<std::pair<float, float>> kv_amax;    // per layer (amax of K after RoPE, amax of V)
  int64_t tokens = 0, samples = 0;
};

// Runs `model` over every sample (one prefill each, from position 0) with an observer set and
// returns the largest |x| seen at every projection input and K/V. Throws when the backend cannot
// observe or a sample is empty / longer than the model's context.
Calibration calibrate(Model& model, const std::vector<std::vector<int32_t>>& samples, bool progress);

struct QuantizeCheckpointOptions {
  ActScale act = ActScale::DynamicToken;  // DynamicToken (--scheme dynamic) or StaticTensor (--scheme static)
  bool kv_fp8 = false;                    // write k_scale / v_scale and kv_cache_scheme (needs calibration)
  bool quantize_lm_head = false;          // else lm_head stays dense and is listed in `ignore`
  // A single-file input is split into shards above this many bytes (a sharded input keeps its shards).
  int64_t max_shard_bytes = int64_t(5) << 30;
  bool progress = true;
};

// The LinearSpec ignis quantize writes: FP8 weights per channel, input as `opt.act` says.
LinearSpec quantize_spec(const QuantizeCheckpointOptions& opt);

// Writes the FP8 version of the dense checkpoint (in_dir, cfg, ws) to out_dir (created; must not
// exist or be empty). `calib` is required for static input scales and for KV scales. Scales: weight =
// amax / 448 per output channel, input = kv = dynamic_scale(amax) (amax / 448, at least
// kMinDynamicScale).
void write_fp8_checkpoint(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir,
                          const ModelConfig& cfg, const WeightStore& ws, const QuantizeCheckpointOptions& opt,
                          const Calibration* calib);

// Copies the tokenizer, generation and chat-template files of in_dir to out_dir (the quantizers' outputs).
void copy_side_files(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir);

}  // namespace ignis
