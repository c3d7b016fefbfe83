// ignis kernels: integer weight-only products (INT4 / INT8 weights, bf16 / fp16 activations):
// y (m, n) = x (m, k) . dequant(W)^T with dequant(W)[r][c] = (code - zero) * scale of c's group.
//
// Device layout of the weights (cuda/int_weights.h builds it from quant/int_quant.h's IntLinear):
//   q     (n, k * bits / 32) uint32, row-major by output row, codes along k in natural order word by
//         word; inside a 4-bit word the nibbles hold codes [c0, c2, c4, c6, c1, c3, c5, c7] of the
//         word's 8 columns (AWQ's order: (w >> 4j) & 0x000F000F puts the pair (c_2j, c_2j+1) in the
//         two halves of a register); an 8-bit word holds its 4 codes in natural byte order.
//   meta  (k / group, n) uint32 by group then output row: bits 0-15 the group scale as fp16 bits,
//         bits 16-23 the zero code (symmetric formats store 2^(bits-1)).
// The product of a group runs on the tensor cores with the integers (code - zero) exact in the
// activation dtype, and is scaled in fp32: y = sum over groups of scale * (sum (code - zero) * x).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/rope_kv.h"

namespace ignis::kernels {

constexpr int kIntGemvMaxM = 64;  // rows of x one pass takes (8 per mma column tile, up to 8 tiles)

// k per mma unit of one lane group: the group size must be a multiple of it.
constexpr int int_gemv_unit(int bits) { return bits == 4 ? 128 : 64; }

// Whether gemv_int() / dequantize_int_weights() take this case: act BF16 or F16, bits 4 or 8,
// k and group multiples of int_gemv_unit(bits), group dividing k; gemv_int also needs m in
// [1, kIntGemvMaxM].
bool int_weights_supported(DType act, int bits, int k, int group);
bool gemv_int_supported(DType act, int bits, int m, int k, int group);

// x (m, k) and y (m, n) of dtype `act` (row-major, 16-byte aligned); q, meta as above.
// pdl: launched with programmatic dependent launch (the first weights and their scales are loaded
// before griddepcontrol.wait, x after).
void gemv_int(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k,
              int bits, int group, cudaStream_t stream, bool pdl);

// The q/k/v projection with rope_qkv_write_kv in its epilogue (kernels/gemv_epilogue.cuh RopeY): x (a.n, k)
// of a.dtype, q / meta the ((num_heads + 2 num_kv_heads) head_dim, k) weights; q heads rotated in place in
// a.qkv, k / v written to the caches, the bits of gemv_int followed by rope_qkv_write_kv (a.qkv's k / v
// columns are not written). Needs a.n in 1..8, head_dim % 16 == 0, int_weights_supported (and valid FP8 KV
// scales).
bool gemv_int_rope_supported(const RopeKvArgs& a, int bits, int k, int group);
void gemv_int_rope(const RopeKvArgs& a, const void* x, const uint32_t* q, const uint32_t* meta, int k, int bits,
                   int group, cudaStream_t stream, bool pdl);

// w (n, k) of dtype `act` = (code - zero) * scale rounded once from fp32: large batches run
// the dense GEMM on this (a scratch buffer of the largest projection).
void dequantize_int_weights(DType act, const uint32_t* q, const uint32_t* meta, void* w, int n, int k, int bits,
                            int group, cudaStream_t stream);

}  // namespace ignis::kernels
