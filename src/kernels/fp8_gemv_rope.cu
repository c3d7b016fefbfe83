// The FP8 q/k/v GEMV with the rotary embedding and the KV-cache write in its epilogue
// (kernels/fp8_gemv.h gemv_fp8_rope): gemv_fp8_kernel with kernels/gemv_epilogue.cuh's RopeY tiles.
//
// Why: at batch 1 rope_qkv_write_kv is a one-block kernel between the q/k/v GEMV and the attention,
// whose latency nothing hides (the attention has no weights to prefetch); here the GEMV's blocks
// rotate their own channels and write q in place and k / v into the paged cache, with the bits of
// gemv_fp8 followed by rope_qkv_write_kv.
#include <cstdint>
#include <string>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_gemv_impl.cuh"
#include "kernels/gemv_epilogue.cuh"

namespace ignis::kernels {

namespace {

using namespace fp8_gemv_detail;

template <class T, class KV>
void launch(const RopeKvArgs& a, const void* x8, const float* sx, const void* w8, const float* sw, int k,
            cudaStream_t s, bool pdl) {
  using Y = gemv_epilogue::RopeY<T, KV>;
  launch_fp8_tiles<T, false, DefaultFp8Shape, GlobalX, Y>(GlobalX{static_cast<const uint8_t*>(x8), sx}, 0,
                                                          static_cast<const uint8_t*>(w8), sw,
                                                          gemv_epilogue::rope_epilogue<T, KV>(a), a.n,
                                                          gemv_epilogue::rope_epilogue_n(a), k, s, pdl);
}

}  // namespace

bool gemv_fp8_rope_supported(const RopeKvArgs& a, const void* x8, const void* w8, int k) {
  return gemv_epilogue::rope_epilogue_supported(a, kFp8GemvMaxM) && k > 0 && k % 16 == 0 && aligned16(x8) &&
         aligned16(w8);
}

void gemv_fp8_rope(const RopeKvArgs& a, const void* x8, const float* sx, const void* w8, const float* sw, int k,
                   cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemv_fp8_rope_supported(a, x8, w8, k),
               "gemv_fp8_rope: unsupported case (m " + std::to_string(a.n) + ", head_dim " + std::to_string(a.head_dim) +
                   ", k " + std::to_string(k) + ")");
  IGNIS_DISPATCH_HALF(a.dtype, T, {
    if (a.kv_dtype == DType::F8_E4M3)
      launch<T, kv_fp8>(a, x8, sx, w8, sw, k, stream, pdl);
    else
      launch<T, T>(a, x8, sx, w8, sw, k, stream, pdl);
  });
  IGNIS_CUDA_LAUNCH_CHECK("gemv_fp8_kernel (RoPE epilogue)");
}

}  // namespace ignis::kernels
