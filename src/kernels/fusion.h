// ignis kernels: feature fusion of an EAGLE draft head (ModelConfig::fusion): the fc's input rows, its
// bias into the residual stream, and the final rows without a final norm.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// out (n, 2 * hidden) of `dtype`: row i = [table[tokens[i]] | round_dtype(features[i])], the embedding
// first (EAGLE's torch.cat((inputs_embeds, hidden_states), -1)); table (vocab, hidden) of dtype, features
// (n, hidden) fp32. Token ids outside [0, vocab) give a zero embedding half (callers validate ids first).
void fusion_concat(DType dtype, const int32_t* tokens, int n, const void* table, int vocab, int hidden,
                   const float* features, void* out, cudaStream_t stream);

// The fc's output y (n, hidden) fp32 (the GEMM's) plus bias (hidden, of dtype; null: none), rounded to the
// dtype once (what nn.Linear with a bias returns in that dtype): x (n, hidden) of dtype gets it (the input of
// a layer 0 without an input norm) and residual (n, hidden) fp32 too. y and residual may be the same buffer.
void fusion_bias_residual(DType dtype, const float* y, const void* bias, int n, int hidden, float* residual, void* x,
                          cudaStream_t stream);

// A model without a final norm: for each output row i (n rows), r = rows[i]: residual[r] += round_dtype(add[r]),
// out[i] = round_dtype(residual[r]) (out (n, hidden) of dtype: the lm_head's input). rows (n, distinct).
void add_gather_rows(DType dtype, float* residual, const void* add, const int32_t* rows, int n, int hidden, void* out,
                     cudaStream_t stream);

}  // namespace ignis::kernels
