#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/kv_fp8.cuh"
#include "kernels/rope.cuh"
#include "kernels/rope_kv.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

namespace ignis::kernels {
namespace {

// 8 values into a cache of KV at dst (16-byte aligned for T, 8-byte aligned for codes).
template <class KV, class T> __device__ __forceinline__ void store_kv8(KV* dst, const float* f, float inv) {
  if constexpr (kIsFp8<KV>) {
    uint2 v;
    v.x = uint32_t(to_e4m3x2(make_float2(f[0], f[1]), inv)) | (uint32_t(to_e4m3x2(make_float2(f[2], f[3]), inv)) << 16);
    v.y = uint32_t(to_e4m3x2(make_float2(f[4], f[5]), inv)) | (uint32_t(to_e4m3x2(make_float2(f[6], f[7]), inv)) << 16);
    *reinterpret_cast<uint2*>(dst) = v;
  } else {
    *reinterpret_cast<uint4*>(dst) = pack8<T>(f);
  }
}

// One block per token. Work items: rotation pairs of the q and k heads, then v elements.
// KV = T, or kv_fp8 (codes of x * k_inv, x * v_inv).
template <class T, class KV>
__global__ void rope_kv_kernel(T* __restrict__ qkv, const T* __restrict__ bias, const int32_t* __restrict__ positions,
                               const int32_t* __restrict__ slots, const float* __restrict__ inv_freq,
                               KV* __restrict__ k_cache, KV* __restrict__ v_cache, int num_heads, int num_kv_heads,
                               int head_dim, float k_inv, float v_inv) {
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  const int q_size = num_heads * head_dim, kv_size = num_kv_heads * head_dim;
  T* row = qkv + size_t(t) * (q_size + 2 * kv_size);
  const float pos = float(positions[t]);
  const int slot = slots[t];
  const size_t cache_off = size_t(slot < 0 ? 0 : slot) * kv_size;
  const int rot_items = (num_heads + num_kv_heads) * half;
  for (int idx = threadIdx.x; idx < rot_items + kv_size; idx += blockDim.x) {
    if (idx < rot_items) {
      const int h = idx / half, i = idx % half;  // h < num_heads: q head; else k head h - num_heads
      const int c1 = h * head_dim + i, c2 = c1 + half;  // columns in the q|k part of the row
      float x1 = to_f(row[c1]), x2 = to_f(row[c2]);
      if (bias) {  // the projection's output (with bias) is a tensor of dtype T before RoPE
        x1 = round_to<T>(x1 + to_f(bias[c1]));
        x2 = round_to<T>(x2 + to_f(bias[c2]));
      }
      float s, c;
      sincosf(pos * inv_freq[i], &s, &c);
      const float o1 = rope_first(x1, x2, c, s), o2 = rope_second(x1, x2, c, s);
      if (h < num_heads) {
        row[c1] = from_f<T>(o1);
        row[c2] = from_f<T>(o2);
      } else if (slot >= 0) {
        const int kc = (h - num_heads) * head_dim + i;
        k_cache[cache_off + kc] = kv_value<KV, T>(o1, k_inv);
        k_cache[cache_off + kc + half] = kv_value<KV, T>(o2, k_inv);
      }
    } else if (slot >= 0) {
      const int j = idx - rot_items;  // column within v
      const int c = q_size + kv_size + j;
      float v = to_f(row[c]);
      if (bias) v += to_f(bias[c]);
      v_cache[cache_off + j] = kv_value<KV, T>(v, v_inv);
    }
  }
}

// The same for 16-bit T with head_dim % 16 == 0 and 16-byte aligned rows: the token's cos/sin pairs
// are computed once into shared memory (not once per head), and every item moves 8 values with
// 16-byte loads and stores: a rotation item is 8 columns of a q/k head's first half with the 8
// matching columns of its second half, a v item 8 columns of v. Same fp32 arithmetic as above; an
// FP8 cache (KV = kv_fp8) gets 8 codes (8 bytes) per store.
template <class T, class KV>
__global__ void rope_kv_vec_kernel(T* __restrict__ qkv, const T* __restrict__ bias,
                                   const int32_t* __restrict__ positions, const int32_t* __restrict__ slots,
                                   const float* __restrict__ inv_freq, KV* __restrict__ k_cache,
                                   KV* __restrict__ v_cache, int num_heads, int num_kv_heads, int head_dim, float k_inv,
                                   float v_inv) {
  extern __shared__ float2 cs[];  // [head_dim / 2] (cos, sin) of this token's angles
  const int t = blockIdx.x;
  const int half = head_dim / 2, hv = half / 8;
  const int q_size = num_heads * head_dim, kv_size = num_kv_heads * head_dim;
  T* row = qkv + size_t(t) * (q_size + 2 * kv_size);
  const float pos = float(positions[t]);
  const int slot = slots[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float sn, c;
    sincosf(pos * inv_freq[i], &sn, &c);
    cs[i] = make_float2(c, sn);
  }
  __syncthreads();
  const size_t cache_off = size_t(slot < 0 ? 0 : slot) * kv_size;
  const int rot_items = (num_heads + num_kv_heads) * hv;
  const int items = rot_items + (slot >= 0 ? kv_size / 8 : 0);
  for (int idx = threadIdx.x; idx < items; idx += blockDim.x) {
    if (idx < rot_items) {
      const int h = idx / hv, i0 = (idx % hv) * 8;
      const int c1 = h * head_dim + i0, c2 = c1 + half;
      if (h >= num_heads && slot < 0) continue;  // a k head of a token that writes no cache
      float x1[8], x2[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(row + c1), x1);
      unpack8<T>(*reinterpret_cast<const uint4*>(row + c2), x2);
      if (bias) {
        float b1[8], b2[8];
        unpack8<T>(*reinterpret_cast<const uint4*>(bias + c1), b1);
        unpack8<T>(*reinterpret_cast<const uint4*>(bias + c2), b2);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          x1[e] = round_to<T>(x1[e] + b1[e]);
          x2[e] = round_to<T>(x2[e] + b2[e]);
        }
      }
      float o1[8], o2[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float2 r = cs[i0 + e];
        o1[e] = rope_first(x1[e], x2[e], r.x, r.y);
        o2[e] = rope_second(x1[e], x2[e], r.x, r.y);
      }
      if (h < num_heads) {
        *reinterpret_cast<uint4*>(row + c1) = pack8<T>(o1);
        *reinterpret_cast<uint4*>(row + c2) = pack8<T>(o2);
      } else {
        KV* d1 = k_cache + cache_off + (c1 - q_size);
        store_kv8<KV, T>(d1, o1, k_inv);
        store_kv8<KV, T>(d1 + half, o2, k_inv);
      }
    } else {
      const int j = (idx - rot_items) * 8;  // column within v
      const int c = q_size + kv_size + j;
      float v[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(row + c), v);
      if (bias) {
        float b[8];
        unpack8<T>(*reinterpret_cast<const uint4*>(bias + c), b);
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] += b[e];
      }
      store_kv8<KV, T>(v_cache + cache_off + j, v, v_inv);
    }
  }
}

