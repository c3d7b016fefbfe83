#include <gtest/gtest.h>

#include <cmath>
#include <random>

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
