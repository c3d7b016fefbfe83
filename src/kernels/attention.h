// ignis kernels: attention over the paged KV cache for a mixed batch of prefill chunks
// and decode tokens (causal, GQA, sliding window), with flash-decoding splits.
//
// Work unit = (tile, kv head, split). A tile is up to attention_tile_tokens(...) consecutive
// new tokens of one sequence; its block handles all tile_tokens x gqa query rows of one
// kv head, so each K/V chunk is read once per GQA group and shared by the tile's tokens.
// The key range of a tile is cut into num_splits equal parts (computed on the device from the
// positions, so a captured CUDA graph stays valid as contexts grow); with num_splits > 1 the
// parts are merged by a combine kernel (log-sum-exp).
// Implementations (see AttentionImpl, chosen per call by PagedAttentionArgs::impl): "simple" = SIMT
// fp32 (online softmax, 32-key chunks staged in shared memory, 32 query rows per pass); "mma" = tensor
// cores (attention_mma.cu: mma.sync m16n8k16, 64 query rows and 64-key chunks, bf16/fp16 with head_dim
// 64 or 128 only, anything else falls back to simple); "wgmma" = on Hopper, prefill tiles on
// attention_wgmma.cu (wgmma, 128 query rows, 128-key chunks, head_dim 128), decode tiles and
// everything else as mma.
// All accept tiles of any size (a block loops over its rows in passes); attention_tile_tokens()
// picks the size that suits the implementation in use.
//
// FP8 KV cache (kv_dtype F8_E4M3, bf16/fp16 activations): the cache holds e4m3 codes, k = code *
// k_scale, v = code * v_scale. Every kernel reads the codes directly (no dequantization pass): they
// are converted to the compute dtype unscaled (exact: every e4m3 value is a bf16 and an fp16 value),
// k_scale is folded into the softmax scale and v_scale multiplies the normalized output (after the
// split combine). How each kernel loads them: see attention.cu (simple), attention_mma_decode.cuh,
// attention_mma_impl.cuh and attention_wgmma_impl.cuh.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

struct AttentionTile {
  int32_t seq = 0;          // row of block_tables
  int32_t token_begin = 0;  // first token (row of q / out) of the tile
  int32_t num_tokens = 0;   // 0 = padding tile (skipped)
  int32_t pad = 0;
};

// A decode tile: 1..kDecodeTileRows query rows (num_tokens * gqa), the rows one pass of the split-keys
// decode path holds. The kernels route such tiles there; PagedAttentionArgs::num_small_tiles counts them.
constexpr int kDecodeTileRows = 16;
inline bool attention_decode_tile(const AttentionTile& t, int gqa) {
  return t.num_tokens > 0 && t.num_tokens * gqa <= kDecodeTileRows;
}

// Which kernels paged_attention() runs (PagedAttentionArgs::impl; the caller chooses it, e.g. from a
// load option; attention_impl_from_env() gives the CLI's default).
//   Simple: SIMT fp32 for everything.
//   Mma:    tensor cores with mma.sync (attention_mma.cu; any sm_80+ GPU): a decode kernel for
//           launches of decode tiles, a FlashAttention-2-style kernel otherwise.
//   Wgmma:  Mma, except that on a compute-capability 9.0 device launches with prefill tiles run
//           them on the wgmma kernel (attention_wgmma.cu, head_dim 128) and their decode tiles on
//           the decode kernel. Means Mma on other devices and shapes.
// Mma and Wgmma silently mean Simple for shapes the tensor-core kernels do not support
// (attention_mma_supported).
enum class AttentionImpl { Simple, Mma, Wgmma };

