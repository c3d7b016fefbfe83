// ignis kernels: bidirectional attention within each sequence of the encoder's flat batch
// (encoder_ops.h encoder_attention): a tensor-core kernel for head_dim 32 / 64 and a reference
// kernel for any head_dim <= 128.
#include <cuda_bf16.h>

#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/encoder_ops.h"
#include "kernels/mma_util.cuh"

namespace ignis::kernels {

namespace {

using bf16 = __nv_bfloat16;

constexpr int kTile = 64;     // queries per block and keys per tile
constexpr int kWarps = 4;     // 16 queries each

// Loads rows [row0, row0 + kTile) of one head's q, k or v (column offset col) into smem (stride
// D + 8), adding the bias; rows at or past `rows` are zero.
template <int D>
__device__ __forceinline__ void load_tile(bf16 (*dst)[D + 8], const bf16* qkv, const float* bias, int ld, int col,
                                          int seq_begin, int row0, int rows) {
  constexpr int kChunks = kTile * D / 8;
  for (int i = threadIdx.x; i < kChunks; i += kWarps * 32) {
    const int r = i / (D / 8), c = (i % (D / 8)) * 8;
    float f[8];
    if (row0 + r < rows) {
      unpack8<bf16>(*reinterpret_cast<const uint4*>(qkv + size_t(seq_begin + row0 + r) * ld + col + c), f);
#pragma unroll
      for (int e = 0; e < 8; ++e) f[e] += bias[col + c + e];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) f[e] = 0.0f;
    }
    *reinterpret_cast<uint4*>(&dst[r][c]) = pack8<bf16>(f);
  }
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) encoder_attention_mma(const bf16* qkv, const float* bias,
                                                                     const int32_t* starts, int heads, bf16* ctx) {
  const int s = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kTile;
  const int begin = starts[s], n = starts[s + 1] - begin;
  if (q0 >= n) return;
  const int H = heads * D, ld = 3 * H;
  __shared__ __align__(16) bf16 sq[kTile][D + 8];
  __shared__ __align__(16) bf16 sk[kTile][D + 8];
  __shared__ __align__(16) bf16 sv[kTile][D + 8];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, qd = lane % 4;
  load_tile<D>(sq, qkv, bias, ld, h * D, begin, q0, n);
  __syncthreads();
  // Q fragments of this warp's 16 rows, all of D.
  uint32_t qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    ldmatrix_x4(qa[kk], smem_addr(&sq[warp * 16 + lane % 16][kk * 16 + (lane / 16) * 8]));
  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const float scale = rsqrtf(float(D)) * kLog2e;
  for (int k0 = 0; k0 < n; k0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    load_tile<D>(sk, qkv, bias, ld, H + h * D, begin, k0, n);
    load_tile<D>(sv, qkv, bias, ld, 2 * H + h * D, begin, k0, n);
    __syncthreads();
    float sc[kTile / 8][4] = {};
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j) {
#pragma unroll
      for (int kk = 0; kk < D / 32; ++kk) {
        // keys 8j..8j+7, d 32kk..32kk+31: b0/b1 of the k-steps 2kk and 2kk+1
        uint32_t b[4];
        ldmatrix_x4(b, smem_addr(&sk[j * 8 + lane % 8][kk * 32 + (lane / 8) * 8]));
        mma16816<bf16>(sc[j], qa[2 * kk], b[0], b[1]);
        mma16816<bf16>(sc[j], qa[2 * kk + 1], b[2], b[3]);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = k0 + j * 8 + 2 * qd + (e & 1);
        sc[j][e] = key < n ? sc[j][e] * scale : -INFINITY;
      }
    }
    online_softmax(sc, m, l, o);
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t pa[4] = {pack2<bf16>(sc[2 * kk][0], sc[2 * kk][1]), pack2<bf16>(sc[2 * kk][2], sc[2 * kk][3]),
                        pack2<bf16>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                        pack2<bf16>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int t = 0; t < D / 8; t += 2) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, smem_addr(&sv[kk * 16 + lane % 8 + ((lane / 8) % 2) * 8][(t + lane / 16) * 8]));
        mma16816<bf16>(o[t], pa, b[0], b[1]);
        mma16816<bf16>(o[t + 1], pa, b[2], b[3]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = q0 + warp * 16 + g + 8 * i;
    if (r >= n) continue;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
    bf16* out = ctx + size_t(begin + r) * H + h * D;
#pragma unroll
    for (int t = 0; t < D / 8; ++t)
      *reinterpret_cast<uint32_t*>(out + t * 8 + 2 * qd) = pack2<bf16>(o[t][2 * i] * inv, o[t][2 * i + 1] * inv);
  }
}

