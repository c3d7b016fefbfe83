#include "kernels/argmax.h"
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"

#include <cstdint>

namespace ignis::kernels {

namespace {

constexpr int kThreads = 1024;
constexpr int kNone = 0x7fffffff;

// A running (max, index of its first occurrence, sum of exp(x - max)) over some of a row's logits.
struct Acc {
  float m = -INFINITY;
  int i = kNone;
  float s = 0.0f;
};

__device__ __forceinline__ void add_value(Acc& a, float v, int j) {  // j increases per thread
  if (v != v || v == -INFINITY) {  // NaN never chosen; -inf adds nothing to the sum
    if (v == -INFINITY && a.i == kNone) a.i = j;  // an all -inf row still names its first index
    return;
  }
  if (v > a.m) {
    a.s = a.s * expf(a.m - v) + 1.0f;  // expf(-inf) = 0 for the first value
    a.m = v;
    a.i = j;
  } else {
    a.s += expf(v - a.m);
  }
}

__device__ __forceinline__ void merge(Acc& a, const Acc& b) {
  if (b.m > a.m || (b.m == a.m && b.i < a.i)) a.i = b.i;
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return;
  a.s = (a.m == -INFINITY ? 0.0f : a.s * expf(a.m - m)) + (b.m == -INFINITY ? 0.0f : b.s * expf(b.m - m));
  a.m = m;
}

__device__ __forceinline__ void warp_merge(Acc& a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Acc b;
    b.m = __shfl_xor_sync(0xffffffffu, a.m, o);
    b.i = __shfl_xor_sync(0xffffffffu, a.i, o);
    b.s = __shfl_xor_sync(0xffffffffu, a.s, o);
    merge(a, b);
  }
}

// One block per row, one pass: every thread keeps a running max / first index / rescaled exp sum
// over its values (16-byte loads when every row is 16-byte aligned), then warps and the block merge
// them. (The former two-pass kernel of 512 threads with scalar loads took ~110 us for a
// 128k-entry row at batch 1.)
__global__ void __launch_bounds__(kThreads) argmax_logprob_kernel(const float* __restrict__ logits, int vocab,
                                                                  int32_t* __restrict__ out_token,
                                                                  float* __restrict__ out_logprob, bool vec4) {
  const float* x = logits + size_t(blockIdx.x) * vocab;
  Acc a;
  if (vec4) {  // every row 16-byte aligned (host: aligned base, vocab % 4 == 0)
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const int n4 = vocab / 4;
#pragma unroll 4
    for (int j = threadIdx.x; j < n4; j += kThreads) {
      const float4 v = x4[j];
      add_value(a, v.x, 4 * j);
      add_value(a, v.y, 4 * j + 1);
      add_value(a, v.z, 4 * j + 2);
      add_value(a, v.w, 4 * j + 3);
    }
  } else {
    for (int j = threadIdx.x; j < vocab; j += kThreads) add_value(a, x[j], j);
  }
  warp_merge(a);
  __shared__ Acc part[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = part[lane];  // kThreads / 32 == 32 warps
    warp_merge(a);
    if (lane == 0) {
      out_token[blockIdx.x] = a.i == kNone ? 0 : a.i;
      out_logprob[blockIdx.x] = a.m == -INFINITY ? -INFINITY : -logf(a.s);
    }
  }
}

}  // namespace

void argmax_logprob(const float* logits, int rows, int vocab, int32_t* out_token, float* out_logprob,
                    cudaStream_t stream) {
  if (rows <= 0) return;
  const bool vec4 = vocab % 4 == 0 && aligned16(logits);
  argmax_logprob_kernel<<<rows, kThreads, 0, stream>>>(logits, vocab, out_token, out_logprob, vec4);
  IGNIS_CUDA_LAUNCH_CHECK("argmax_logprob_kernel");
}

}  // namespace ignis::kernels
