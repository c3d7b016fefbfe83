// ignis model: how tensor and pipeline parallelism cut a model (pure arithmetic, no weights).
// Tensor parallelism (Megatron-style): rank r of T holds query heads [r H/T, (r+1) H/T) (T must
// divide num_heads), the KV heads they read (a contiguous num_kv_heads / T of them when T divides
// num_kv_heads, else the one KV head its query heads share, replicated on T / num_kv_heads ranks:
// T must then be a multiple of num_kv_heads), a contiguous slice of the intermediate columns and of
// the vocabulary (uneven splits allowed: boundaries at multiples of `align`, the last rank takes the
// remainder). Pipeline parallelism: stage s of P runs layers [s L / P, (s+1) L / P) (P <= L).
#pragma once
#include <cstdint>
#include <utility>

#include "model/config.h"

namespace ignis {

struct TpLayout {           // what tensor-parallel rank `rank` of `size` holds
  int rank = 0, size = 1;
  int head0 = 0, heads = 0;        // query heads [head0, head0 + heads)
  int kv_head0 = 0, kv_heads = 0;  // KV heads [kv_head0, kv_head0 + kv_heads)
  int64_t i0 = 0, i1 = 0;          // intermediate columns [i0, i1)
  int64_t v0 = 0, v1 = 0;          // vocabulary rows [v0, v1)
  int64_t vocab_chunk = 0;         // the largest rank's vocabulary rows (all-gather of padded logits)
};

// [begin, end) of `rank`'s part of [0, n) cut into `size` contiguous parts whose inner boundaries
// are multiples of `align` (>= 1). Throws when a part would be empty (`what` names the dimension).
std::pair<int64_t, int64_t> split_range(int64_t n, int size, int rank, int64_t align, const char* what);

// Throws Error naming the sizes when `size` does not fit the config (see above). intermediate_align:
// the granularity the down projection's input may be cut at (its input quantization group, else 1).
TpLayout tp_layout(const ModelConfig& cfg, int rank, int size, int64_t intermediate_align = 1);

// Layers [first, end) of pipeline stage `stage` of `stages`; throws when stages > num_layers.
std::pair<int, int> pp_layers(const ModelConfig& cfg, int stage, int stages);

}  // namespace ignis
