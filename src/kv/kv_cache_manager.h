// ignis kv: per-sequence block tables over a BlockPool, with prefix reuse (a hash
// chain over each full block's token ids) and sliding-window release. Host-only,
// single-threaded (owned by the engine thread).
//
// Invariants:
//  - a sequence's table covers positions [0, slots): block i holds [i*B, (i+1)*B);
//    entries may be -1 for blocks released by the sliding window;
//  - a block shared by several sequences (ref > 1) is always full and computed, so no
//    sequence ever writes into a shared block;
//  - a full block is hashed (registered for reuse) only once all its tokens' KV has
//    been written (commit());
//  - a prefix hit is never trusted on the hash: block i is reused only if it holds the same
//    tokens, the same extra key and follows the very block reused (or registered) for i-1
//    (BlockPool::holds), so by induction the whole prefix is identical.
#pragma once
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "kv/block_pool.h"

namespace ignis {

using SeqId = uint64_t;

// Chain hash of one full block: depends on the parent's hash, the block's tokens and an
// extra key (e.g. LoRA adapter id; 0 = none).
uint64_t kv_block_hash(uint64_t parent, std::span<const int32_t> tokens, uint64_t extra_key);
using KvBlockHashFn = uint64_t (*)(uint64_t parent, std::span<const int32_t> tokens, uint64_t extra_key);

struct KvCacheConfig {
  int num_blocks = 0;
  int block_size = 32;              // tokens per block
  DType kv_dtype = DType::BF16;     // element type of the backend's K/V (bytes accounting)
  int64_t kv_bytes_per_token = 0;   // K+V bytes of one token over all layers (0 = unknown)
  bool enable_prefix_caching = true;
  int sliding_window = 0;           // 0 = full attention
  // The chain hash (nullptr = kv_block_hash). Only a way to find candidates: every hit is
  // confirmed against the block's recorded content, so tests inject a colliding hash here.
  KvBlockHashFn block_hash = nullptr;
};

// Pool size for a memory budget: floor(budget / (bytes_per_token * block_size)).
int kv_blocks_for_budget(int64_t budget_bytes, int64_t kv_bytes_per_token, int block_size);

struct PrefixMatch {
  int num_blocks = 0;      // leading full blocks found in the cache
  int num_tokens = 0;      // = num_blocks * block_size
  int num_evictable = 0;   // of those, how many are cached with ref 0 (taking them uses pool room)
};

struct KvStats {
  int blocks_total = 0, blocks_used = 0, blocks_free = 0, blocks_cached = 0;
  int64_t prefix_query_tokens = 0, prefix_hit_tokens = 0;
  int64_t prefix_hash_mismatches = 0;  // hash found a block whose content differed: not reused
};

class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheConfig& cfg);

  const KvCacheConfig& config() const { return cfg_; }
  int block_size() const { return cfg_.block_size; }
  int num_blocks() const { return pool_.num_blocks(); }
  int64_t bytes_per_block() const { return cfg_.kv_bytes_per_token * cfg_.block_size; }
  int num_allocatable() const { return pool_.num_allocatable(); }
  KvStats stats() const;
  const BlockPool& pool() const { return pool_; }

  // Longest run of cached full blocks at the start of `tokens`, never covering the last
  // token (it must be computed to produce logits). Read-only.
  PrefixMatch match_prefix(std::span<const int32_t> tokens, uint64_t extra_key) const;

  // Starts tracking `id` and takes (increfs) its cached prefix; returns the number of
  // tokens whose KV is reused. No other blocks are allocated.
  int allocate(SeqId id, std::span<const int32_t> tokens, uint64_t extra_key);
  bool contains(SeqId id) const { return seqs_.count(id) != 0; }

  // New blocks needed so the table covers `total_tokens` positions.
  int blocks_needed(SeqId id, int total_tokens) const;
  bool can_append(SeqId id, int total_tokens) const {
    return blocks_needed(id, total_tokens) <= pool_.num_allocatable();
  }
  // Grows the table to cover `total_tokens` positions; false (nothing changed) if the
  // pool lacks room.
  bool append_slots(SeqId id, int total_tokens);

  // KV of tokens [0, num_computed) is now written: registers newly completed full
  // blocks for prefix reuse, then releases blocks wholly outside the sliding window.
  void commit(SeqId id, std::span<const int32_t> tokens, int num_computed);

  // Rollback after a speculative step: the table keeps only the blocks covering positions
  // [0, num_tokens); blocks wholly beyond are released (tail first). Only positions that were
  // never committed may be dropped (num_tokens >= the committed, hashed prefix), so a released
  // block is always private and unhashed and goes back Free. KV of dropped positions inside the
  // last kept block is garbage until those positions are written again (every later step
  // recomputes them before anything reads them).
  void truncate(SeqId id, int num_tokens);

  // Releases every block of `id` (cached ones stay reusable) and forgets it. Blocks go
  // back last-first, so a sequence's tail is evicted before its (more shareable) head.
  void free(SeqId id);
  // Blocks that free(id) would make allocatable again (those only `id` references).
  int blocks_freed_by(SeqId id) const;

  const std::vector<int32_t>& block_table(SeqId id) const;
  uint32_t block_generation(int32_t block) const { return pool_.generation(block); }
  int num_slots(SeqId id) const;  // positions covered by the table

 private:
  struct Seq {
    std::vector<int32_t> table;  // (num blocks) physical ids, -1 = released by the window
    int num_hashed = 0;          // leading blocks whose chain hash is known
    uint64_t last_hash = 0;      // chain hash of block num_hashed-1
    // The block that holds this sequence's content for block num_hashed-1 in the registry (its
    // own, or an equal one registered first); -1 = none yet, kBrokenChain = a colliding block
    // holds that hash, so no later block of this sequence is registered.
    int32_t last_block = -1;
    uint32_t last_generation = 0;  // last_block's generation then (it may be evicted since)
    uint64_t extra_key = 0;
    int num_released = 0;        // leading blocks released by the sliding window
  };
  static constexpr int32_t kBrokenChain = -2;
  uint64_t hash(uint64_t parent, std::span<const int32_t> tokens, uint64_t extra_key) const {
    return cfg_.block_hash ? cfg_.block_hash(parent, tokens, extra_key) : kv_block_hash(parent, tokens, extra_key);
  }
  Seq& get(SeqId id);
  const Seq& get(SeqId id) const;
  void release_window(Seq& s, int num_computed);

  KvCacheConfig cfg_;
  BlockPool pool_;
  std::unordered_map<SeqId, Seq> seqs_;
  int64_t prefix_query_tokens_ = 0, prefix_hit_tokens_ = 0, prefix_hash_mismatches_ = 0;
};

}  // namespace ignis
