// ignis model: the one place that interprets a checkpoint's projections for both backends. A
// projection (q/k/v fused, o, gate/up fused, down, lm_head) comes out as a HostLinear: dense parts
// pointing into the WeightStore, one fused FP8 QuantizedLinear (codes + scales) read from an FP8
// checkpoint or quantized here (--quantization fp8), or one fused IntLinear (int4 / int8 weight-only,
// quant/int_quant.h) unpacked from an AWQ / GPTQ / compressed-tensors checkpoint or rounded here
// (--quantization int8-wo | int4). The backends only upload / dequantize it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "quant/int_quant.h"
#include "quant/quantize.h"

namespace ignis {

struct HostLinear {                       // one projection, parts fused along n, ready for a backend
  std::string name;                       // for messages: "model.layers.3.self_attn.qkv (fused)"
  LinearSpec spec;                        // dense (spec.quantized() false), FP8 or integer weight-only
  int64_t n = 0, k = 0;
  std::vector<const TensorRef*> dense;    // dense: the parts (F32/F16/BF16), stacked along n, pointing into the WeightStore
  QuantizedLinear q;                      // fp8: fused codes + scales (per-tensor scales of fused parts that differ
                                          // become per-channel; differing static input scales take the max + a log warning)
  IntLinear wq;                           // integer: fused codes, scales, zeros, g_idx (internal layout)
};

// The group --quantization int8-wo / int4 uses for a projection of k inputs: kOnLoadIntGroup (128) when it
// divides k, else the largest power of two >= 32 that does, else 0 (one group per row).
int on_load_int_group(int64_t k);

// modules: e.g. {"model.layers.0.self_attn.q_proj", "...k_proj", "...v_proj"}; n of each from the tensor shapes
// checked against cfg. QuantConfig::Method::OnLoad quantizes dense weights here (quantize_weight_fp8).
// Block-scaled parts whose boundaries do not fall on block_n rows are fused with a finer block_n
// (gcd of block_n and the parts' row counts; the scales repeat, the values are unchanged).
HostLinear load_linear(const WeightStore& ws, const ModelConfig& cfg, const std::vector<std::string>& modules, int64_t k);
// Per-layer (k_scale, v_scale) from the checkpoint; nullopt when it has none.
std::optional<std::vector<std::pair<float, float>>> load_kv_scales(const WeightStore& ws, const ModelConfig& cfg);

// The projections of layer `l` as both backends fuse them.
struct LayerLinears {
  std::vector<std::string> qkv, o, gate_up, down;
};
LayerLinears layer_linears(int layer);

// --quantization: "" / "none" leave cfg as it is; "fp8" sets cfg.quant to Method::OnLoad (dense
// projections quantized by load_linear). Throws when the checkpoint is quantized already.
void apply_quantization_flag(ModelConfig& cfg, const std::string& flag);
// --kv-cache-dtype: "auto" (FP8 when the checkpoint carries KV scales, else `compute`), "bf16" (the
// compute dtype, no FP8), "fp8" (F8_E4M3). Throws for anything else.
DType resolve_kv_cache_dtype(const std::string& flag, const ModelConfig& cfg, DType compute);
// The per-layer KV scales an FP8 KV cache uses: the checkpoint's, else `calibrated` when given, else
// 1.0 for every layer with a warning naming `who` (the backend).
std::vector<std::pair<float, float>> kv_scales_or_default(const WeightStore& ws, const ModelConfig& cfg,
                                                          const std::vector<std::pair<float, float>>& calibrated,
                                                          const char* who);

// Bytes of the weights as the backends hold them: FP8 projections (checkpoint or OnLoad) 1 byte per
// weight (scales not counted), everything else in cfg.dtype (benchmarks' bandwidth figures); integer
// weight-only projections count as cfg.dtype: the CUDA backend dequantizes them at upload for now.
int64_t model_weight_bytes(const ModelConfig& cfg);

// A tensor a checkpoint must hold: its accepted names (the first is the canonical one, used by dummy
// weights), accepted shapes (the first canonical) and kind.
struct CheckpointTensor {
  // F32/F16/BF16; F8_E4M3; a finite positive float scale; I32 packed integer codes / zero points;
  // an integer index tensor (g_idx I32, compressed-tensors weight_shape I32 or I64)
  enum class Kind { Float, Fp8, Scale, Packed, Index };
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  Kind kind = Kind::Float;
};
// Every tensor the checkpoint of `cfg` holds: expected_tensors' (projection weights F8_E4M3 where
// cfg.quant quantizes them in the checkpoint) plus weight scales, static input scales and KV scales;
// integer projections as their published tensors (qweight / qzeros / scales [/ g_idx], or
// weight_packed / weight_scale [/ weight_zero_point / weight_g_idx] / weight_shape) instead of .weight.
// Throws naming the module when the group size does not divide its input dimension.
std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& cfg);
// True when `module`'s weight is stored as FP8 in the checkpoint (not OnLoad, not ignored).
bool checkpoint_fp8(const ModelConfig& cfg, const std::string& module);
// True when `module`'s weight is stored as packed integers in the checkpoint (AWQ / GPTQ / compressed-tensors).
bool checkpoint_int(const ModelConfig& cfg, const std::string& module);

}  // namespace ignis
