#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "kv/kv_cache_manager.h"

using namespace ignis;

static std::vector<int32_t> iota_tokens(int n, int start = 100) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

static KvCacheConfig cfg(int blocks, int bs = 4, int window = 0) {
  KvCacheConfig c;
  c.num_blocks = blocks;
  c.block_size = bs;
  c.sliding_window = window;
  c.kv_bytes_per_token = 64;
  return c;
}

TEST(KvCacheManager, BlocksForBudget) {
  EXPECT_EQ(kv_blocks_for_budget(1 << 20, 1024, 32), 32);  // 1 MiB / (1 KiB * 32)
  EXPECT_EQ(kv_blocks_for_budget((1 << 20) - 1, 1024, 32), 31);
  EXPECT_THROW(kv_blocks_for_budget(1 << 20, 0, 32), Error);
  EXPECT_THROW(KvCacheManager(cfg(0)), Error);
  KvCacheManager kv(cfg(10, 16));
  EXPECT_EQ(kv.bytes_per_block(), 64 * 16);
}

TEST(KvCacheManager, AppendGrowsTableByBlocks) {
  KvCacheManager kv(cfg(4));
  auto t = iota_tokens(6);
  EXPECT_EQ(kv.allocate(1, t, 0), 0);
  EXPECT_EQ(kv.blocks_needed(1, 6), 2);
  ASSERT_TRUE(kv.append_slots(1, 6));
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  EXPECT_EQ(kv.num_slots(1), 8);
  EXPECT_TRUE(kv.append_slots(1, 8));  // still within the 2 blocks
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  EXPECT_FALSE(kv.append_slots(1, 4 * 4 + 1));  // 5 blocks > pool: nothing changes
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  EXPECT_EQ(kv.stats().blocks_used, 2);
  kv.free(1);
  EXPECT_EQ(kv.stats().blocks_used, 0);
  EXPECT_THROW(kv.block_table(1), Error);
  EXPECT_THROW(kv.free(1), Error);
}

TEST(KvCacheManager, PrefixReuseSharesFullComputedBlocks) {
  KvCacheManager kv(cfg(16));
  auto a = iota_tokens(10);  // blocks [0,4) [4,8) + 2 tokens
  kv.allocate(1, a, 0);
  ASSERT_TRUE(kv.append_slots(1, 10));
  // Nothing is reusable before the KV is committed.
  EXPECT_EQ(kv.match_prefix(a, 0).num_blocks, 0);
  kv.commit(1, a, 10);
  auto b = iota_tokens(13);  // same first 10 tokens, then more
  PrefixMatch m = kv.match_prefix(b, 0);
  EXPECT_EQ(m.num_blocks, 2);
  EXPECT_EQ(m.num_tokens, 8);
  EXPECT_EQ(m.num_evictable, 0);  // still owned by seq 1
  EXPECT_EQ(kv.allocate(2, b, 0), 8);
  EXPECT_EQ(kv.block_table(2)[0], kv.block_table(1)[0]);
  EXPECT_EQ(kv.block_table(2)[1], kv.block_table(1)[1]);
  EXPECT_EQ(kv.pool().ref(kv.block_table(1)[0]), 2);
  ASSERT_TRUE(kv.append_slots(2, 13));
  EXPECT_NE(kv.block_table(2)[2], kv.block_table(1)[2]);  // partial block is private
  // A different extra key (e.g. another LoRA) does not match.
  EXPECT_EQ(kv.match_prefix(b, 5).num_blocks, 0);
  // A different first token changes every chained hash.
  auto c = b;
  c[0] = 1;
  EXPECT_EQ(kv.match_prefix(c, 0).num_blocks, 0);
  auto st = kv.stats();
  EXPECT_EQ(st.prefix_hit_tokens, 8);
  EXPECT_EQ(st.prefix_query_tokens, 23);
}

