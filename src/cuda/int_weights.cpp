// IntLinear -> the integer GEMV's device layout (cuda/int_weights.h, kernels/int_gemv.h).
#include "cuda/int_weights.h"

#include "core/error.h"
#include "kernels/int_gemv.h"

namespace ignis::cuda {

bool int_gemv_fits(const IntLinear& q, DType act, std::string* why) {
  auto no = [&](std::string s) {
    if (why) *why = std::move(s);
    return false;
  };
  if (!q.g_idx.empty()) return no("act-order g_idx");
  const int bits = q.spec.bits;
  const int64_t group = q.group_len();
  if (q.k > INT32_MAX || q.n > INT32_MAX || !kernels::int_weights_supported(act, bits, int(q.k), int(group)))
    return no("bits " + std::to_string(bits) + ", k " + std::to_string(q.k) + ", group " + std::to_string(group) +
              " with " + std::string(dtype_name(act)) + " activations (the kernels take bits 4 / 8, k and group multiples of " +
              std::to_string(kernels::int_gemv_unit(bits)) + ", bf16 / fp16)");
  for (float s : q.scale)
    if (f16_to_f32(f32_to_f16(s)) != s) return no("a group scale (" + std::to_string(s) + ") fp16 cannot hold exactly");
  return true;
}

IntGemvWeights int_gemv_weights(const IntLinear& q) {
  // The caller checked int_gemv_fits; only what the repack itself relies on is checked again here.
  IGNIS_CHECK((q.spec.bits == 4 || q.spec.bits == 8) && q.g_idx.empty(), "int_gemv_weights: {} bits{}", q.spec.bits,
              q.g_idx.empty() ? "" : " with act order");
  IntGemvWeights d;
  d.bits = q.spec.bits;
  d.group = int(q.group_len());
  const int64_t wpr = q.words_per_row(), groups = q.groups();
  d.q.resize(size_t(q.n * wpr));
  for (int64_t r = 0; r < q.n; ++r)
    for (int64_t wi = 0; wi < wpr; ++wi) {
      const uint32_t w = q.qweight[size_t(r * wpr + wi)];
      if (d.bits == 8) {
        d.q[size_t(r * wpr + wi)] = w;  // natural byte order already
        continue;
      }
      // natural nibble c -> position: c0 0, c1 4, c2 1, c3 5, c4 2, c5 6, c6 3, c7 7
      static constexpr int kPos[8] = {0, 4, 1, 5, 2, 6, 3, 7};
      uint32_t o = 0;
      for (int c = 0; c < 8; ++c) o |= ((w >> (4 * c)) & 0xFu) << (4 * kPos[c]);
      d.q[size_t(r * wpr + wi)] = o;
    }
  d.meta.resize(size_t(groups * q.n));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t r = 0; r < q.n; ++r)
      d.meta[size_t(g * q.n + r)] =
          uint32_t(f32_to_f16(q.scale_at(r, g))) | (uint32_t(q.zero_at(r, g)) & 0xFFu) << 16;
  return d;
}

}  // namespace ignis::cuda
