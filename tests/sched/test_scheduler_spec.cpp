// Speculative steps in the scheduler: proposals counted against the token budget, capped by
// max_tokens, trimmed to the KV room before anyone is preempted, set_drafts / commit_drafts
// rollback, and a randomized run in which the prefix cache never hashes an unaccepted token.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/error.h"
#include "sched/scheduler.h"

using namespace ignis;

namespace {

KvCacheConfig kv_cfg(int blocks, int bs, bool prefix = true) {
  KvCacheConfig c;
  c.num_blocks = blocks;
  c.block_size = bs;
  c.enable_prefix_caching = prefix;
  return c;
}

std::vector<int32_t> toks(int n, int salt = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(1 + (i * 7 + salt * 31) % 50);
  return t;
}

// Runs plain steps until every request added so far is decoding (one token generated).
void to_decoding(Scheduler& s) {
  for (int guard = 0; guard < 100; ++guard) {
    StepPlan p = s.step();
    s.on_step_done(p);
    for (auto& q : p.seqs)
      if (q.last_chunk()) s.append_token(q.req, 9);
    bool all = s.num_waiting() == 0;
    for (auto* r : s.running()) all &= r->state == RequestState::Decoding;
    if (all) return;
  }
  FAIL() << "requests never reached decoding";
}

const ScheduledSeq* find(const StepPlan& p, uint64_t id) {
  for (auto& q : p.seqs)
    if (q.req->id == id) return &q;
  return nullptr;
}

}  // namespace

TEST(SchedulerSpec, ProposalsCountAgainstTheTokenBudgetAfterEveryDecodeToken) {
  KvCacheManager kv(kv_cfg(64, 4));
  SchedulerConfig sc;
  sc.max_num_tokens = 6;
  Scheduler s(sc, kv);
  s.add(1, toks(5), 20);
  s.add(2, toks(5, 1), 20);
  to_decoding(s);
  s.find(1)->spec_k = 3;
  s.find(2)->spec_k = 3;
  StepPlan p = s.step();
  ASSERT_EQ(p.seqs.size(), 2u);
  const ScheduledSeq* a = find(p, 1);
  const ScheduledSeq* b = find(p, 2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->num_draft, 3);  // both decode tokens first (2), then 3 + 1 proposals
  EXPECT_EQ(a->num_tokens, 4);
  EXPECT_EQ(b->num_draft, 1);
  EXPECT_EQ(b->num_tokens, 2);
  EXPECT_EQ(p.num_tokens, 6);
  EXPECT_TRUE(a->last_chunk() && b->last_chunk());
  EXPECT_FALSE(a->prefill);
  // The KV table covers the last token and every proposal.
  EXPECT_GE(kv.num_slots(1), a->num_cached + a->num_tokens);
}

TEST(SchedulerSpec, ProposalsNeverPassMaxTokensOrPrefillRequests) {
  KvCacheManager kv(kv_cfg(64, 4));
  Scheduler s(SchedulerConfig{}, kv);
  s.add(1, toks(5), 3);  // 1 generated after prefill: at most 2 more, so at most 1 proposal
  to_decoding(s);
  s.find(1)->spec_k = 8;
  s.add(2, toks(9, 2), 5);
  s.find(2)->spec_k = 4;  // still waiting / prefilling: ignored
  StepPlan p = s.step();
  ASSERT_NE(find(p, 1), nullptr);
  EXPECT_EQ(find(p, 1)->num_draft, 1);
  ASSERT_NE(find(p, 2), nullptr);
  EXPECT_EQ(find(p, 2)->num_draft, 0);
  EXPECT_TRUE(find(p, 2)->prefill);
}

