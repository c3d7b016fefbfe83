#include "kernels/argmax.h"
#include "kernels/common.cuh"
#include "kernels/cuda_check.h"

namespace ignis::kernels {

__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
}

__global__ void argmax_logprob_kernel(const float* __restrict__ logits, int vocab, int32_t* __restrict__ out_token,
                                      float* __restrict__ out_logprob) {
  const float* x = logits + size_t(blockIdx.x) * vocab;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float v = x[j];
    if (!(v != v)) better(bv, bi, v, j);  // skip NaN
  }
  __shared__ float sv[32];
  __shared__ int si[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(bv, bi, __shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o));
  if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
  __syncthreads();
  bv = lane < nw ? sv[lane] : -INFINITY;
  bi = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(bv, bi, __shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o));
  // bv, bi now the row maximum in every thread
  float se = 0.0f;
  if (bv != -INFINITY)
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float v = x[j];
      if (!(v != v)) se += expf(v - bv);
    }
  se = block_sum(se);
  if (threadIdx.x == 0) {
    out_token[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
    out_logprob[blockIdx.x] = bv == -INFINITY ? -INFINITY : -logf(se);
  }
}

void argmax_logprob(const float* logits, int rows, int vocab, int32_t* out_token, float* out_logprob,
                    cudaStream_t stream) {
  if (rows <= 0) return;
  argmax_logprob_kernel<<<rows, 512, 0, stream>>>(logits, vocab, out_token, out_logprob);
  IGNIS_CUDA_LAUNCH_CHECK("argmax_logprob_kernel");
}

}  // namespace ignis::kernels