TEST(KvCacheManager, FullyCachedPromptStillComputesLastToken) {
  KvCacheManager kv(cfg(16));
  auto a = iota_tokens(8);  // exactly 2 blocks
  kv.allocate(1, a, 0);
  ASSERT_TRUE(kv.append_slots(1, 8));
  kv.commit(1, a, 8);
  kv.free(1);
  // Same prompt again: only the first block can be reused; the second contains the
  // last token, which must be computed to produce logits.
  EXPECT_EQ(kv.match_prefix(a, 0).num_tokens, 4);
  EXPECT_EQ(kv.allocate(2, a, 0), 4);
}

TEST(KvCacheManager, ReleasedBlocksStayReusableUntilEvicted) {
  KvCacheManager kv(cfg(4));
  auto a = iota_tokens(9);
  kv.allocate(1, a, 0);
  ASSERT_TRUE(kv.append_slots(1, 9));
  kv.commit(1, a, 9);
  auto table = kv.block_table(1);
  kv.free(1);
  auto st = kv.stats();
  EXPECT_EQ(st.blocks_used, 0);
  EXPECT_EQ(st.blocks_cached, 2);  // the two full blocks; the partial one is plain free
  // Freed tail-first: the tail block is evicted before the head.
  EXPECT_EQ(kv.pool().lru_order(), (std::vector<int32_t>{table[1], table[0]}));
  PrefixMatch m = kv.match_prefix(a, 0);
  EXPECT_EQ(m.num_blocks, 2);
  EXPECT_EQ(m.num_evictable, 2);
  // Fill the pool with an unrelated sequence: 2 free blocks, then the LRU tail block.
  auto other = iota_tokens(12, 5000);
  kv.allocate(2, other, 0);
  ASSERT_TRUE(kv.append_slots(2, 12));
  EXPECT_EQ(kv.match_prefix(a, 0).num_blocks, 1);  // head survived, tail evicted
  kv.free(2);
}

TEST(KvCacheManager, BlocksFreedByCountsOnlyExclusiveBlocks) {
  KvCacheManager kv(cfg(16));
  auto a = iota_tokens(9);
  kv.allocate(1, a, 0);
  ASSERT_TRUE(kv.append_slots(1, 9));
  kv.commit(1, a, 9);
  kv.allocate(2, a, 0);  // shares 2 blocks
  ASSERT_TRUE(kv.append_slots(2, 9));
  EXPECT_EQ(kv.blocks_freed_by(2), 1);
  EXPECT_EQ(kv.blocks_freed_by(1), 1);
  kv.free(1);
  EXPECT_EQ(kv.blocks_freed_by(2), 3);
  kv.free(2);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvCacheManager, SlidingWindowReleasesBlocksOutsideTheWindow) {
  KvCacheManager kv(cfg(8, 4, /*window=*/6));
  auto t = iota_tokens(20);
  kv.allocate(1, t, 0);
  ASSERT_TRUE(kv.append_slots(1, 10));
  kv.commit(1, t, 10);
  // Next query at position 10 sees keys > 4: block 0 ([0,4)) is out; block 1 ([4,8)) keeps 4.
  auto tb = kv.block_table(1);
  EXPECT_EQ(tb[0], -1);
  EXPECT_GE(tb[1], 0);
  EXPECT_EQ(kv.stats().blocks_used, 2);
  ASSERT_TRUE(kv.append_slots(1, 20));
  kv.commit(1, t, 20);
  tb = kv.block_table(1);
  ASSERT_EQ(tb.size(), 5u);
  EXPECT_EQ(tb[1], -1);
  EXPECT_EQ(tb[2], -1);  // [8,12): last position 11 <= 20 - 6 - 1
  EXPECT_GE(tb[3], 0);   // [12,16) holds 14, 15 still in the window
  EXPECT_EQ(kv.stats().blocks_used, 2);
  kv.free(1);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvCacheManager, CommitBeyondSlotsIsAnError) {
  KvCacheManager kv(cfg(4));
  auto t = iota_tokens(6);
  kv.allocate(1, t, 0);
  ASSERT_TRUE(kv.append_slots(1, 4));
  EXPECT_THROW(kv.commit(1, t, 5), Error);
  EXPECT_THROW(kv.allocate(1, t, 0), Error);
}
