#include "kv/kv_cache_manager.h"

#include <algorithm>

#include "core/error.h"

namespace ignis {

int kv_blocks_for_budget(int64_t budget_bytes, int64_t kv_bytes_per_token, int block_size) {
  IGNIS_CHECK(kv_bytes_per_token > 0, "kv cache: bytes per token must be > 0 (got {})", kv_bytes_per_token);
  IGNIS_CHECK(block_size > 0, "kv cache: block size must be > 0 (got {})", block_size);
  IGNIS_CHECK(budget_bytes > 0, "kv cache: memory budget must be > 0 (got {})", budget_bytes);
  int64_t n = budget_bytes / (kv_bytes_per_token * block_size);
  return int(std::min<int64_t>(n, int64_t(1) << 30));
}

static inline uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

uint64_t kv_block_hash(uint64_t parent, std::span<const int32_t> tokens, uint64_t extra_key) {
  uint64_t h = mix64(parent ^ 0x9e3779b97f4a7c15ull) ^ mix64(extra_key + 0x632be59bd9b4e019ull);
  for (int32_t t : tokens) h = mix64(h ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ull));
  h = mix64(h ^ tokens.size());
  return h == 0 ? 1 : h;  // 0 is reserved for "no parent"
}

KvCacheManager::KvCacheManager(const KvCacheConfig& cfg) : cfg_(cfg), pool_(cfg.num_blocks) {
  IGNIS_CHECK(cfg.block_size > 0 && cfg.block_size <= 4096, "kv cache: block size must be in [1, 4096] (got {})",
              cfg.block_size);
  IGNIS_CHECK(cfg.sliding_window >= 0, "kv cache: sliding window must be >= 0 (got {})", cfg.sliding_window);
  seqs_.reserve(1024);
}

KvStats KvCacheManager::stats() const {
  KvStats s;
  s.blocks_total = pool_.num_blocks();
  s.blocks_used = pool_.num_used();
  s.blocks_free = pool_.num_allocatable();
  s.blocks_cached = pool_.num_cached();
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  s.prefix_hash_mismatches = prefix_hash_mismatches_;
  return s;
}

KvCacheManager::Seq& KvCacheManager::get(SeqId id) {
  auto it = seqs_.find(id);
  IGNIS_CHECK(it != seqs_.end(), "kv cache: unknown sequence {}", id);
  return it->second;
}
const KvCacheManager::Seq& KvCacheManager::get(SeqId id) const {
  auto it = seqs_.find(id);
  IGNIS_CHECK(it != seqs_.end(), "kv cache: unknown sequence {}", id);
  return it->second;
}

PrefixMatch KvCacheManager::match_prefix(std::span<const int32_t> tokens, uint64_t extra_key) const {
  PrefixMatch m;
  if (!cfg_.enable_prefix_caching || tokens.empty()) return m;
  const int B = cfg_.block_size;
  const int max_blocks = int(tokens.size() - 1) / B;  // never cover the last token
  uint64_t h = 0;
  int32_t parent = -1;
  for (int i = 0; i < max_blocks; ++i) {
    auto block_tokens = tokens.subspan(size_t(i) * B, size_t(B));
    h = hash(h, block_tokens, extra_key);
    int32_t b = pool_.lookup(h);
    if (b < 0 || !pool_.holds(b, block_tokens, parent, extra_key)) break;
    ++m.num_blocks;
    if (pool_.ref(b) == 0) ++m.num_evictable;
    parent = b;
  }
  m.num_tokens = m.num_blocks * B;
  return m;
}

int KvCacheManager::allocate(SeqId id, std::span<const int32_t> tokens, uint64_t extra_key) {
  IGNIS_CHECK(!seqs_.count(id), "kv cache: sequence {} allocated twice", id);
  Seq s;
  s.extra_key = extra_key;
  prefix_query_tokens_ += int64_t(tokens.size());
  if (cfg_.enable_prefix_caching && !tokens.empty()) {
    const int B = cfg_.block_size;
    const int max_blocks = int(tokens.size() - 1) / B;
    uint64_t h = 0;
    int32_t parent = -1;
    for (int i = 0; i < max_blocks; ++i) {
      auto block_tokens = tokens.subspan(size_t(i) * B, size_t(B));
      uint64_t hi = hash(h, block_tokens, extra_key);
      int32_t b = pool_.lookup(hi);
      if (b < 0) break;
      if (!pool_.holds(b, block_tokens, parent, extra_key)) {  // a hash collision: compute instead
        ++prefix_hash_mismatches_;
        break;
      }
      pool_.incref(b);
      s.table.push_back(b);
      h = hi;
      parent = b;
    }
    s.num_hashed = int(s.table.size());
    s.last_hash = h;
    s.last_block = parent;
    if (parent >= 0) s.last_generation = pool_.generation(parent);
  }
  int cached = int(s.table.size()) * cfg_.block_size;
  prefix_hit_tokens_ += cached;
  seqs_.emplace(id, std::move(s));
  return cached;
}