TEST(SchedulerSpec, ProposalsAreTrimmedToTheRoomBeforeAnyonePreempts) {
  KvCacheManager kv(kv_cfg(4, 4, false));
  Scheduler s(SchedulerConfig{}, kv);
  s.add(1, toks(7), 9);  // 7 + 1 = 8 positions at the first decode: 2 blocks
  s.add(2, toks(7, 3), 9);
  to_decoding(s);
  ASSERT_EQ(kv.num_allocatable(), 0);
  s.find(1)->spec_k = 4;  // would need a third block for itself
  StepPlan p = s.step();
  EXPECT_TRUE(p.preempted.empty());
  ASSERT_EQ(p.seqs.size(), 2u);
  EXPECT_EQ(find(p, 1)->num_draft, 0);
  EXPECT_EQ(find(p, 1)->num_tokens, 1);
}

TEST(SchedulerSpec, SetDraftsShrinksToTheProposalsMadeAndReleasesTheirSlots) {
  KvCacheManager kv(kv_cfg(16, 2, false));
  Scheduler s(SchedulerConfig{}, kv);
  s.add(1, toks(4), 20);
  to_decoding(s);  // 5 tokens, 4 computed
  SchedRequest* r = s.find(1);
  r->spec_k = 5;
  StepPlan p = s.step();
  ASSERT_EQ(p.seqs[0].num_draft, 5);
  EXPECT_EQ(kv.num_slots(1), 10);  // positions 4 .. 9
  r->draft_tokens = {11, 12};
  s.set_drafts(p);
  EXPECT_EQ(p.seqs[0].num_draft, 2);
  EXPECT_EQ(p.seqs[0].num_tokens, 3);
  EXPECT_EQ(p.num_tokens, 3);
  EXPECT_EQ(kv.num_slots(1), 8);  // positions [0, 7): 4 blocks of 2
  r->draft_tokens = {1, 2, 3};    // more than granted
  EXPECT_THROW(s.set_drafts(p), Error);
}

TEST(SchedulerSpec, CommitDraftsKeepsOnlyAcceptedTokensAndTheirKv) {
  KvCacheManager kv(kv_cfg(16, 2));
  Scheduler s(SchedulerConfig{}, kv);
  s.add(1, toks(5), 20);
  to_decoding(s);  // tokens 6, computed 5
  SchedRequest* r = s.find(1);
  r->spec_k = 4;
  StepPlan p = s.step();
  r->draft_tokens = {21, 22, 23, 24};
  s.set_drafts(p);
  EXPECT_EQ(kv.num_slots(1), 10);  // positions 5 .. 9
  s.on_step_done(p);               // leaves the speculative sequence alone
  EXPECT_EQ(r->num_computed, 5);
  s.commit_drafts(p.seqs[0], 1);   // 21 accepted, 22 rejected
  EXPECT_EQ(r->num_computed, 7);
  EXPECT_EQ(int(r->tokens.size()), 7);
  EXPECT_EQ(r->tokens.back(), 21);
  EXPECT_TRUE(r->draft_tokens.empty());
  EXPECT_EQ(kv.num_slots(1), 8);  // [0, 7) kept: the block of positions 8, 9 released
  s.append_token(r, 30);          // the corrected token
  EXPECT_EQ(int(r->tokens.size()), 8);
  // Only the accepted tokens' full blocks are hashed: a request with the same 7 tokens and
  // then something else finds exactly 3 blocks.
  std::vector<int32_t> probe(r->tokens.begin(), r->tokens.begin() + 7);
  probe.push_back(99);
  probe.push_back(98);
  EXPECT_EQ(kv.match_prefix(probe, 0).num_blocks, 3);
  std::vector<int32_t> wrong(r->tokens.begin(), r->tokens.begin() + 6);
  wrong.insert(wrong.end(), {22, 23, 24});  // the rejected continuation
  EXPECT_EQ(kv.match_prefix(wrong, 0).num_blocks, 3);  // blocks 0-2 cover accepted tokens only
  s.finish(1);
  EXPECT_EQ(kv.stats().blocks_used, 0);
}

