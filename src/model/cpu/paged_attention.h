// ignis model/cpu: K/V cache writes and causal attention over a paged KV cache
// (reference ops, fp32). Cache layout per layer: (num_blocks, block_size, num_kv_heads,
// head_dim); a sequence's block_table[b] is the physical block holding its positions
// [b * block_size, (b + 1) * block_size).
#pragma once
#include <cstdint>

namespace ignis::cpu {

struct PagedCacheShape {
  int num_blocks = 0;
  int block_size = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
};

// One sequence of a flat batch.
struct AttnSeq {
  int32_t token_offset = 0;   // index of its first new token in the flat batch
  int32_t num_tokens = 0;     // new tokens (queries), at positions num_cached .. num_cached + num_tokens - 1
  int32_t num_cached = 0;     // tokens already in the cache before this step
  const int32_t* block_table = nullptr;
  int32_t block_table_len = 0;
  // Tree verification (model/batch.h BatchSeq::tree_parent): null = a chain (token t at position
  // num_cached + t, causal); else (num_tokens) parents, tree_parent[0] = -1, tree_parent[t] < t:
  // token t is at position num_cached + depth(t), its K/V in slot num_cached + t, and it attends
  // to the cached context and its own ancestors (itself included) only.
  const int32_t* tree_parent = nullptr;
};

// Writes k, v (n_tokens, num_kv_heads, head_dim) of one sequence into the cache at positions
// start_pos .. start_pos + n_tokens - 1. Throws Error if a needed block is missing or out of range.
void paged_kv_write(float* k_cache, float* v_cache, const PagedCacheShape& shape, const float* k, const float* v,
                    const int32_t* block_table, int block_table_len, int start_pos, int n_tokens);

struct AttnParams {
  int num_heads = 0;       // query heads; query head h reads kv head h / (num_heads / num_kv_heads)
  int sliding_window = 0;  // 0: full causal; W > 0: query at p sees keys at [max(0, p - W + 1), p]
  float scale = 1.0f;      // usually 1 / sqrt(head_dim)
};

// out (total_tokens, num_heads * head_dim) = softmax(q k^T * scale + causal/window mask) v for every
// (a tree sequence: its tree mask; keys in context-then-ancestor order, so a chain written as a
// tree gives bit-identical results)
// new token of every sequence; q (total_tokens, num_heads * head_dim) already has RoPE applied and
// the sequences' K/V (including this step's) are already in the cache. Multi-threaded over
// (token, head). Throws Error naming the sequence if a block it must read is -1 or out of range.
void paged_attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                     const PagedCacheShape& shape, const AttnSeq* seqs, int n_seqs, const AttnParams& params);

}  // namespace ignis::cpu
