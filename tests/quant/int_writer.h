// Test helper: writes integer weight-only checkpoints of a dense model folder in each published layout
// (AWQ gemm, GPTQ, compressed-tensors pack-quantized) with its own packers, written from the published
// specifications and independent of ignis' readers. The integer codes come from a simple round to
// nearest of the dense weights (so the model stays sane); the reference is the dense model whose
// projections are exactly float(code - zero) * scale, with the scales as the file holds them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace ignis::test {

enum class IntFormat {
  Awq,              // awq gemm, 4 bits, group 32, zero points, fp16 scales
  GptqSym4,         // gptq 4 bits, group 32, sym (stored zeros 7), g_idx c / 32 present, desc_act false
  GptqAsym4Act,     // gptq 4 bits, group 32, asym, desc_act true with a shuffled g_idx
  Gptq8,            // gptq 8 bits, per channel (group_size -1), asym, checkpoint_format gptq
  CtW4Asym,         // compressed-tensors pack-quantized, 4 bits, group 32, asymmetric (packed zero points), bf16 scales
  CtW4SymActOrder,  // compressed-tensors, 4 bits, group 32, symmetric, actorder "group" (weight_g_idx)
  CtW8Channel,      // compressed-tensors, 8 bits, strategy channel, symmetric
};
const char* int_format_name(IntFormat f);
std::vector<IntFormat> all_int_formats();

struct IntReference {
  ModelConfig dense_cfg;  // the base model's config
  WeightStore dequant;    // every tensor of the base, projections replaced by their dequantized F32 values
};

// Reads base_dir (config.json + safetensors), writes out_dir in `format`. lm_head stays dense.
IntReference write_int_folder(const std::filesystem::path& base_dir, const std::filesystem::path& out_dir,
                              IntFormat format);

// The packers, exposed for the bit-level tests. codes / zeros: (n, k) / (n, groups) unsigned values.
std::vector<int32_t> awq_pack_cols(const std::vector<int>& v, int64_t rows_out, int64_t cols_in);  // [cols_in, rows_out/8]

}  // namespace ignis::test
