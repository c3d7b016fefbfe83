// ignis core: element types and the host-side conversions between them.
// The one dtype dispatch point for kernels is kernels/dispatch.h; this file only
// names types, sizes and converts single values on the host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ignis {

enum class DType : uint8_t { F32, F16, BF16, F64, I8, U8, I16, I32, I64, BOOL, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
// Parses the safetensors dtype string; returns false for an unknown one.
bool parse_safetensors_dtype(std::string_view s, DType* out);
// Parses torch_dtype / dtype of config.json ("bfloat16", "float16", "float32").
bool parse_torch_dtype(std::string_view s, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// FP8 E4M3 ("e4m3fn": no infinities, 0x7f / 0xff are NaN, largest finite 448).
constexpr float kE4M3Max = 448.0f;
float e4m3_to_f32(uint8_t b);  // exact
// Round to nearest even, saturating: finite values beyond +-448 become +-448 (as CUDA's
// __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3) and torch's clamp(-448, 448).to(float8_e4m3fn));
// NaN -> 0x7f. Exact for every value e4m3 represents, subnormals included.
uint8_t f32_to_e4m3(float f);
inline float round_e4m3(float f) { return e4m3_to_f32(f32_to_e4m3(f)); }

// Converts n elements of type `t` at `src` to fp32 (F32/F16/BF16/F8_E4M3 only).
void to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace ignis