struct PagedAttentionArgs {
  DType dtype = DType::BF16;    // q and out: BF16, F16 or F32
  // The cache's element type: F8_E4M3 = e4m3 codes (one byte each, scaled by k_scale / v_scale;
  // needs dtype BF16 or F16); any other value = dtype (the cache holds the compute dtype).
  DType kv_dtype = DType::BF16;
  float k_scale = 1.0f, v_scale = 1.0f;  // F8_E4M3 only (finite, > 0); ignored otherwise
  AttentionImpl impl = AttentionImpl::Wgmma;
  const void* q = nullptr;      // token t, head h at q + t*q_stride + h*head_dim (rotated, unscaled)
  int q_stride = 0;             // elements
  const void* k_cache = nullptr;  // this layer: (num_blocks, block_size, num_kv_heads, head_dim) of kv_dtype
  const void* v_cache = nullptr;  // same
  const int32_t* block_tables = nullptr;  // (num_seqs, bt_stride); -1 = released block
  int bt_stride = 0;
  // (num_tokens) the KV slot position of each token (= its position, except in a token tree);
  // consecutive within a tile. A token sees keys at slots <= its own (and the window, and the tree).
  const int32_t* positions = nullptr;
  const AttentionTile* tiles = nullptr;   // (num_tiles)
  int num_tiles = 0;
  int num_tokens = 0;           // rows of q/out (including padding rows)
  int num_heads = 0, num_kv_heads = 0, head_dim = 0, block_size = 0;
  int sliding_window = 0;       // 0 = full; else key k visible to query q iff q - k < window
  // Tree verification (model/batch.h BatchSeq::tree_parent; null = none): the key at KV slot p is
  // visible to token t only if p < tree_begin[t] (the context before t's tree) or bit p - tree_begin[t]
  // of t's mask row is set (an ancestor of t, or t itself). tree_begin (num_tokens): the KV slot of
  // t's tree root, INT32_MAX for a token that is not in a tree; tree_mask (num_tokens, tree_words)
  // 32-bit words, bit j of word j / 32 = tree node j (slot tree_begin[t] + j). Every kernel honours it
  // (the fast paths for wholly visible chunks step aside for chunks that reach a tree).
  const int32_t* tree_begin = nullptr;
  const uint32_t* tree_mask = nullptr;
  int tree_words = 0;
  // Tree verification by path instead of a mask (batch invariance: a tree token's attention then sums its
  // keys in the order a decode step of that token would): positions are the tokens' logical positions
  // (root position + depth), tree_mask is null, every tile holds one token and is a decode tile, and for
  // a tree token t (tree_begin[t] != INT32_MAX) key p >= tree_begin[t] is read from cache position
  // tree_path[t * tree_path_stride + p - tree_begin[t]] (its ancestor at depth p - tree_begin[t], itself
  // last). Only the split-keys decode kernel reads it (paged_attention refuses other launches).
  const int32_t* tree_path = nullptr;
  int tree_path_stride = 0;
  float scale = 0.0f;           // usually 1/sqrt(head_dim)
  int num_splits = 1;
  // > 0: split s covers keys [s * split_keys, (s + 1) * split_keys) (a multiple of 64; num_splits * split_keys
  // must reach the last key; empty splits are skipped by the merge), and the merge always takes the
  // one-block-per-row kernel: a query's result is then the same bits whatever tile, pass or num_splits it
  // is computed in, given the same kernel for its tile (decode tiles: attention_decode_tile) and
  // num_splits >= 2 (batch invariance, attention_invariant_split_keys). 0: num_splits equal parts.
  int split_keys = 0;
  // Decode tiles (attention_decode_tile: 1..16 query rows), if the caller counted them;
  // -1 = not counted. 0 lets a launch of prefill tiles on the wgmma kernel skip the decode kernel that
  // would otherwise follow it for such tiles (an empty launch of one block per tile). A count of 0
  // with such tiles present leaves their output unwritten.
  int num_small_tiles = -1;
  float* workspace = nullptr;   // attention_workspace_floats(num_tokens, num_heads, head_dim, num_splits) floats
  void* out = nullptr;          // token t, head h at out + t*out_stride + h*head_dim
  int out_stride = 0;
};

// IGNIS_ATTENTION ("simple" = Simple, "mma" = Mma, anything else or unset = Wgmma): the default a
// command-line front end may pass on (the kernels never read the environment).
AttentionImpl attention_impl_from_env();
const char* attention_impl_name(AttentionImpl impl);  // "simple", "mma", "wgmma"
// Whether the cache holds FP8 codes (kv_dtype F8_E4M3) rather than the compute dtype.
inline bool attention_kv_fp8(DType kv_dtype) { return kv_dtype == DType::F8_E4M3; }
// Whether the tensor-core kernels handle this shape (dtype BF16/F16, head_dim 64 or 128, gqa <= 32;
// either cache type).
bool attention_mma_supported(int gqa, int head_dim, DType dtype, DType kv_dtype);
// Whether paged_attention() runs prefill tiles of this shape on the wgmma kernel (impl Wgmma,
// head_dim 128, BF16/F16, either cache type, a compute-capability 9.0 device).
bool attention_wgmma_active(AttentionImpl impl, int gqa, int head_dim, DType dtype, DType kv_dtype);

// Tokens per tile for a GQA ratio (num_heads / num_kv_heads <= 32) with the simple kernel.
int attention_tile_tokens(int gqa);
// Tokens per tile for the kernel paged_attention() runs for this shape with this impl (the host cuts
// sequences into tiles with this).
int attention_tile_tokens(AttentionImpl impl, int gqa, int head_dim, DType dtype, DType kv_dtype);

size_t attention_workspace_floats(int num_tokens, int num_heads, int head_dim, int num_splits);
#ifdef __CUDACC__
// The workspace's (m, l) pairs of the S splits: after the num_tokens x num_heads x S partial rows of D floats.
__host__ __device__ inline float* split_ml(const PagedAttentionArgs& a, int S, int D) {
  return a.workspace + size_t(a.num_tokens) * a.num_heads * S * D;
}
#endif
// Splits for a step: enough (tile x kv head x split) blocks to fill `num_sms` twice, each split
// at least 64 keys of the longest key range `max_keys`, at most 32.
int attention_num_splits(int num_tiles, int num_kv_heads, int max_keys, int num_sms);
// PagedAttentionArgs::split_keys for contexts of up to max_model_len keys: the least multiple of 64
// that needs at most 32 splits. With it, ceil(keys / split_keys) splits, at least 2.
int attention_invariant_split_keys(int max_model_len);
int attention_invariant_num_splits(int max_keys, int split_keys);

void paged_attention(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace ignis::kernels
