// libFuzzer target: the checkpoint quantization descriptions (config.json quantization_config in the
// compressed-tensors / modelopt / fp8 / awq / gptq layouts, ModelOpt's hf_quant_config.json). An
// accepted description must be a usable FP8 or integer weight-only scheme (bits 4 or 8, a group size
// >= 0, a checkpoint layout, no input quantization), and asking it about module names must not throw
// (every "re:" pattern compiled at parse time; PCRE2 match limits keep hostile patterns fast).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/json_util.h"
#include "quant/config.h"

namespace {

void check(const ignis::QuantConfig& q) {
  const ignis::LinearSpec& s = q.linear;
  const bool fp8 = s.fp8() && s.wscale != ignis::WeightScale::None && s.act != ignis::ActScale::None &&
                   s.block_n > 0 && s.block_k > 0 && s.act_group > 0;
  const bool wint = s.wint() && (s.bits == 4 || s.bits == 8) && s.group >= 0 && s.act == ignis::ActScale::None &&
                    s.layout != ignis::IntLayout::None && s.layout != ignis::IntLayout::OnLoad &&
                    (!s.act_order || s.group > 0) && s.group_size(4096) > 0;
  bool ok = (fp8 || wint) && !s.describe().empty() && !q.source.empty();
  if (!ok) __builtin_trap();
  for (const char* m : {"lm_head", "model.layers.0.self_attn.q_proj", "model.layers.31.mlp.down_proj"}) {
    ignis::LinearSpec d = q.spec_for(m, ignis::DType::BF16);
    if (d.quantized() && !(d == s)) __builtin_trap();
    if (!d.quantized() && d.weight != ignis::DType::BF16) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  ignis::jsonf::Json j;
  try {
    j = ignis::jsonf::parse(text, "fuzz/config.json");
  } catch (const ignis::Error&) {
    return 0;
  }
  const ignis::jsonf::Json* qc = ignis::jsonf::find(j, "quantization_config");
  try {
    check(ignis::parse_quantization_config(qc ? *qc : j, "fuzz/config.json"));
  } catch (const ignis::Error&) {
  }
  try {
    check(ignis::parse_hf_quant_config(j, "fuzz/hf_quant_config.json"));
  } catch (const ignis::Error&) {
  }
  return 0;
}
