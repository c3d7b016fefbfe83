// KvCacheManager::truncate (speculative rollback) and block generations.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "kv/kv_cache_manager.h"

using namespace ignis;

namespace {
KvCacheConfig cfg(int blocks, int bs = 4) {
  KvCacheConfig c;
  c.num_blocks = blocks;
  c.block_size = bs;
  c.kv_bytes_per_token = 64;
  return c;
}
std::vector<int32_t> tokens(int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), 100);
  return t;
}
}  // namespace

TEST(KvTruncate, ReleasesBlocksWhollyBeyondAndKeepsThePartialOne) {
  KvCacheManager kv(cfg(8));
  auto t = tokens(5);
  kv.allocate(1, t, 0);
  ASSERT_TRUE(kv.append_slots(1, 5 + 7));  // 12 positions: 3 blocks
  kv.commit(1, t, 4);                      // first block committed (hashed)
  ASSERT_EQ(kv.block_table(1).size(), 3u);
  const int32_t second = kv.block_table(1)[1];
  kv.truncate(1, 6);  // positions [0, 6): blocks 0 and 1 stay
  ASSERT_EQ(kv.block_table(1).size(), 2u);
  EXPECT_EQ(kv.block_table(1)[1], second);
  EXPECT_EQ(kv.stats().blocks_used, 2);
  EXPECT_EQ(kv.pool().num_free(), 6);  // the released block is free, not cached: it was never hashed
  kv.truncate(1, 8);                   // nothing beyond: no change
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  kv.truncate(1, 4);  // down to the committed block
  EXPECT_EQ(kv.block_table(1).size(), 1u);
  kv.truncate(1, 3);  // the committed block still covers position 2: kept
  EXPECT_EQ(kv.block_table(1).size(), 1u);
  EXPECT_THROW(kv.truncate(1, 0), Error);  // would drop the committed, hashed block
  EXPECT_THROW(kv.truncate(1, -1), Error);
  EXPECT_THROW(kv.truncate(2, 0), Error);  // unknown sequence
  kv.free(1);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvTruncate, SharedPrefixIsNeverTouched) {
  KvCacheManager kv(cfg(8));
  auto t = tokens(9);
  kv.allocate(1, t, 0);
  ASSERT_TRUE(kv.append_slots(1, 9));
  kv.commit(1, t, 9);  // blocks 0, 1 hashed
  ASSERT_EQ(kv.allocate(2, t, 0), 8);  // shares both
  ASSERT_TRUE(kv.append_slots(2, 9 + 4));
  kv.truncate(2, 9);  // speculative slots of 2 dropped; the shared blocks keep ref 2
  EXPECT_EQ(kv.block_table(2).size(), 3u);
  EXPECT_EQ(kv.pool().ref(kv.block_table(2)[0]), 2);
  EXPECT_THROW(kv.truncate(2, 4), Error);  // the second shared block is committed
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvTruncate, GenerationChangesWhenABlockIsHandedOutAgain) {
  KvCacheManager kv(cfg(2, 2));
  auto t = tokens(3);
  kv.allocate(1, t, 0);
  ASSERT_TRUE(kv.append_slots(1, 3));
  kv.commit(1, t, 2);  // block 0 hashed
  const int32_t b0 = kv.block_table(1)[0], b1 = kv.block_table(1)[1];
  const uint32_t g0 = kv.block_generation(b0), g1 = kv.block_generation(b1);
  EXPECT_GT(g0, 0u);
  kv.free(1);
  // A prefix hit takes the cached block back: same content, same generation.
  ASSERT_EQ(kv.allocate(2, t, 0), 2);
  EXPECT_EQ(kv.block_table(2)[0], b0);
  EXPECT_EQ(kv.block_generation(b0), g0);
  ASSERT_TRUE(kv.append_slots(2, 3));  // takes the free block b1 again: a new generation
  EXPECT_EQ(kv.block_table(2)[1], b1);
  EXPECT_EQ(kv.block_generation(b1), g1 + 1);
  kv.free(2);
  // Eviction of the cached block for new content bumps it too.
  auto u = tokens(4);
  u[0] = 7;
  kv.allocate(3, u, 0);
  ASSERT_TRUE(kv.append_slots(3, 4));
  EXPECT_NE(kv.block_generation(b0), g0);
}
