#include "core/dtype.h"

#include "core/error.h"

#include <cmath>
#include <limits>

namespace ignis {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: case DType::F8_E4M3: case DType::F8_E5M2: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::BOOL: return "BOOL";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E5M2: return "F8_E5M2";
  }
  return "?";
}

bool parse_safetensors_dtype(std::string_view s, DType* out) {
  static const std::pair<std::string_view, DType> kNames[] = {
      {"F32", DType::F32},   {"F16", DType::F16},         {"BF16", DType::BF16},        {"F64", DType::F64},
      {"I8", DType::I8},     {"U8", DType::U8},           {"I16", DType::I16},          {"I32", DType::I32},
      {"I64", DType::I64},   {"BOOL", DType::BOOL},       {"F8_E4M3", DType::F8_E4M3},  {"F8_E5M2", DType::F8_E5M2}};
  for (auto& [n, t] : kNames)
    if (n == s) { *out = t; return true; }
  return false;
}

bool parse_torch_dtype(std::string_view s, DType* out) {
  if (s == "bfloat16") { *out = DType::BF16; return true; }
  if (s == "float16" || s == "half") { *out = DType::F16; return true; }
  if (s == "float32" || s == "float") { *out = DType::F32; return true; }
  return false;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while ((man & 0x400) == 0) { man <<= 1; exp--; }
      man &= 0x3ff;
      u = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000;
  int32_t exp = int32_t((u >> 23) & 0xff);
  uint32_t man = u & 0x7fffff;
  if (exp == 0xff) return uint16_t(sign | 0x7c00 | (man ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 31) return uint16_t(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return uint16_t(sign);
    man |= 0x800000;
    uint32_t shift = uint32_t(14 - e);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | (uint32_t(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return uint16_t(half);
}

float e4m3_to_f32(uint8_t b) {
  const uint32_t sign = uint32_t(b & 0x80) << 24;
  const uint32_t exp = (b >> 3) & 0xf, man = b & 0x7;
  if (exp == 0xf && man == 0x7) return std::numeric_limits<float>::quiet_NaN();
  float v;
  if (exp == 0) v = std::ldexp(float(man), -9);              // subnormal: man/8 * 2^-6
  else v = std::ldexp(float(8 + man), int(exp) - 7 - 3);   // (1 + man/8) * 2^(exp-7)
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u |= sign;
  std::memcpy(&v, &u, 4);
  return v;
}

uint8_t f32_to_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  double a = std::fabs(double(f));
  if (a >= double(kE4M3Max)) return uint8_t(sign | 0x7e);
  // Representable values are k * 2^(e-3) for the binade [2^e, 2^(e+1)), e >= -6 (subnormals share
  // e = -6's spacing 2^-9). Scale to units of the spacing, round half to even, rebuild.
  int e = a > 0 ? std::ilogb(a) : -6;
  if (e < -6) e = -6;
  const double unit = std::ldexp(1.0, e - 3);
  double q = std::nearbyint(a / unit);  // default rounding mode: to nearest even
  // q in [0, 16]; 16 means rounding carried into the next binade
  uint32_t code;
  if (q == 0) return sign;
  if (e == -6 && q < 8) {
    code = uint32_t(q);  // subnormal
  } else {
    if (q >= 16) {
      q /= 2;
      ++e;
    }
    code = (uint32_t(e + 7) << 3) | (uint32_t(q) - 8);
  }
  if (code > 0x7e) code = 0x7e;  // saturate (448)
  return uint8_t(sign | code);
}

void to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F8_E4M3: {
      float lut[256];
      for (int i = 0; i < 256; i++) lut[i] = e4m3_to_f32(uint8_t(i));
      auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; i++) dst[i] = lut[s[i]];
      return;
    }
    default: IGNIS_FAIL("to_f32: unsupported dtype {}", dtype_name(t));
  }
}

}  // namespace ignis