// One thread per (query, head): the reference (fp32 throughout, exact softmax by online rescaling).
__global__ void encoder_attention_ref(const bf16* qkv, const float* bias, const int32_t* starts, int heads, int D,
                                      int max_len, bf16* ctx) {
  const int s = blockIdx.y, begin = starts[s], n = starts[s + 1] - begin;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  const int r = idx / heads, h = idx % heads;
  if (r >= n) return;
  const int H = heads * D, ld = 3 * H;
  float q[128], acc[128];
  for (int d = 0; d < D; ++d) {
    q[d] = to_f(qkv[size_t(begin + r) * ld + h * D + d]) + bias[h * D + d];
    acc[d] = 0.0f;
  }
  const float scale = rsqrtf(float(D));
  float m = -INFINITY, sum = 0.0f;
  for (int j = 0; j < n; ++j) {
    const bf16* kr = qkv + size_t(begin + j) * ld + H + h * D;
    float dot = 0.0f;
    for (int d = 0; d < D; ++d) dot += q[d] * (to_f(kr[d]) + bias[H + h * D + d]);
    dot *= scale;
    const float mn = fmaxf(m, dot), alpha = expf(m - mn), p = expf(dot - mn);
    sum = sum * alpha + p;
    const bf16* vr = qkv + size_t(begin + j) * ld + 2 * H + h * D;
    for (int d = 0; d < D; ++d) acc[d] = acc[d] * alpha + p * (to_f(vr[d]) + bias[2 * H + h * D + d]);
    m = mn;
  }
  for (int d = 0; d < D; ++d) ctx[size_t(begin + r) * H + h * D + d] = __float2bfloat16_rn(acc[d] / sum);
}

}  // namespace

void encoder_attention(const void* qkv, const float* bias, const int32_t* starts, int B, int max_len, int heads,
                       int head_dim, void* ctx, cudaStream_t stream, bool force_reference) {
  IGNIS_KCHECK(head_dim > 0 && head_dim <= 128, "encoder attention: head_dim " + std::to_string(head_dim) +
                                                    " outside 1..128");
  IGNIS_KCHECK(B <= 65535, "encoder attention: more than 65535 sequences in one batch");
  if (B == 0 || max_len == 0) return;
  const auto* q = static_cast<const bf16*>(qkv);
  auto* o = static_cast<bf16*>(ctx);
  const bool vec = aligned16(qkv) && (3 * heads * head_dim) % 8 == 0;
  if (!force_reference && vec && (head_dim == 32 || head_dim == 64)) {
    dim3 grid((max_len + kTile - 1) / kTile, heads, B);
    if (head_dim == 32)
      encoder_attention_mma<32><<<grid, kWarps * 32, 0, stream>>>(q, bias, starts, heads, o);
    else
      encoder_attention_mma<64><<<grid, kWarps * 32, 0, stream>>>(q, bias, starts, heads, o);
    IGNIS_CUDA_LAUNCH_CHECK("encoder_attention_mma");
    return;
  }
  const int threads = 128;
  dim3 grid((max_len * heads + threads - 1) / threads, B);
  encoder_attention_ref<<<grid, threads, 0, stream>>>(q, bias, starts, heads, head_dim, max_len, o);
  IGNIS_CUDA_LAUNCH_CHECK("encoder_attention_ref");
}

}  // namespace ignis::kernels
