// ignis kernels: the ops of a BERT / XLM-R sentence encoder on the GPU (src/encoder_gpu), over a
// flat batch of variable-length sequences (no padding): token i of the batch belongs to the
// sequence s with starts[s] <= i < starts[s + 1]. Activations between GEMMs are bf16; the residual
// stream and every LayerNorm are fp32.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace ignis::kernels {

enum class EncoderAct { GeluErf, GeluTanh, Relu };
enum class EncoderPool { Cls, Mean, Max, LastToken };

// x32 / xb (T, hidden) = LayerNorm(word[ids] + pos[positions] + type[type_ids]) (bf16 tables;
// type may be null), gamma / beta fp32.
void encoder_embed_ln(const int32_t* ids, const int32_t* positions, const int32_t* type_ids, const void* word,
                      const void* pos, const void* type, const float* gamma, const float* beta, float* x32, void* xb,
                      int T, int hidden, float eps, cudaStream_t stream);

// x32 = LayerNorm(x32 + y + bias) (y (T, hidden) bf16, bias fp32), also written to xb as bf16.
void encoder_add_ln(float* x32, void* xb, const void* y, const float* bias, const float* gamma, const float* beta,
                    int T, int hidden, float eps, cudaStream_t stream);

// y (T, n) bf16 = act(y + bias), in place.
void encoder_bias_act(void* y, const float* bias, int T, int n, EncoderAct act, cudaStream_t stream);

// out (B, hidden) fp32: the pooled (and, with normalize, L2-normalized) rows of x32 per sequence.
void encoder_pool(const float* x32, const int32_t* starts, int B, int hidden, EncoderPool mode, bool normalize,
                  float* out, cudaStream_t stream);

// Bidirectional attention within each sequence. qkv (T, 3 * heads * head_dim) bf16 without
// bias, bias (3 * heads * head_dim) fp32 (q | k | v), ctx (T, heads * head_dim) bf16 =
// softmax(q k^T / sqrt(head_dim)) v per sequence and head. head_dim 32 and 64 run on tensor cores
// (mma.sync, 64 queries per block, keys in tiles of 64, online softmax); others (<= 128) on the
// reference kernel, which `force_reference` also selects (tests).
void encoder_attention(const void* qkv, const float* bias, const int32_t* starts, int B, int max_len, int heads,
                       int head_dim, void* ctx, cudaStream_t stream, bool force_reference = false);

}  // namespace ignis::kernels
