// ignis quant: host FP8 quantization, exact in fp32. These functions define the numerics every
// backend reproduces: the CPU reference calls them directly, the CUDA kernels do the same
// arithmetic (x * (1/s) with an IEEE reciprocal, round to nearest even, saturate at 448).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "quant/e4m3.h"
#include "quant/scheme.h"

namespace ignis {

struct QuantizedLinear {            // an (n, k) FP8 weight as the backends consume it
  LinearSpec spec;
  int64_t n = 0, k = 0;
  std::vector<uint8_t> data;         // (n, k) e4m3 codes, row-major
  std::vector<float> scale;          // Tensor: 1; Channel: n; Block: ceil(n/bn) x ceil(k/bk) row-major
  float input_scale = 0;             // ActScale::StaticTensor
  // Scale of element (row, col).
  float scale_at(int64_t row, int64_t col) const;
};

// Number of scales `spec` needs for an (n, k) weight (1, n, or ceil(n/bn) * ceil(k/bk)).
int64_t num_weight_scales(const LinearSpec& spec, int64_t n, int64_t k);

// Quantizes fp32 weights: scale = amax/448 per tensor / row / block (amax 0 -> scale 1), code = e4m3(w * (1/scale)).
QuantizedLinear quantize_weight_fp8(const float* w, int64_t n, int64_t k, const LinearSpec& spec);
// The same from an (n, k) tensor of `dtype` (F32/F16/BF16), converted to fp32 a few rows at a time on
// several threads (no fp32 copy of the whole weight); results identical to the fp32 overload.
QuantizedLinear quantize_weight_fp8(DType dtype, const void* w, int64_t n, int64_t k, const LinearSpec& spec);
void dequantize_weight(const QuantizedLinear& q, float* out);  // (n, k): e4m3_to_f32(code) * scale
// In place, exactly as the GPU kernels do: s = input_scale (StaticTensor), or dynamic_scale(amax of the row /
// of the (row, group) of act_group elements along k); x = round_e4m3(x * (1.0f / s)) * s.
void fake_quant_activations(float* x, int64_t m, int64_t k, const LinearSpec& spec, float input_scale);
inline float fake_quant_kv(float x, float scale) { return e4m3_round(x * (1.0f / scale)) * scale; }

// max |x| over n values (NaN ignored).
float abs_max(const float* x, int64_t n);

}  // namespace ignis
