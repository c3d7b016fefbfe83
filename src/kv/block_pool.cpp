#include "kv/block_pool.h"

#include <algorithm>

#include "core/error.h"

namespace ignis {

BlockPool::BlockPool(int num_blocks) {
  IGNIS_CHECK(num_blocks > 0, "kv block pool: num_blocks must be > 0 (got {})", num_blocks);
  blocks_.resize(size_t(num_blocks));
  free_.reserve(size_t(num_blocks));
  // Stack: pop from the back, so block 0 is handed out first.
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
  by_hash_.reserve(size_t(num_blocks) * 2);
}

void BlockPool::check_id(int32_t b, const char* what) const {
  IGNIS_CHECK(b >= 0 && b < num_blocks(), "kv block pool: {} of invalid block id {} (pool has {})", what, b,
              num_blocks());
}

int32_t BlockPool::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    IGNIS_CHECK(lru_head_ >= 0, "kv block pool: out of blocks ({} in use)", num_blocks());
    b = lru_head_;
    lru_remove(b);
    Block& blk = blocks_[size_t(b)];
    by_hash_.erase(blk.hash);
    blk.hashed = false;
    blk.hash = 0;
  }
  blocks_[size_t(b)].ref = 1;
  ++blocks_[size_t(b)].generation;
  return b;
}

void BlockPool::incref(int32_t b) {
  check_id(b, "incref");
  Block& blk = blocks_[size_t(b)];
  if (blk.ref == 0) {
    IGNIS_CHECK(blk.in_lru, "kv block pool: incref of free block {}", b);
    lru_remove(b);
  }
  ++blk.ref;
}

void BlockPool::decref(int32_t b) {
  check_id(b, "decref");
  Block& blk = blocks_[size_t(b)];
  IGNIS_CHECK(blk.ref > 0, "kv block pool: decref of unreferenced block {}", b);
  if (--blk.ref > 0) return;
  if (blk.hashed) {
    lru_push_back(b);
  } else {
    free_.push_back(b);
  }
}

int32_t BlockPool::lookup(uint64_t hash) const {
  auto it = by_hash_.find(hash);
  return it == by_hash_.end() ? -1 : it->second;
}

bool BlockPool::register_hash(int32_t b, uint64_t hash, std::span<const int32_t> tokens, int32_t parent,
                              uint64_t extra_key) {
  check_id(b, "register_hash");
  if (parent >= 0) check_id(parent, "register_hash parent");
  Block& blk = blocks_[size_t(b)];
  if (blk.hashed) return false;
  if (!by_hash_.emplace(hash, b).second) return false;  // same (or colliding) content cached elsewhere
  blk.hashed = true;
  blk.hash = hash;
  blk.tokens.assign(tokens.begin(), tokens.end());
  blk.parent = parent;
  blk.parent_generation = parent >= 0 ? blocks_[size_t(parent)].generation : 0;
  blk.extra_key = extra_key;
  return true;
}

bool BlockPool::holds(int32_t b, std::span<const int32_t> tokens, int32_t parent, uint64_t extra_key) const {
  check_id(b, "holds");
  const Block& blk = blocks_[size_t(b)];
  if (!blk.hashed || blk.parent != parent || blk.extra_key != extra_key) return false;
  if (parent >= 0 && blocks_[size_t(parent)].generation != blk.parent_generation) return false;
  return std::equal(blk.tokens.begin(), blk.tokens.end(), tokens.begin(), tokens.end());
}

std::vector<int32_t> BlockPool::lru_order() const {
  std::vector<int32_t> out;
  for (int32_t b = lru_head_; b >= 0; b = blocks_[size_t(b)].next) out.push_back(b);
  return out;
}

std::vector<std::pair<int32_t, uint64_t>> BlockPool::hashed_blocks() const {
  std::vector<std::pair<int32_t, uint64_t>> out;
  for (auto& [h, b] : by_hash_) out.emplace_back(b, h);
  return out;
}

void BlockPool::lru_remove(int32_t b) {
  Block& blk = blocks_[size_t(b)];
  if (blk.prev >= 0) blocks_[size_t(blk.prev)].next = blk.next; else lru_head_ = blk.next;
  if (blk.next >= 0) blocks_[size_t(blk.next)].prev = blk.prev; else lru_tail_ = blk.prev;
  blk.prev = blk.next = -1;
  blk.in_lru = false;
  --num_cached_;
}

void BlockPool::lru_push_back(int32_t b) {
  Block& blk = blocks_[size_t(b)];
  blk.prev = lru_tail_;
  blk.next = -1;
  if (lru_tail_ >= 0) blocks_[size_t(lru_tail_)].next = b; else lru_head_ = b;
  lru_tail_ = b;
  blk.in_lru = true;
  ++num_cached_;
}

}  // namespace ignis
