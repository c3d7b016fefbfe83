// ignis kernels: greedy sampling on the GPU (argmax with its log-probability).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace ignis::kernels {

// logits (rows, vocab) fp32. For each row: token = smallest index of the maximum,
// logprob = logit[token] - logsumexp(row). NaN logits are never chosen.
void argmax_logprob(const float* logits, int rows, int vocab, int32_t* out_token, float* out_logprob,
                    cudaStream_t stream);

}  // namespace ignis::kernels