int KvCacheManager::blocks_needed(SeqId id, int total_tokens) const {
  const Seq& s = get(id);
  int want = (total_tokens + cfg_.block_size - 1) / cfg_.block_size;
  return std::max(0, want - int(s.table.size()));
}

bool KvCacheManager::append_slots(SeqId id, int total_tokens) {
  Seq& s = get(id);
  const int need = (total_tokens + cfg_.block_size - 1) / cfg_.block_size - int(s.table.size());
  if (need <= 0) return true;
  if (need > pool_.num_allocatable()) return false;
  for (int i = 0; i < need; ++i) s.table.push_back(pool_.allocate());
  return true;
}

void KvCacheManager::commit(SeqId id, std::span<const int32_t> tokens, int num_computed) {
  Seq& s = get(id);
  IGNIS_CHECK(num_computed >= 0 && size_t(num_computed) <= tokens.size() &&
                  num_computed <= int(s.table.size()) * cfg_.block_size,
              "kv cache: commit of {} tokens for sequence {} with {} tokens and {} slots", num_computed, id,
              tokens.size(), s.table.size() * size_t(cfg_.block_size));
  if (cfg_.enable_prefix_caching) {
    const int B = cfg_.block_size;
    const int full = num_computed / B;
    for (int i = s.num_hashed; i < full; ++i) {
      auto block_tokens = tokens.subspan(size_t(i) * B, size_t(B));
      s.last_hash = hash(s.last_hash, block_tokens, s.extra_key);
      // The block before was not ours and has been evicted since: its content is gone.
      if (s.last_block >= 0 && pool_.generation(s.last_block) != s.last_generation) s.last_block = kBrokenChain;
      if (s.last_block == kBrokenChain) continue;
      const int32_t mine = s.table[size_t(i)];
      const int32_t found = pool_.lookup(s.last_hash);
      if (found >= 0) {
        // Equal content registered first (e.g. the same prompt computed concurrently): the chain
        // continues from it. Different content under the same hash: nothing more is registered.
        if (pool_.holds(found, block_tokens, s.last_block, s.extra_key)) {
          s.last_block = found;
          s.last_generation = pool_.generation(found);
        } else {
          ++prefix_hash_mismatches_;
          s.last_block = kBrokenChain;
        }
      } else if (mine >= 0 && pool_.register_hash(mine, s.last_hash, block_tokens, s.last_block, s.extra_key)) {
        s.last_block = mine;
        s.last_generation = pool_.generation(mine);
      } else {
        s.last_block = kBrokenChain;  // released by the sliding window before it was registered
      }
    }
    s.num_hashed = std::max(s.num_hashed, full);
  }
  if (cfg_.sliding_window > 0) release_window(s, num_computed);
}

void KvCacheManager::release_window(Seq& s, int num_computed) {
  // Future queries sit at positions >= num_computed and see keys > pos - window, so a
  // block whose last position is <= num_computed - window - 1 is never read again.
  const int B = cfg_.block_size;
  const int releasable = std::max(0, (num_computed - cfg_.sliding_window) / B);
  for (int i = s.num_released; i < releasable && i < int(s.table.size()); ++i) {
    if (s.table[size_t(i)] >= 0) pool_.decref(s.table[size_t(i)]);
    s.table[size_t(i)] = -1;
  }
  s.num_released = std::max(s.num_released, std::min(releasable, int(s.table.size())));
}

void KvCacheManager::truncate(SeqId id, int num_tokens) {
  Seq& s = get(id);
  const int B = cfg_.block_size;
  IGNIS_CHECK(num_tokens >= 0, "kv cache: truncate of sequence {} to {} tokens", id, num_tokens);
  const int keep = (num_tokens + B - 1) / B;
  IGNIS_CHECK(keep >= s.num_hashed, "kv cache: truncate of sequence {} to {} tokens would drop {} committed blocks", id,
              num_tokens, s.num_hashed - keep);
  while (int(s.table.size()) > keep) {
    const int32_t b = s.table.back();
    s.table.pop_back();
    if (b >= 0) pool_.decref(b);
  }
}

void KvCacheManager::free(SeqId id) {
  auto it = seqs_.find(id);
  IGNIS_CHECK(it != seqs_.end(), "kv cache: free of unknown sequence {}", id);
  auto& table = it->second.table;
  for (auto b = table.rbegin(); b != table.rend(); ++b)
    if (*b >= 0) pool_.decref(*b);
  seqs_.erase(it);
}

int KvCacheManager::blocks_freed_by(SeqId id) const {
  int n = 0;
  for (int32_t b : get(id).table)
    if (b >= 0 && pool_.ref(b) == 1) ++n;
  return n;
}

const std::vector<int32_t>& KvCacheManager::block_table(SeqId id) const { return get(id).table; }

int KvCacheManager::num_slots(SeqId id) const { return int(get(id).table.size()) * cfg_.block_size; }

}  // namespace ignis
