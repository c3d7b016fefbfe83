#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/rope_kv.h"

namespace ignis::kernels {

// One block per token. Work items: rotation pairs of the q and k heads, then v elements.
template <class T>
__global__ void rope_kv_kernel(T* __restrict__ qkv, const T* __restrict__ bias, const int32_t* __restrict__ positions,
                               const int32_t* __restrict__ slots, const float* __restrict__ inv_freq,
                               T* __restrict__ k_cache, T* __restrict__ v_cache, int num_heads, int num_kv_heads,
                               int head_dim) {
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
      const float o1 = x1 * c - x2 * s, o2 = x2 * c + x1 * s;
      if (h < num_heads) {
        row[c1] = from_f<T>(o1);
        row[c2] = from_f<T>(o2);
      } else if (slot >= 0) {
        const int kc = (h - num_heads) * head_dim + i;
        k_cache[cache_off + kc] = from_f<T>(o1);
        k_cache[cache_off + kc + half] = from_f<T>(o2);
      }
    } else if (slot >= 0) {
      const int j = idx - rot_items;  // column within v
      const int c = q_size + kv_size + j;
      float v = to_f(row[c]);
      if (bias) v += to_f(bias[c]);
      v_cache[cache_off + j] = from_f<T>(v);
    }
  }
}

void rope_qkv_write_kv(const RopeKvArgs& a, cudaStream_t stream) {
  if (a.n <= 0) return;
  IGNIS_KCHECK(a.head_dim % 2 == 0, "rope: head_dim " + std::to_string(a.head_dim) + " must be even");
  IGNIS_DISPATCH_FLOAT(a.dtype, T, {
    rope_kv_kernel<T><<<a.n, 256, 0, stream>>>(static_cast<T*>(a.qkv), static_cast<const T*>(a.bias), a.positions,
                                               a.slot_mapping, a.inv_freq, static_cast<T*>(a.k_cache),
                                               static_cast<T*>(a.v_cache), a.num_heads, a.num_kv_heads, a.head_dim);
  });
  IGNIS_CUDA_LAUNCH_CHECK("rope_kv_kernel");
}

}  // namespace ignis::kernels