// Engine-like random run: the "model" continues a sequence with a hash of its last tokens; the
// proposals are that continuation with random corruptions, so acceptance varies. Afterwards every
// hashed block must be a block of some request's accepted tokens, and the pool must be empty.
TEST(SchedulerSpec, RandomRunNeverHashesAnUnacceptedToken) {
  const int B = 4;
  KvCacheManager kv(kv_cfg(20, B));
  SchedulerConfig sc;
  sc.max_batch_size = 6;
  sc.max_num_tokens = 24;
  Scheduler s(sc, kv);
  std::mt19937_64 rng(5);
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  auto truth = [](const std::vector<int32_t>& t) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = t.size() >= 3 ? t.size() - 3 : 0; i < t.size(); ++i) h = (h ^ uint64_t(t[i])) * 1099511628211ull;
    return int32_t(1 + (h >> 33) % 40);
  };
  std::vector<int32_t> shared = toks(10, 4);
  std::vector<std::vector<int32_t>> finals;
  uint64_t next_id = 1;
  int live = 0, proposed = 0, accepted = 0, preempted = 0;
  for (int step = 0; step < 600; ++step) {
    while (live < 8 && next_id <= 60) {
      std::vector<int32_t> p = uni(0, 1) ? shared : std::vector<int32_t>{};
      for (int k = uni(1, 12); k > 0; --k) p.push_back(uni(1, 40));
      s.add(next_id++, p, uni(1, 30));
      ++live;
    }
    if (live == 0) break;
    for (SchedRequest* r : s.running()) r->spec_k = r->state == RequestState::Decoding ? uni(0, 5) : 0;
    StepPlan p = s.step();
    preempted += int(p.preempted.size());
    for (auto& q : p.seqs) {
      q.req->draft_tokens.clear();
      std::vector<int32_t> t = q.req->tokens;
      for (int m = 0; m < q.num_draft && uni(0, 4) > 0; ++m) {  // sometimes fewer than granted
        int32_t d = truth(t);
        if (uni(0, 3) == 0) d = 41 + uni(0, 5);  // a wrong proposal
        q.req->draft_tokens.push_back(d);
        t.push_back(d);
      }
    }
    s.set_drafts(p);
    s.on_step_done(p);
    std::vector<uint64_t> done;
    for (auto& q : p.seqs) {
      if (!q.last_chunk()) continue;
      SchedRequest* r = q.req;
      if (q.num_draft > 0) {
        std::vector<int32_t> t = r->tokens;
        int j = 0;
        while (j < q.num_draft && r->draft_tokens[size_t(j)] == truth(t)) t.push_back(r->draft_tokens[size_t(j++)]);
        proposed += q.num_draft;
        accepted += j;
        s.commit_drafts(q, j);
        ASSERT_EQ(r->num_computed, int(r->tokens.size()));
        ASSERT_LE(kv.num_slots(r->id), (r->num_computed + B - 1) / B * B);
      }
      s.append_token(r, truth(r->tokens));
      ASSERT_LE(int(r->tokens.size()), r->max_total);
      if (int(r->tokens.size()) >= r->max_total) done.push_back(r->id);
    }
    for (uint64_t id : done) {
      finals.push_back(s.find(id)->tokens);
      s.finish(id);
      --live;
    }
  }
  ASSERT_EQ(live, 0);
  EXPECT_GT(proposed, 100);
  EXPECT_GT(accepted, 20);
  EXPECT_LT(accepted, proposed);
  EXPECT_GT(preempted, 0);
  std::set<uint64_t> valid;  // chain hashes of full blocks of accepted, computed tokens
  for (const auto& t : finals) {
    uint64_t h = 0;
    for (size_t b = 0; (b + 1) * B <= t.size() - 1; ++b) {
      h = kv_block_hash(h, std::span<const int32_t>(t).subspan(b * B, B), 0);
      valid.insert(h);
    }
  }
  auto hashed = kv.pool().hashed_blocks();
  EXPECT_FALSE(hashed.empty());
  for (auto& [b, h] : hashed) EXPECT_TRUE(valid.count(h)) << "block " << b << " holds a token that was not accepted";
  EXPECT_EQ(kv.stats().blocks_used, 0);
}
