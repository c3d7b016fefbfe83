// Integer weight-only products (kernels/int_gemv.h): argument checks and dispatch by bits.
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/gemv_epilogue.cuh"
#include "kernels/int_gemv.h"

namespace ignis::kernels {

namespace int_gemv_detail {
void gemv_bits4(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
                int group, cudaStream_t s, bool pdl);
void gemv_bits8(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
                int group, cudaStream_t s, bool pdl);
void gemv_rope_bits4(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k,
                     int group, cudaStream_t s, bool pdl);
void gemv_rope_bits8(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k,
                     int group, cudaStream_t s, bool pdl);
void dequantize_bits4(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int group,
                      cudaStream_t s);
void dequantize_bits8(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int group,
                      cudaStream_t s);
}  // namespace int_gemv_detail

bool int_weights_supported(DType act, int bits, int k, int group) {
  if (act != DType::BF16 && act != DType::F16) return false;
  if (bits != 4 && bits != 8) return false;
  const int u = int_gemv_unit(bits);
  return k > 0 && group > 0 && k % u == 0 && group % u == 0 && k % group == 0;
}

bool gemv_int_supported(DType act, int bits, int m, int k, int group) {
  return m >= 1 && m <= kIntGemvMaxM && int_weights_supported(act, bits, k, group);
}

namespace {
std::string describe(DType act, int bits, int m, int k, int group) {
  return std::string(dtype_name(act)) + ", " + std::to_string(bits) + " bits, m " + std::to_string(m) + ", k " +
         std::to_string(k) + ", group " + std::to_string(group);
}
}  // namespace

void gemv_int(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
              int bits, int group, cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemv_int_supported(act, bits, m, k, group),
               "gemv_int: unsupported case (" + describe(act, bits, m, k, group) + ")");
  if (n <= 0) return;
  if (bits == 4) int_gemv_detail::gemv_bits4(act, x, q, meta, y, m, n, k, group, stream, pdl);
  else int_gemv_detail::gemv_bits8(act, x, q, meta, y, m, n, k, group, stream, pdl);
  IGNIS_CUDA_LAUNCH_CHECK("gemv_int_kernel");
}

// Rows of the RoPE epilogue: one column tile (kNt = 1, 8 rows of x), as its row pairs need.
constexpr int kIntRopeMaxM = 8;

bool gemv_int_rope_supported(const RopeKvArgs& a, int bits, int k, int group) {
  return gemv_epilogue::rope_epilogue_supported(a, kIntRopeMaxM) && int_weights_supported(a.dtype, bits, k, group);
}

void gemv_int_rope(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k, int bits,
                   int group, cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemv_int_rope_supported(a, bits, k, group),
               "gemv_int_rope: unsupported case (" + describe(a.dtype, bits, a.n, k, group) + ", head_dim " +
                   std::to_string(a.head_dim) + ")");
  if (bits == 4) int_gemv_detail::gemv_rope_bits4(a, x, q, meta, k, group, stream, pdl);
  else int_gemv_detail::gemv_rope_bits8(a, x, q, meta, k, group, stream, pdl);
  IGNIS_CUDA_LAUNCH_CHECK("gemv_int_kernel (RoPE epilogue)");
}

void dequantize_int_weights(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int bits,
                            int group, cudaStream_t stream) {
  IGNIS_KCHECK(int_weights_supported(act, bits, k, group),
               "dequantize_int_weights: unsupported case (" + describe(act, bits, 1, k, group) + ")");
  if (n <= 0) return;
  if (bits == 4) int_gemv_detail::dequantize_bits4(act, q, meta, w, n, k, group, stream);
  else int_gemv_detail::dequantize_bits8(act, q, meta, w, n, k, group, stream);
  IGNIS_CUDA_LAUNCH_CHECK("dequantize_int_kernel");
}

}  // namespace ignis::kernels
