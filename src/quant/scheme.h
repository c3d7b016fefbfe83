// ignis quant: the per-weight precision seam. A LinearSpec says how one projection's weight is
// stored (dense; FP8 e4m3 with per-tensor / per-channel / per-block scales; or 4 / 8-bit integers
// with per-group scales, optional zero points and an optional act-order g_idx, weight-only) and how
// its input is quantized (not at all, one static scale, dynamic per token or per token-group). A QuantConfig is
// what a checkpoint (or --quantization) says about every projection of a model; both backends ask
// it, through model/linear_weights.h, how to build each projection.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ignis {

enum class WeightScale : uint8_t { None, Tensor, Channel, Block };
enum class ActScale : uint8_t { None, StaticTensor, DynamicToken, DynamicGroup };
// How a checkpoint stores integer weights (each repacked at load into IntLinear, quant/int_quant.h):
//   AwqGemm   AutoAWQ "gemm": qweight int32 [k, n/8] packed along n in the order 0,2,4,6,1,3,5,7,
//             qzeros int32 [k/g, n/8] (same order), scales fp16 [k/g, n];
//   Gptq      AutoGPTQ: qweight int32 [k/pack, n] packed along k, qzeros int32 [k/g, n/pack] packed
//             along n holding zero - 1 (checkpoint_format "gptq"; "gptq_v2": the zero itself),
//             scales fp16 [k/g, n], g_idx int32 [k];
//   CtPacked  compressed-tensors "pack-quantized": weight_packed int32 [n, k/pack] (codes offset by
//             2^(bits-1)), weight_scale [n, k/g], weight_zero_point int32 [n/pack, k/g] (asymmetric),
//             weight_g_idx int32 [k] (actorder "group"), weight_shape int [2];
//   OnLoad    --quantization int8-wo / int4: dense weights rounded to nearest at load.
enum class IntLayout : uint8_t { None, AwqGemm, Gptq, CtPacked, OnLoad };

struct LinearSpec {              // how one projection's weight is stored and how its input is quantized
  DType weight = DType::BF16;    // BF16/F16/F32: dense (the backend uses its compute dtype); F8_E4M3: FP8
  WeightScale wscale = WeightScale::None;
  int block_n = 128, block_k = 128;  // WeightScale::Block
  ActScale act = ActScale::None;
  int act_group = 128;               // ActScale::DynamicGroup: elements of k per scale
  // Integer weight-only (bits 4 or 8; `weight` unused): w = (code - zero) * scale per (row, group of
  // `group` input columns; group 0 = one group of the whole row, per channel). Without zero_point the
  // zero is 2^(bits-1) (symmetric). act_order: a g_idx gives each input column's group.
  int bits = 0;
  int group = 128;
  bool zero_point = false;
  bool act_order = false;
  IntLayout layout = IntLayout::None;
  bool gptq_v2 = false;              // IntLayout::Gptq: qzeros hold the zero itself (no -1 offset)
  bool fp8() const { return weight == DType::F8_E4M3 && bits == 0; }
  bool wint() const { return bits != 0; }          // integer weight-only
  bool quantized() const { return fp8() || wint(); }
  // Elements of k per group for a projection of k inputs (group 0: k).
  int64_t group_size(int64_t k) const { return group > 0 ? group : k; }
  std::string describe() const;      // e.g. "fp8-e4m3 (weight per channel, input dynamic per token)", "int4 (awq gemm, group 128, zero points)"
  bool operator==(const LinearSpec&) const = default;
};

// Smallest dynamic scale (an all-zero row quantizes to zeros instead of dividing by zero).
constexpr float kMinDynamicScale = 1.0f / (448.0f * 512.0f);
inline float dynamic_scale(float amax) { return std::max(amax / 448.0f, kMinDynamicScale); }

struct QuantConfig {                     // from config.json quantization_config / hf_quant_config.json / --quantization
  enum class Method { None, CompressedTensors, ModelOpt, Fp8, OnLoad, Awq, Gptq };
  Method method = Method::None;
  LinearSpec linear;                     // every projection not ignored
  std::vector<std::string> ignore;       // module names, "re:<regex>" (compressed-tensors) or globs with * (modelopt)
  bool kv_cache_fp8 = false;             // checkpoint carries FP8 KV scales (k_scale / v_scale)
  std::string source;                    // file the config came from, for messages
  // Added to the lead's API: compressed-tensors `targets` (module names / "re:" regexes; empty or
  // "Linear" = every projection), so a checkpoint quantizing only some projections loads too.
  std::vector<std::string> targets;

  bool ignored(const std::string& module) const;   // module: "lm_head", "model.layers.3.mlp.down_proj"
  LinearSpec spec_for(const std::string& module, DType dense) const;  // dense spec if None or ignored
  // Suffix of the weight-scale tensor of an FP8 module: "weight_scale", or "weight_scale_inv"
  // (quant_method "fp8" with weight_block_size).
  std::string weight_scale_name() const;
  bool quantized() const { return method != Method::None; }
};

// "compressed-tensors", "modelopt", "fp8", "awq", "gptq", "on load"
const char* quant_method_name(QuantConfig::Method m);

// One entry of an ignore / targets list against a module name:
//   "re:<regex>"  Python re.match semantics (anchored at the start, PCRE2);
//   with * or ?   a glob over the whole name (ModelOpt exclude_modules);
//   otherwise     the module itself, a parent ("model.layers.0" matches its projections) or a leaf
//                 name ("lm_head", "down_proj" match "...mlp.down_proj").
// Throws Error for an invalid regex.
bool module_pattern_matches(const std::string& pattern, const std::string& module);
// Throws Error("<what>: ...") when `pattern` is a "re:" entry that does not compile.
void check_module_pattern(const std::string& pattern, const std::string& what);

}  // namespace ignis
