// ignis quant: integer weight-only projections (4 or 8 bits, group scales, optional zero points,
// optional act-order g_idx). Every published layout (AWQ gemm, GPTQ, compressed-tensors
// pack-quantized; quant/scheme.h IntLayout) is unpacked at load into one internal layout, IntLinear,
// and the numerics are defined here once: w = float(code - zero) * scale, exact in fp32 (an integer
// of at most 9 bits times an fp16 / bf16 / fp32 scale). The CPU reference dequantizes with
// dequantize_int; the CUDA backend does the same arithmetic.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "quant/scheme.h"

namespace ignis {

// Internal layout (row-major by output row, so a GEMV streams each row's codes, scales and zeros
// along k in order):
//   qweight  (n, k / pack) uint32, pack = 32 / bits codes per word, packed along k in natural order:
//            column c of row r is bits [(c % pack) * bits, +bits) of word r * (k / pack) + c / pack;
//   scale    (n, groups) fp32 (the published fp16 / bf16 values, exact);
//   zero     (n, groups) unsigned zero codes, or empty: 2^(bits-1) everywhere (symmetric);
//   g_idx    (k) the group of each input column (act order), or empty: column c is in group c / group.
// Codes are unsigned (0 .. 2^bits - 1): compressed-tensors' offset codes, AWQ / GPTQ codes as stored.
struct IntLinear {
  LinearSpec spec;
  int64_t n = 0, k = 0;
  std::vector<uint32_t> qweight;
  std::vector<float> scale;
  std::vector<uint8_t> zero;
  std::vector<int32_t> g_idx;

  int pack() const { return 32 / spec.bits; }
  int64_t words_per_row() const { return k / pack(); }
  int64_t group_len() const { return spec.group_size(k); }
  int64_t groups() const { return k / group_len(); }
  int code(int64_t row, int64_t col) const {
    const uint32_t w = qweight[size_t(row * words_per_row() + col / pack())];
    return int((w >> ((col % pack()) * spec.bits)) & ((1u << spec.bits) - 1u));
  }
  int64_t group_of(int64_t col) const { return g_idx.empty() ? col / group_len() : g_idx[size_t(col)]; }
  int zero_at(int64_t row, int64_t g) const {
    return zero.empty() ? (1 << (spec.bits - 1)) : int(zero[size_t(row * groups() + g)]);
  }
  float scale_at(int64_t row, int64_t g) const { return scale[size_t(row * groups() + g)]; }
  float value(int64_t row, int64_t col) const {  // the dequantized weight
    const int64_t g = group_of(col);
    return float(code(row, col) - zero_at(row, g)) * scale_at(row, g);
  }
};

// Throws Error("<what>: ...") unless bits is 4 or 8, the group divides k, k is a multiple of the pack,
// and the vectors have the sizes above; g_idx (when present) must be a permutation of groups: every
// value in [0, groups) and each group holding exactly `group` columns.
void check_int_linear(const IntLinear& q, const std::string& what);
// Drops a g_idx equal to c / group (GPTQ writes one even without act order).
void drop_trivial_g_idx(IntLinear& q);
// (n, k) fp32: exactly value(row, col).
void dequantize_int(const IntLinear& q, float* out);
// Rows of several parts (same k, bits, group, g_idx) stacked along n; symmetric parts get explicit
// zeros when another part has zero points. Throws naming `name` when the parts do not agree.
IntLinear fuse_int(std::vector<IntLinear> parts, const std::string& name);

// Round to nearest of fp32 weights (n, k) with spec.bits / group / zero_point. Per group:
//   zero_point:  scale = max(max - min, 1e-5) / (2^bits - 1) (rounded to fp16, as AWQ stores it),
//                zero = clamp(round(-min / scale), 0, 2^bits - 1), code = clamp(round(w / scale) + zero, 0, 2^bits - 1)
//                (AutoAWQ's pseudo_quantize_tensor);
//   symmetric:   scale = max(amax, 1e-5) / (2^(bits-1) - 1) (fp16), code = clamp(round(w / scale), -2^(bits-1),
//                2^(bits-1) - 1) + 2^(bits-1).
// Rounding is to nearest even (torch.round). `in_scale` (k, optional): the weights are multiplied by it
// per input column before quantizing (AWQ's s; the caller divides the input by s).
IntLinear quantize_weight_int(const float* w, int64_t n, int64_t k, const LinearSpec& spec,
                              const float* in_scale = nullptr);
// The same from an (n, k) tensor of `dtype` (F32/F16/BF16), converted a few rows at a time on several threads.
IntLinear quantize_weight_int(DType dtype, const void* w, int64_t n, int64_t k, const LinearSpec& spec);

// ---- published layouts -> IntLinear (the readers check sizes; values are what the file holds) ----
// AWQ gemm: qweight [k, n/8], qzeros [k/g, n/8] (order 0,2,4,6,1,3,5,7 within each word), scales [k/g, n].
IntLinear unpack_awq(const int32_t* qweight, const int32_t* qzeros, const float* scales, int64_t n, int64_t k,
                     const LinearSpec& spec);
// GPTQ: qweight [k/pack, n], qzeros [k/g, n/pack] (stored zero - 1 unless spec.gptq_v2), scales [k/g, n],
// g_idx [k] or nullptr.
IntLinear unpack_gptq(const int32_t* qweight, const int32_t* qzeros, const float* scales, const int32_t* g_idx,
                      int64_t n, int64_t k, const LinearSpec& spec);
// compressed-tensors pack-quantized: weight_packed [n, k/pack], weight_scale [n, k/g], weight_zero_point
// [ceil(n/pack), k/g] (offset by 2^(bits-1); nullptr when symmetric), weight_g_idx [k] or nullptr.
IntLinear unpack_compressed(const int32_t* packed, const float* scale, const int32_t* zero_point, const int32_t* g_idx,
                            int64_t n, int64_t k, const LinearSpec& spec);

// ---- IntLinear -> AWQ gemm (ignis quantize --method awq; the published layout bit for bit) ----
struct AwqTensors {
  std::vector<int32_t> qweight;  // [k, n/8]
  std::vector<int32_t> qzeros;   // [k/g, n/8]
  std::vector<uint16_t> scales;  // [k/g, n] fp16 bits
};
AwqTensors pack_awq(const IntLinear& q);  // q: 4 bits, zero points, no g_idx, scales representable in fp16

}  // namespace ignis
