#include <gtest/gtest.h>

#include "core/error.h"
#include "kv/block_pool.h"

using namespace ignis;

TEST(BlockPool, AllocateUntilEmptyThenThrows) {
  BlockPool p(4);
  EXPECT_EQ(p.num_allocatable(), 4);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(p.allocate());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(p.num_used(), 4);
  EXPECT_EQ(p.num_allocatable(), 0);
  EXPECT_THROW(p.allocate(), Error);
}

TEST(BlockPool, RefcountsReturnBlocksOnlyAtZero) {
  BlockPool p(2);
  int32_t b = p.allocate();
  p.incref(b);
  EXPECT_EQ(p.ref(b), 2);
  p.decref(b);
  EXPECT_EQ(p.num_used(), 1);
  p.decref(b);
  EXPECT_EQ(p.num_used(), 0);
  EXPECT_EQ(p.num_free(), 2);
  EXPECT_THROW(p.decref(b), Error);
  EXPECT_THROW(p.incref(b), Error);  // free, not cached: nothing to take back
  EXPECT_THROW(p.decref(7), Error);
}

TEST(BlockPool, HashedBlocksStayCachedAndAreFoundAgain) {
  BlockPool p(3);
  int32_t b = p.allocate();
  p.register_hash(b, 42);
  EXPECT_EQ(p.lookup(42), b);
  p.decref(b);
  EXPECT_EQ(p.num_cached(), 1);
  EXPECT_EQ(p.num_allocatable(), 3);  // cached blocks are allocatable (evictable)
  EXPECT_EQ(p.lookup(42), b);
  p.incref(b);  // prefix hit takes it back
  EXPECT_EQ(p.num_cached(), 0);
  EXPECT_EQ(p.ref(b), 1);
}

TEST(BlockPool, DuplicateHashKeepsFirstOwner) {
  BlockPool p(2);
  int32_t a = p.allocate(), b = p.allocate();
  p.register_hash(a, 7);
  p.register_hash(b, 7);
  EXPECT_EQ(p.lookup(7), a);
  EXPECT_FALSE(p.is_hashed(b));
  p.decref(b);
  EXPECT_EQ(p.num_free(), 1);  // unhashed block goes straight to the free list
}

TEST(BlockPool, EvictsLeastRecentlyReleasedFirst) {
  BlockPool p(3);
  int32_t a = p.allocate(), b = p.allocate(), c = p.allocate();
  p.register_hash(a, 1);
  p.register_hash(b, 2);
  p.register_hash(c, 3);
  p.decref(b);
  p.decref(a);
  p.decref(c);
  EXPECT_EQ(p.lru_order(), (std::vector<int32_t>{b, a, c}));
  // Touch a: taken and released again, it becomes most recent.
  p.incref(a);
  p.decref(a);
  EXPECT_EQ(p.lru_order(), (std::vector<int32_t>{b, c, a}));
  EXPECT_EQ(p.allocate(), b);  // no free blocks: evict the oldest
  EXPECT_EQ(p.lookup(2), -1);  // its content is gone
  EXPECT_EQ(p.lookup(3), c);
  EXPECT_EQ(p.allocate(), c);
  EXPECT_EQ(p.allocate(), a);
  EXPECT_EQ(p.num_cached(), 0);
}

TEST(BlockPool, FreeBlocksAreUsedBeforeEvictingCached) {
  BlockPool p(2);
  int32_t a = p.allocate();
  p.register_hash(a, 9);
  p.decref(a);
  int32_t b = p.allocate();
  EXPECT_NE(b, a);
  EXPECT_EQ(p.lookup(9), a);
}
