// Test helper: writes FP8 checkpoints of a dense model folder in each published layout with its
// own writer (independent of ignis quantize), and the reference a naive forward needs to check a
// load of them: the dequantized weights as the file holds them and the fake-quantization of every
// projection's input and of K/V.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "tiny_checkpoint.h"

namespace ignis::test {

enum class Fp8Format {
  CtTensorStaticKv,  // compressed-tensors: weights per tensor, static input scales [1], KV scales (self_attn.k_scale)
  CtChannelDynamic,  // compressed-tensors: weights per channel [n, 1] in BF16, dynamic per token, no KV scheme
  CtBlockGroup,      // compressed-tensors: weights per 48x32 block, dynamic per 32-group input
  ModelOpt,          // hf_quant_config.json: per tensor [] + static input [], KV k_proj.k_scale / v_proj.v_scale
  ModelOptConfig,    // the same in config.json quantization_config (quant_method "modelopt")
  Fp8Block,          // quant_method fp8: weight_block_size [128, 128], weight_scale_inv, dynamic per 128-group
  Fp8TensorStatic,   // quant_method fp8 without blocks: weight_scale [], activation_scheme static, input_scale []
};
const char* fp8_format_name(Fp8Format f);
std::vector<Fp8Format> all_fp8_formats();

struct Fp8Reference {
  ModelConfig dense_cfg;  // the base model's config
  WeightStore dequant;    // every tensor of the base, projections replaced by their dequantized F32 values
  NaiveQuant quant;       // input / KV fake-quantization of the format
};

// Reads base_dir (config.json + safetensors), writes out_dir in `format` (static input and KV scales
// calibrated on a few seeded random sequences through the dense CPU model). lm_head stays dense.
Fp8Reference write_fp8_folder(const std::filesystem::path& base_dir, const std::filesystem::path& out_dir,
                              Fp8Format format);

// A unique empty folder under the temp dir, removed at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ignis::test