template <class T, class KV>
void launch(const RopeKvArgs& a, bool vec, cudaStream_t stream) {
  // host 1.0f / scale: the same IEEE quotient as the device's __frcp_rn
  const float k_inv = kIsFp8<KV> ? 1.0f / a.k_scale : 1.0f, v_inv = kIsFp8<KV> ? 1.0f / a.v_scale : 1.0f;
  if constexpr (!std::is_same_v<T, float>) {
    if (vec) {
      rope_kv_vec_kernel<T, KV><<<a.n, 128, size_t(a.head_dim / 2) * sizeof(float2), stream>>>(
          static_cast<T*>(a.qkv), static_cast<const T*>(a.bias), a.positions, a.slot_mapping, a.inv_freq,
          static_cast<KV*>(a.k_cache), static_cast<KV*>(a.v_cache), a.num_heads, a.num_kv_heads, a.head_dim, k_inv,
          v_inv);
      IGNIS_CUDA_LAUNCH_CHECK("rope_kv_vec_kernel");
      return;
    }
  }
  rope_kv_kernel<T, KV><<<a.n, 256, 0, stream>>>(static_cast<T*>(a.qkv), static_cast<const T*>(a.bias), a.positions,
                                                 a.slot_mapping, a.inv_freq, static_cast<KV*>(a.k_cache),
                                                 static_cast<KV*>(a.v_cache), a.num_heads, a.num_kv_heads, a.head_dim,
                                                 k_inv, v_inv);
  IGNIS_CUDA_LAUNCH_CHECK("rope_kv_kernel");
}

}  // namespace

bool rope_kv_scales_valid(const RopeKvArgs& a) {
  return a.kv_dtype != DType::F8_E4M3 ||
         (std::isfinite(a.k_scale) && a.k_scale > 0.0f && std::isfinite(a.v_scale) && a.v_scale > 0.0f);
}

void rope_qkv_write_kv(const RopeKvArgs& a, cudaStream_t stream) {
  if (a.n <= 0) return;
  IGNIS_KCHECK(a.head_dim % 2 == 0, "rope: head_dim " + std::to_string(a.head_dim) + " must be even");
  const bool fp8 = a.kv_dtype == DType::F8_E4M3;
  if (fp8) {
    IGNIS_KCHECK(a.dtype == DType::BF16 || a.dtype == DType::F16,
                 std::string("rope: an FP8 KV cache needs BF16 or F16 activations, not ") + std::string(dtype_name(a.dtype)));
    IGNIS_KCHECK(rope_kv_scales_valid(a),
                 "rope: FP8 KV scales must be finite and > 0 (k_scale " + std::to_string(a.k_scale) + ", v_scale " +
                     std::to_string(a.v_scale) + ")");
  }
  // (codes: 8-byte stores at multiples of 8 elements, so the 16-byte alignment of the cache suffices)
  const bool vec = (a.dtype == DType::BF16 || a.dtype == DType::F16) && a.head_dim % 16 == 0 &&
                   aligned16(a.qkv) && aligned16(a.k_cache) && aligned16(a.v_cache) && (!a.bias || aligned16(a.bias));
  IGNIS_DISPATCH_FLOAT(a.dtype, T, {
    if (fp8) {
      if constexpr (!std::is_same_v<T, float>) launch<T, kv_fp8>(a, vec, stream);
    } else {
      launch<T, T>(a, vec, stream);
    }
  });
}

}  // namespace ignis::kernels
