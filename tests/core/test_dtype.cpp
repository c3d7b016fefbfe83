#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

using namespace ignis;

TEST(DType, Bf16RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even -> 1.0
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.015625f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F16RoundTripRandom) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-60000.f, 60000.f);
  for (int i = 0; i < 100000; i++) {
    float x = d(rng) * (i % 2 ? 1e-4f : 1.f);
    float y = f16_to_f32(f32_to_f16(x));
    // relative error of f16 rounding <= 2^-11 for normal numbers
    if (std::fabs(x) > 6.2e-5f) {
      EXPECT_LE(std::fabs(y - x), std::fabs(x) * 0.00049f) << x;
    }
  }
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.f)), 65504.f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
}

TEST(DType, Names) {
  DType t;
  EXPECT_TRUE(parse_safetensors_dtype("BF16", &t));
  EXPECT_EQ(t, DType::BF16);
  EXPECT_FALSE(parse_safetensors_dtype("Q4_K", &t));
  EXPECT_TRUE(parse_torch_dtype("float16", &t));
  EXPECT_EQ(t, DType::F16);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
}

TEST(Error, CheckFormats) {
  try {
    IGNIS_CHECK(1 == 2, "file {}: field {}", "a.json", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "file a.json: field x");
  }
}

TEST(DType, E4m3ExhaustiveRoundTripAndNearestEven) {
  // every finite code decodes and re-encodes to itself (+0 and -0 kept apart)
  std::vector<float> finite;
  for (int c = 0; c < 256; c++) {
    float v = e4m3_to_f32(uint8_t(c));
    if ((c & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(v)) << c;
      continue;
    }
    EXPECT_EQ(f32_to_e4m3(v), uint8_t(c)) << c << " " << v;
    if (c < 0x80) finite.push_back(v);
  }
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(f32_to_e4m3(1e9f), 0x7e);                  // saturates
  EXPECT_EQ(f32_to_e4m3(-460.0f), 0xfe);
  EXPECT_EQ(f32_to_e4m3(NAN), 0x7f);
  // random values: the result is the nearest representable value, ties to the even code
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-14, 10);
  for (int i = 0; i < 200000; i++) {
    float x = std::ldexp(mant(rng), ex(rng));
    if (i % 1000 == 0) x = (finite[size_t(i / 1000) % (finite.size() - 1)] + finite[size_t(i / 1000) % (finite.size() - 1) + 1]) / 2;  // exact midpoints
    float a = std::fabs(std::min(std::fabs(x), 448.0f));
    float best = 0, bd = INFINITY;
    int best_code = 0;
    for (size_t c = 0; c < finite.size(); c++) {
      float d = std::fabs(finite[c] - a);
      if (d < bd || (d == bd && (c % 2 == 0))) bd = d, best = finite[c], best_code = int(c);
    }
    (void)best_code;
    float got = e4m3_to_f32(f32_to_e4m3(x));
    EXPECT_EQ(std::fabs(got), best) << x;
    if (got != 0) {
      EXPECT_EQ(std::signbit(got), std::signbit(x)) << x;
    }
  }
}

TEST(DType, E4m3ToF32Bulk) {
  uint8_t codes[4] = {0x38, 0xb8, 0x7e, 0x01};  // 1, -1, 448, 2^-9
  float out[4];
  to_f32(DType::F8_E4M3, codes, out, 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -1.0f);
  EXPECT_EQ(out[2], 448.0f);
  EXPECT_EQ(out[3], std::ldexp(1.0f, -9));
}
