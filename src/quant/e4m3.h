// ignis quant: fast host e4m3 conversions, bit-exact with core's f32_to_e4m3 / e4m3_to_f32 (round to
// nearest even, saturating at +-448, NaN -> 0x7f; tests/quant/test_quantize.cpp checks them against
// core on every e4m3 value and midpoint neighbourhood and millions of other floats). Core's versions
// go through double arithmetic (~30x slower); quantizing an 8B model at load needs these.
#pragma once
#include <cstdint>
#include <cstring>

namespace ignis {

inline uint8_t e4m3_encode(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint8_t sign = uint8_t((u >> 24) & 0x80);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return 0x7f;                   // NaN
  if (u >= 0x43e00000u) return uint8_t(sign | 0x7e);  // >= 448 (and inf): saturate
  if (u < 0x3c800000u) {                              // below 2^-6: e4m3 subnormals, spacing 2^-9
    float a;
    std::memcpy(&a, &u, 4);
    float t = a * 512.0f + 8388608.0f;  // exact scaling; adding 2^23 rounds to an integer, half to even
    uint32_t r;
    std::memcpy(&r, &t, 4);
    return uint8_t(sign | (r - 0x4b000000u));  // 0..8 (8 = the smallest normal, 2^-6)
  }
  u += 0x7ffffu + ((u >> 20) & 1u);  // round the 23-bit mantissa to 3 bits, half to even (carries into the exponent)
  const uint32_t code = (u >> 20) - (120u << 3);  // rebias the exponent: 127 -> 7
  return uint8_t(sign | (code > 0x7eu ? 0x7eu : code));
}

namespace detail {
struct E4m3Table {
  float v[256];
  E4m3Table();
};
extern const E4m3Table kE4m3Table;
}  // namespace detail

inline float e4m3_decode(uint8_t c) { return detail::kE4m3Table.v[c]; }
inline float e4m3_round(float f) { return e4m3_decode(e4m3_encode(f)); }

}  // namespace ignis
