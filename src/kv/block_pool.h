// ignis kv: the pool of fixed-size KV blocks (host bookkeeping only: ids, refcounts,
// prefix-hash registry, LRU of reusable cached blocks). Device memory belongs to the
// backend; a block id here indexes the backend's pool.
//
// Block lifetime (see docs/ARCHITECTURE_runtime.md):
//   Free --allocate--> InUse(ref>=1) --register_hash--> InUse+hashed
//   InUse, ref->0: hashed ? Cached (in LRU, reusable by prefix match) : Free
//   Cached --incref (prefix hit)--> InUse;  Cached --evict (allocate, LRU first)--> InUse (hash dropped)
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ignis {

class BlockPool {
 public:
  explicit BlockPool(int num_blocks);

  int num_blocks() const { return int(blocks_.size()); }
  // Blocks that allocate() can hand out: never-used/free ones plus evictable cached ones.
  int num_allocatable() const { return int(free_.size()) + num_cached_; }
  int num_free() const { return int(free_.size()); }  // free and holding no reusable content
  int num_cached() const { return num_cached_; }      // ref 0, hashed, reusable until evicted
  int num_used() const { return num_blocks() - num_allocatable(); }  // ref >= 1

  // Takes a free block, else evicts the least recently released cached block
  // (dropping its hash). ref becomes 1. Throws Error when nothing is allocatable.
  int32_t allocate();
  void incref(int32_t b);  // a cached block taken back leaves the LRU
  void decref(int32_t b);  // ref 0: hashed -> LRU tail (most recent), else free list
  int32_t ref(int32_t b) const { return blocks_[size_t(b)].ref; }
  // Bumped each time allocate() hands block b out (fresh or evicted): equal generations mean the
  // block still holds the same content. A second KV pool following these ids (a draft model's,
  // see spec/draft.h) uses it to know whether its own copy of a block is still current.
  uint32_t generation(int32_t b) const { return blocks_[size_t(b)].generation; }

  // Prefix registry. register_hash is a no-op (false) when the hash is already registered
  // (another block holds the same content, or a colliding one) or the block already has a hash.
  // A hash only finds a candidate: the block also records what it holds (its tokens, the block
  // before it in its chain with that block's generation, and the extra key), and holds() confirms
  // a candidate against the asker's content, so a hash collision never serves foreign KV.
  int32_t lookup(uint64_t hash) const;  // -1 if absent
  bool register_hash(int32_t b, uint64_t hash, std::span<const int32_t> tokens, int32_t parent,
                     uint64_t extra_key);
  bool register_hash(int32_t b, uint64_t hash) { return register_hash(b, hash, {}, -1, 0); }
  // True iff hashed block b holds exactly `tokens`, follows `parent` (-1: first block of a chain;
  // else a block whose generation is unchanged since b was registered) and has `extra_key`.
  bool holds(int32_t b, std::span<const int32_t> tokens, int32_t parent, uint64_t extra_key) const;
  bool is_hashed(int32_t b) const { return blocks_[size_t(b)].hashed; }

  // LRU order of cached blocks, oldest (next evicted) first; for tests and stats.
  std::vector<int32_t> lru_order() const;
  // Every registered (block, hash) pair; for tests.
  std::vector<std::pair<int32_t, uint64_t>> hashed_blocks() const;

 private:
  struct Block {
    int32_t ref = 0;
    bool hashed = false;
    bool in_lru = false;
    uint64_t hash = 0;
    uint32_t generation = 0;
    // What a hashed block holds (confirmed by holds()): its tokens, its chain parent (block id and
    // that block's generation at registration; -1 = first block) and the extra key.
    std::vector<int32_t> tokens;
    int32_t parent = -1;
    uint32_t parent_generation = 0;
    uint64_t extra_key = 0;
    int32_t prev = -1, next = -1;  // LRU links
  };
  void lru_remove(int32_t b);
  void lru_push_back(int32_t b);
  void check_id(int32_t b, const char* what) const;

  std::vector<Block> blocks_;
  std::vector<int32_t> free_;  // stack of free block ids
  int32_t lru_head_ = -1, lru_tail_ = -1;
  int num_cached_ = 0;
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace ignis
