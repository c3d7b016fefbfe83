// Prefix-cache safety: a hit on the chain hash is confirmed against the block's recorded content
// (tokens, chain parent, extra key) before reuse. Colliding hash functions are injected through
// KvCacheConfig::block_hash; a simulated KV store (each slot holds the exact token prefix whose KV
// it would contain) shows that every reused block holds what the new sequence would compute.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "kv/kv_cache_manager.h"

using namespace ignis;

namespace {

constexpr int B = 4;

std::vector<int32_t> iota_tokens(int n, int start = 100) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

KvCacheConfig cfg(int blocks, KvBlockHashFn h) {
  KvCacheConfig c;
  c.num_blocks = blocks;
  c.block_size = B;
  c.kv_bytes_per_token = 64;
  c.block_hash = h;
  return c;
}

// Every block of every chain hashes the same.
uint64_t constant_hash(uint64_t, std::span<const int32_t>, uint64_t) { return 77; }
// Ignores the parent and the extra key: a block hashes only its own tokens.
uint64_t tokens_only_hash(uint64_t, std::span<const int32_t> t, uint64_t) {
  return kv_block_hash(0, t, 0);
}
// Token 8 hashes like token 7 (a targeted collision); otherwise the real hash.
uint64_t seven_is_eight_hash(uint64_t parent, std::span<const int32_t> t, uint64_t key) {
  std::vector<int32_t> v(t.begin(), t.end());
  for (auto& x : v)
    if (x == 8) x = 7;
  return kv_block_hash(parent, v, key);
}

// Simulated device KV: slot (block, offset) -> the token prefix its KV was computed from, plus
// the extra key (another adapter computes other KV from the same tokens).
struct SimKv {
  std::map<std::pair<int32_t, int>, std::pair<std::vector<int32_t>, uint64_t>> slot;
  void write(const KvCacheManager& kv, SeqId id, const std::vector<int32_t>& t, int from, int to, uint64_t key) {
    const auto& table = kv.block_table(id);
    for (int p = from; p < to; ++p)
      slot[{table[size_t(p / B)], p % B}] = {std::vector<int32_t>(t.begin(), t.begin() + p + 1), key};
  }
  // Runs a sequence: allocate (reusing the prefix), check the reused slots, compute the rest, commit.
  int run(KvCacheManager& kv, SeqId id, const std::vector<int32_t>& t, uint64_t key = 0) {
    const int cached = kv.allocate(id, t, key);
    EXPECT_TRUE(kv.append_slots(id, int(t.size())));
    const auto& table = kv.block_table(id);
    for (int p = 0; p < cached; ++p) {
      auto it = slot.find({table[size_t(p / B)], p % B});
      EXPECT_TRUE(it != slot.end()) << "seq " << id << " reused an unwritten slot at " << p;
      if (it == slot.end()) continue;
      EXPECT_EQ(it->second.first, std::vector<int32_t>(t.begin(), t.begin() + p + 1))
          << "seq " << id << " reused foreign KV at position " << p;
      EXPECT_EQ(it->second.second, key) << "seq " << id << " reused another key's KV at " << p;
    }
    write(kv, id, t, cached, int(t.size()), key);
    kv.commit(id, t, int(t.size()));
    return cached;
  }
};

}  // namespace

TEST(KvPrefixConfirm, ConstantHashNeverServesForeignBlocks) {
  KvCacheManager kv(cfg(32, constant_hash));
  SimKv sim;
  auto a = iota_tokens(13);
  EXPECT_EQ(sim.run(kv, 1, a), 0);
  kv.free(1);
  // Every lookup finds a's first block; a different prompt must not take it.
  auto b = iota_tokens(13, 500);
  EXPECT_EQ(kv.match_prefix(b, 0).num_blocks, 0);
  EXPECT_EQ(sim.run(kv, 2, b), 0);
  EXPECT_GE(kv.stats().prefix_hash_mismatches, 1);
  kv.free(2);
  // The same prompt again is confirmed and reused, but only as far as content was registered:
  // a's second block collided with its first, so the chain stops after one block.
  EXPECT_EQ(kv.match_prefix(a, 0).num_blocks, 1);
  EXPECT_EQ(sim.run(kv, 3, a), B);
  kv.free(3);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvPrefixConfirm, TargetedTokenCollisionIsNotReused) {
  KvCacheManager kv(cfg(32, seven_is_eight_hash));
  SimKv sim;
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11};  // block 1 holds 7
  std::vector<int32_t> b = {1, 2, 3, 4, 5, 6, 8, 9, 10, 11};  // block 1 holds 8: same hash chain
  EXPECT_EQ(sim.run(kv, 1, a), 0);
  EXPECT_EQ(kv.match_prefix(b, 0).num_blocks, 1);  // only the truly equal first block
  EXPECT_EQ(sim.run(kv, 2, b), B);
  EXPECT_EQ(kv.stats().prefix_hash_mismatches, 2);  // at b's lookup and at b's commit
  kv.free(1);
  kv.free(2);
  // a is still reusable in full (2 blocks; the last token is always computed).
  EXPECT_EQ(sim.run(kv, 3, a), 2 * B);
  kv.free(3);
}

