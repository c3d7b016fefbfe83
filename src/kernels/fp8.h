// ignis kernels: FP8 (e4m3fn) activations and scales, the vocabulary shared by the producers
// (add_rmsnorm, silu_mul, quantize_rows_fp8), the FP8 GEMV (fp8_gemv.h) and cuBLASLt's FP8 GEMM
// (cuda/gemm.h). Host header (no device code).
//
// Numerics (the CPU reference does the same in fp32):
//   dynamic scale  s = max(amax / 448, 1 / (448 * 512)), amax = max |v| over the row (group 0) or
//                  over 128 consecutive columns of the row (group 128); IEEE division;
//   static scale   s = *static_scale (one float on the device);
//   code           = e4m3(v * rcp(s)), rcp IEEE-rounded, conversion round-to-nearest-even and
//                  saturating at +-448 (NaN -> 0x7f), where v is the value the producer would write
//                  to its dtype output (already rounded to that dtype).
// A W8A8 product: y[i][j] = (sum_k x8[i][k] * w8[j][k]) * sx[i] * sw[j], fp32 accumulation, rounded
// once to y's dtype; with block scales the sum runs per 128-k block, each block scaled by
// sx[i][kb] * sw[jb][kb].
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace ignis::kernels {

constexpr int kFp8Group = 128;  // columns per activation scale in group mode (= weight block edge)

// How an FP8 product's scales are laid out (both the GEMV and cuBLASLt read these layouts).
//   Channel: sx (m) one per row of x; sw (n) one per output channel (a per-tensor weight scale is
//            expanded to n at upload). cuBLASLt: OUTER_VEC_32F for both operands.
//   Block:   sx (ceil(k / 128), m) group-major: sx[kb * m + i] scales x[i][128 kb .. 128 kb + 127]
//            (the producer writes it with Fp8Out::scale_ld = m of the consuming product);
//            sw (ceil(n / 128), fp8_block_scale_ld(k)) row-major: sw[nb * ld + kb] scales the
//            128 x 128 block (nb, kb) of w (the columns kb >= ceil(k / 128) of a row are padding).
//            cuBLASLt: VEC128_32F for x, BLK128x128_32F for w (its layout rules: N-major x scales,
//            K-major weight scales with a row stride that is a multiple of 4).
enum class Fp8Scaling : uint8_t { Channel, Block };

// Row stride of a Block weight-scale tensor: ceil(k / 128) rounded up to a multiple of 4.
__host__ __device__ constexpr int fp8_block_scale_ld(int k) { return ((k + kFp8Group - 1) / kFp8Group + 3) / 4 * 4; }

// Where a producer writes FP8 activations beside (or instead of) its dtype output.
struct Fp8Out {
  uint8_t* data = nullptr;              // (rows, cols) e4m3 codes, row-major, contiguous
  float* scale = nullptr;               // group 0: (rows); group 128: (ceil(cols / 128), scale_ld)
  const float* static_scale = nullptr;  // one float on the device: static scale; null: dynamic
  int group = 0;                        // 0: one scale per row; kFp8Group: per (row, 128 columns)
  int scale_ld = 0;                     // group 128: stride between groups (the consuming product's
                                        // m, >= rows); 0: rows
  explicit operator bool() const { return data != nullptr; }
};

// Throws (naming `who`) unless q is usable for (rows, cols): data and scale set, group 0 or 128,
// scale_ld 0 or >= rows.
void check_fp8_out(const Fp8Out& q, int rows, int cols, const char* who);

}  // namespace ignis::kernels
