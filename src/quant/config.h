// ignis quant: reading a checkpoint's quantization description into a QuantConfig, and the
// --quantization flag. Three published layouts are understood (loaded as published, no conversion):
//   compressed-tensors  config.json quantization_config {quant_method "compressed-tensors", format
//                       "float-quantized", config_groups {weights, input_activations, targets}, ignore,
//                       kv_cache_scheme} (llm-compressor, RedHatAI / neuralmagic "-FP8");
//   NVIDIA ModelOpt     hf_quant_config.json {producer, quantization {quant_algo "FP8",
//                       kv_cache_quant_algo, exclude_modules}} or config.json quantization_config
//                       {quant_method "modelopt", quant_algo, kv_cache_quant_algo, exclude_modules};
//   fp8                 config.json quantization_config {quant_method "fp8", fmt "e4m3",
//                       activation_scheme, weight_block_size [128, 128], modules_to_not_convert}
//                       (transformers' FineGrainedFP8, Qwen3 / DeepSeek block FP8; per-tensor without
//                       weight_block_size).
// and the integer weight-only layouts (quant/scheme.h IntLayout):
//   awq                 config.json quantization_config {quant_method "awq", bits 4, group_size,
//                       zero_point true, version "gemm", modules_to_not_convert} (AutoAWQ);
//   gptq                {quant_method "gptq", bits 4 | 8, group_size (-1 per channel), desc_act, sym,
//                       checkpoint_format "gptq" | "gptq_v2", lm_head, modules_to_not_convert};
//   compressed-tensors  format "pack-quantized", weights {num_bits 4 | 8, type "int", strategy group |
//                       channel, group_size, symmetric, actorder}, input_activations null (W4A16 / W8A16).
// Anything else (other bit widths, AWQ gemv / exllama / marlin, exl2, int activations, e5m2,
// weight-only FP8, unknown methods or KV schemes) is one Error naming the file and the field.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "quant/scheme.h"

namespace ignis {

constexpr int kOnLoadIntGroup = 128;

// `qc`: the value of config.json's "quantization_config"; `file` names it in errors.
QuantConfig parse_quantization_config(const nlohmann::json& qc, const std::string& file);
// The whole of ModelOpt's hf_quant_config.json.
QuantConfig parse_hf_quant_config(const nlohmann::json& j, const std::string& file);
// --quantization: "fp8" -> OnLoad (weight per channel, input dynamic per token, lm_head ignored);
// "int8-wo" -> OnLoad 8-bit symmetric, "int4" -> OnLoad 4-bit with zero points, both group
// kOnLoadIntGroup (load_linear takes the largest power of two dividing k when 128 does not, at least 32,
// else one group per row), lm_head ignored; "none" or "" -> nullopt; anything else throws.
std::optional<QuantConfig> parse_quantization_method(const std::string& cli_value);

// The quantization_config ignis quantize writes: compressed-tensors "float-quantized", one group
// targeting "Linear" with `spec` (weights per channel or per tensor; input dynamic per token or static
// per tensor), `ignore` as given, kv_cache_scheme FP8 per tensor when `kv_fp8`. Field for field the
// layout llm-compressor publishes.
nlohmann::ordered_json compressed_tensors_config(const LinearSpec& spec, const std::vector<std::string>& ignore,
                                                 bool kv_fp8);

}  // namespace ignis
