// ignis kernels: embeddings + LayerNorm, residual + LayerNorm, bias + activation and pooling of
// the sentence encoder (encoder_ops.h).
#include <cuda_bf16.h>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/encoder_ops.h"

namespace ignis::kernels {

namespace {

constexpr int kLnThreads = 256;
constexpr int kMaxPerThread = 8;  // hidden <= 2048

using bf16 = __nv_bfloat16;

// LayerNorm of the kMaxPerThread-strided values v of one row held by this thread; writes x32, xb.
__device__ __forceinline__ void ln_write(float (&v)[kMaxPerThread], int hidden, float eps, const float* gamma,
                                         const float* beta, float* x32, bf16* xb) {
  float s = 0;
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    if (c < hidden) s += v[j];
  }
  const float mean = block_sum(s) / hidden;
  float q = 0;
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    if (c < hidden) q += (v[j] - mean) * (v[j] - mean);
  }
  const float inv = rsqrtf(block_sum(q) / hidden + eps);
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    if (c < hidden) {
      const float o = (v[j] - mean) * inv * gamma[c] + beta[c];
      x32[c] = o;
      xb[c] = __float2bfloat16_rn(o);
    }
  }
}

__global__ void embed_ln_kernel(const int32_t* ids, const int32_t* positions, const int32_t* type_ids,
                                const bf16* word, const bf16* pos, const bf16* type, const float* gamma,
                                const float* beta, float* x32, bf16* xb, int hidden, float eps) {
  const int t = blockIdx.x;
  const bf16* w = word + size_t(ids[t]) * hidden;
  const bf16* p = pos + size_t(positions[t]) * hidden;
  const bf16* ty = type ? type + size_t(type_ids[t]) * hidden : nullptr;
  float v[kMaxPerThread];
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    v[j] = c < hidden ? to_f(w[c]) + to_f(p[c]) + (ty ? to_f(ty[c]) : 0.0f) : 0.0f;
  }
  ln_write(v, hidden, eps, gamma, beta, x32 + size_t(t) * hidden, xb + size_t(t) * hidden);
}

__global__ void add_ln_kernel(float* x32, bf16* xb, const bf16* y, const float* bias, const float* gamma,
                              const float* beta, int hidden, float eps) {
  const size_t o = size_t(blockIdx.x) * hidden;
  float v[kMaxPerThread];
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    v[j] = c < hidden ? x32[o + c] + to_f(y[o + c]) + bias[c] : 0.0f;
  }
  ln_write(v, hidden, eps, gamma, beta, x32 + o, xb + o);
}

__device__ __forceinline__ float activate(float x, EncoderAct a) {
  switch (a) {
    case EncoderAct::GeluErf: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case EncoderAct::GeluTanh: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case EncoderAct::Relu: return fmaxf(x, 0.0f);
  }
  return x;
}

__global__ void bias_act_kernel(bf16* y, const float* bias, size_t total, int n, EncoderAct act) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(activate(to_f(y[i]) + bias[i % n], act));
}

__global__ void pool_kernel(const float* x32, const int32_t* starts, int hidden, EncoderPool mode, bool normalize,
                            float* out) {
  const int s = blockIdx.x, b = starts[s], e = starts[s + 1], n = e - b;
  float v[kMaxPerThread];
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    float acc = mode == EncoderPool::Max ? -INFINITY : 0.0f;
    if (c < hidden && n > 0) {
      if (mode == EncoderPool::Cls) acc = x32[size_t(b) * hidden + c];
      else if (mode == EncoderPool::LastToken) acc = x32[size_t(e - 1) * hidden + c];
      else
        for (int t = b; t < e; ++t) {
          const float x = x32[size_t(t) * hidden + c];
          acc = mode == EncoderPool::Max ? fmaxf(acc, x) : acc + x;
        }
      if (mode == EncoderPool::Mean) acc /= n;
    }
    v[j] = c < hidden && n > 0 ? acc : 0.0f;
  }
  float scale = 1.0f;
  if (normalize) {
    float q = 0;
#pragma unroll
    for (int j = 0; j < kMaxPerThread; ++j) q += v[j] * v[j];
    scale = 1.0f / fmaxf(sqrtf(block_sum(q)), 1e-12f);  // torch.nn.functional.normalize's eps
  }
#pragma unroll
  for (int j = 0; j < kMaxPerThread; ++j) {
    const int c = threadIdx.x + j * kLnThreads;
    if (c < hidden) out[size_t(s) * hidden + c] = v[j] * scale;
  }
}

void check_hidden(int hidden) {
  IGNIS_KCHECK(hidden > 0 && hidden <= kLnThreads * kMaxPerThread,
               "encoder kernels: hidden size " + std::to_string(hidden) + " outside 1.." +
                   std::to_string(kLnThreads * kMaxPerThread));
}

}  // namespace

void encoder_embed_ln(const int32_t* ids, const int32_t* positions, const int32_t* type_ids, const void* word,
                      const void* pos, const void* type, const float* gamma, const float* beta, float* x32, void* xb,
                      int T, int hidden, float eps, cudaStream_t stream) {
  check_hidden(hidden);
  if (T == 0) return;
  embed_ln_kernel<<<T, kLnThreads, 0, stream>>>(ids, positions, type_ids, static_cast<const bf16*>(word),
                                                static_cast<const bf16*>(pos), static_cast<const bf16*>(type), gamma,
                                                beta, x32, static_cast<bf16*>(xb), hidden, eps);
  IGNIS_CUDA_LAUNCH_CHECK("encoder_embed_ln");
}

void encoder_add_ln(float* x32, void* xb, const void* y, const float* bias, const float* gamma, const float* beta,
                    int T, int hidden, float eps, cudaStream_t stream) {
  check_hidden(hidden);
  if (T == 0) return;
  add_ln_kernel<<<T, kLnThreads, 0, stream>>>(x32, static_cast<bf16*>(xb), static_cast<const bf16*>(y), bias, gamma,
                                              beta, hidden, eps);
  IGNIS_CUDA_LAUNCH_CHECK("encoder_add_ln");
}

void encoder_bias_act(void* y, const float* bias, int T, int n, EncoderAct act, cudaStream_t stream) {
  const size_t total = size_t(T) * n;
  if (total == 0) return;
  const int blocks = static_cast<int>(std::min<size_t>((total + 255) / 256, 132 * 16));
  bias_act_kernel<<<blocks, 256, 0, stream>>>(static_cast<bf16*>(y), bias, total, n, act);
  IGNIS_CUDA_LAUNCH_CHECK("encoder_bias_act");
}

void encoder_pool(const float* x32, const int32_t* starts, int B, int hidden, EncoderPool mode, bool normalize,
                  float* out, cudaStream_t stream) {
  check_hidden(hidden);
  if (B == 0) return;
  pool_kernel<<<B, kLnThreads, 0, stream>>>(x32, starts, hidden, mode, normalize, out);
  IGNIS_CUDA_LAUNCH_CHECK("encoder_pool");
}

}  // namespace ignis::kernels
