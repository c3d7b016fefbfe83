// ignis cuda: integer weight-only projections in the layout of kernels/int_gemv.h, built on the host
// from quant/int_quant.h's IntLinear at load.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/int_quant.h"

namespace ignis::cuda {

struct IntGemvWeights {
  int bits = 0, group = 0;
  std::vector<uint32_t> q;     // (n, k * bits / 32), 4-bit words nibble-interleaved
  std::vector<uint32_t> meta;  // (k / group, n): fp16 scale bits | zero << 16
};

// Whether `q` runs on kernels::gemv_int with activations `act`; otherwise `*why` says what stops it
// (act order, a group the kernels do not take, a scale fp16 cannot hold exactly) and the caller
// dequantizes at upload.
bool int_gemv_fits(const IntLinear& q, DType act, std::string* why);
// PRECOND: int_gemv_fits(q, act, ...).
IntGemvWeights int_gemv_weights(const IntLinear& q);

}  // namespace ignis::cuda