TEST(KvPrefixConfirm, EqualTokensAfterADifferentParentAreNotReused) {
  // Hashing a block without its parent makes "same block, different prefix" collide. Confirming
  // tokens alone would reuse a's second block for c; the parent check refuses it.
  KvCacheManager kv(cfg(32, tokens_only_hash));
  SimKv sim;
  auto x = iota_tokens(B, 100), y = iota_tokens(B, 200), z = iota_tokens(B, 300);
  auto cat = [](std::vector<int32_t> p, const std::vector<int32_t>& q, int extra) {
    p.insert(p.end(), q.begin(), q.end());
    for (int i = 0; i < extra; ++i) p.push_back(900 + i);
    return p;
  };
  auto a = cat(x, z, 1);  // [x z .]
  auto b = cat(y, {}, 1);  // [y .]: registers y as a first block
  auto c = cat(y, z, 1);  // [y z .]: hash of z finds a's block (parent x), not c's (parent y)
  EXPECT_EQ(sim.run(kv, 1, a), 0);
  EXPECT_EQ(sim.run(kv, 2, b), 0);
  EXPECT_EQ(kv.match_prefix(c, 0).num_blocks, 1);
  EXPECT_EQ(sim.run(kv, 3, c), B);
  EXPECT_NE(kv.block_table(3)[1], kv.block_table(1)[1]);
  // The extra key is part of the content too: a's blocks under another key are not a's.
  EXPECT_EQ(kv.match_prefix(a, 42).num_blocks, 0);
  EXPECT_EQ(sim.run(kv, 4, a, 42), 0);
  for (SeqId id : {1, 2, 3, 4}) kv.free(id);
}

TEST(KvPrefixConfirm, EvictedParentInvalidatesItsChildren) {
  // Seq 2 computes the same prompt as seq 1 and continues the chain from seq 1's equal blocks,
  // which it does not hold. Seq 1 ends, its blocks are evicted and re-filled by seq 3; seq 2's next
  // block must then not be registered after them (its parent's content is gone). With a hash that
  // ignores the parent, registering it would let [seq 3's prompt, seq 2's block] reuse it.
  KvCacheManager kv(cfg(6, tokens_only_hash));
  SimKv sim;
  auto p = iota_tokens(2 * B + 1);        // [x y .]
  auto u = iota_tokens(2 * B + 1, 5000);  // [u v .]
  kv.allocate(1, p, 0);
  kv.allocate(2, p, 0);
  ASSERT_TRUE(kv.append_slots(1, int(p.size())));
  ASSERT_TRUE(kv.append_slots(2, int(p.size())));
  sim.write(kv, 1, p, 0, int(p.size()), 0);
  sim.write(kv, 2, p, 0, int(p.size()), 0);
  kv.commit(1, p, int(p.size()));
  kv.commit(2, p, int(p.size()));
  kv.free(1);
  EXPECT_EQ(sim.run(kv, 3, u), 0);  // takes seq 1's free block, then evicts its two cached ones
  auto p2 = p;
  for (int i = 0; i < B - 1; ++i) p2.push_back(700 + i);  // seq 2's block 2 is now full
  sim.write(kv, 2, p2, int(p.size()), int(p2.size()), 0);
  kv.commit(2, p2, int(p2.size()));
  std::vector<int32_t> r(u.begin(), u.begin() + 2 * B);
  r.insert(r.end(), p2.begin() + 2 * B, p2.end());
  r.push_back(1);
  kv.free(2);
  kv.free(3);
  EXPECT_EQ(kv.match_prefix(r, 0).num_blocks, 2);  // seq 3's two blocks, not seq 2's third
  EXPECT_EQ(sim.run(kv, 4, r), 2 * B);
  kv.free(4);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

TEST(KvPrefixConfirm, SamePromptComputedTwiceKeepsOneChain) {
  // Two sequences with the same prompt miss the cache together and both compute it; the second
  // one's continuation is registered after the first one's equal blocks, so it is found later.
  KvCacheManager kv(cfg(32, nullptr));
  SimKv sim;
  auto p = iota_tokens(2 * B + 1);
  kv.allocate(1, p, 0);
  kv.allocate(2, p, 0);
  ASSERT_TRUE(kv.append_slots(1, int(p.size())));
  ASSERT_TRUE(kv.append_slots(2, int(p.size())));
  sim.write(kv, 1, p, 0, int(p.size()), 0);
  sim.write(kv, 2, p, 0, int(p.size()), 0);
  kv.commit(1, p, int(p.size()));
  kv.commit(2, p, int(p.size()));
  // Seq 2 generates 4 more tokens, completing its third block.
  auto p2 = p;
  for (int i = 0; i < B; ++i) p2.push_back(700 + i);
  ASSERT_TRUE(kv.append_slots(2, int(p2.size())));
  sim.write(kv, 2, p2, int(p.size()), int(p2.size()), 0);
  kv.commit(2, p2, int(p2.size()));
  auto q = p2;
  q.push_back(1);
  EXPECT_EQ(kv.match_prefix(q, 0).num_blocks, 3);
  EXPECT_EQ(sim.run(kv, 3, q), 3 * B);
  EXPECT_EQ(kv.block_table(3)[0], kv.block_table(1)[0]);
  EXPECT_EQ(kv.block_table(3)[2], kv.block_table(2)[2]);
  EXPECT_EQ(kv.stats().prefix_hash_mismatches, 0);
  for (SeqId id : {1, 2, 3}) kv.free(id);
}
