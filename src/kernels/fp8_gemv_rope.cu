// The FP8 q/k/v GEMV with the rotary embedding and the KV-cache write in its epilogue
// (kernels/fp8_gemv.h gemv_fp8_rope): gemv_fp8_kernel with RopeY tiles, each block 8 columns of the first
// half of one head and the matching 8 columns of its second half, so a lane and its partner (lane ^ 8)
// hold both members of a rotation pair.
//
// Why: at batch 1 rope_qkv_write_kv is a one-block kernel between the q/k/v GEMV and the attention;
// here the GEMV's blocks rotate their own channels and write q in place and k / v into the paged
// cache. Bits: q/k/v as gemv_fp8 rounds them, the bias and the rotation as rope_kv.cu (the rounded
// sum for rotated heads, kernels/rope.cuh's rotation, sincosf of the same angle), the cache values as
// kernels/kv_fp8.cuh's kv_value: the same bits as gemv_fp8 followed by rope_qkv_write_kv.
#include <cstdint>
#include <string>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_gemv_impl.cuh"
#include "kernels/kv_fp8.cuh"
#include "kernels/rope.cuh"

namespace ignis::kernels {

namespace {

using namespace fp8_gemv_detail;

// w (n, k) with n = (num_heads + 2 num_kv_heads) head_dim, head_dim % 16 == 0: block j covers head
// h = j / (head_dim / 16), first-half columns i0 .. i0 + 7 (i0 = 8 (j % (head_dim / 16))) as tile rows
// 0..7 and the same columns + head_dim / 2 as rows 8..15.
template <class TO, class KV>
struct RopeY {
  TO* qkv;  // (m, n): q heads rotated in place; k / v go to the caches only
  const TO* bias;
  const int32_t* positions;
  const int32_t* slots;
  const float* inv_freq;
  KV* k_cache;
  KV* v_cache;
  int num_heads, num_kv_heads, head_dim;
  float k_inv, v_inv;
  static constexpr bool kPairs = true;
  int blocks(int n) const { return n / kTileRows; }
  __device__ __forceinline__ int row(int i, int) const {
    const int per_head = head_dim / kTileRows, h = int(blockIdx.x) / per_head;
    return h * head_dim + (int(blockIdx.x) % per_head) * 8 + (i & 7) + (i < 8 ? 0 : head_dim / 2);
  }
  __device__ __forceinline__ void store(int r, int b, int row, bool ok, float v, int n) const {
    const int per_head = head_dim / kTileRows, h = int(blockIdx.x) / per_head;
    const int q_size = num_heads * head_dim, kv_size = num_kv_heads * head_dim;
    const bool rotated = h < num_heads + num_kv_heads;
    float x = ok ? round_to<TO>(v) : 0.0f;  // the projection's output as stored
    if (bias && ok) x = rotated ? round_to<TO>(x + to_f(bias[row])) : x + to_f(bias[row]);
    const float other = __shfl_xor_sync(0xffffffffu, x, 8);  // the pair's other member
    if (!ok) return;
    const int slot = slots[b];
    if (!rotated) {
      if (slot >= 0) v_cache[size_t(slot) * kv_size + (row - q_size - kv_size)] = kv_value<KV, TO>(x, v_inv);
      return;
    }
    const int i = (int(blockIdx.x) % per_head) * 8 + (r & 7);
    float sn, cs;
    sincosf(float(positions[b]) * inv_freq[i], &sn, &cs);
    const float o = r < 8 ? rope_first(x, other, cs, sn) : rope_second(other, x, cs, sn);
    if (h < num_heads)
      qkv[size_t(b) * n + row] = from_f<TO>(o);
    else if (slot >= 0)
      k_cache[size_t(slot) * kv_size + (row - q_size)] = kv_value<KV, TO>(o, k_inv);
  }
};

template <class T, class KV>
void launch(const RopeKvArgs& a, const void* x8, const float* sx, const void* w8, const float* sw, int k,
            cudaStream_t s, bool pdl) {
  // host 1.0f / scale: the same IEEE quotient as rope_kv.cu's
  const float k_inv = kIsFp8<KV> ? 1.0f / a.k_scale : 1.0f, v_inv = kIsFp8<KV> ? 1.0f / a.v_scale : 1.0f;
  const RopeY<T, KV> out{static_cast<T*>(a.qkv), static_cast<const T*>(a.bias), a.positions, a.slot_mapping,
                         a.inv_freq, static_cast<KV*>(a.k_cache), static_cast<KV*>(a.v_cache), a.num_heads,
                         a.num_kv_heads, a.head_dim, k_inv, v_inv};
  const int n = (a.num_heads + 2 * a.num_kv_heads) * a.head_dim;
  launch_fp8_tiles<T, false, DefaultFp8Shape, GlobalX, RopeY<T, KV>>(
      GlobalX{static_cast<const uint8_t*>(x8), sx}, 0, static_cast<const uint8_t*>(w8), sw, out, a.n, n, k, s, pdl);
}

}  // namespace

bool gemv_fp8_rope_supported(const RopeKvArgs& a, const void* x8, const void* w8, int k) {
  return (a.dtype == DType::BF16 || a.dtype == DType::F16) && a.n >= 1 && a.n <= kFp8GemvMaxM && a.head_dim > 0 &&
         a.head_dim % 16 == 0 && a.num_heads > 0 && a.num_kv_heads > 0 && k > 0 && k % 16 == 0 && aligned16(x8) &&
         aligned16(w8) && rope_kv_scales_valid(a);
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
