// Scheduler unit tests: pure host, driven step by step like the engine does (the
// "model" here just appends a fixed token when a sequence's last chunk ran).
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "sched/scheduler.h"

using namespace ignis;

namespace {

struct Harness {
  KvCacheManager kv;
  Scheduler s;
  Harness(int blocks, int bs, SchedulerConfig sc, bool prefix = true, int window = 0)
      : kv(make_kv(blocks, bs, prefix, window)), s(sc, kv) {}
  static KvCacheConfig make_kv(int blocks, int bs, bool prefix, int window) {
    KvCacheConfig c;
    c.num_blocks = blocks;
    c.block_size = bs;
    c.enable_prefix_caching = prefix;
    c.sliding_window = window;
    return c;
  }
  // One engine-like step; returns a snapshot of the plan taken before the step's
  // effects (token appends, finishes). Requests reaching max_total finish.
  struct Seq {
    uint64_t id;
    int num_cached, num_tokens;
    bool prefill, last;
  };
  struct Snap {
    std::vector<Seq> seqs;
    std::vector<uint64_t> preempted;
    int num_tokens = 0;
    bool empty() const { return seqs.empty(); }
  };
  Snap step() {
    StepPlan p = s.step();
    Snap snap{{}, p.preempted, p.num_tokens};
    for (auto& q : p.seqs) snap.seqs.push_back({q.req->id, q.num_cached, q.num_tokens, q.prefill, q.last_chunk()});
    s.on_step_done(p);
    std::vector<uint64_t> done;
    for (auto& q : p.seqs) {
      if (!q.last_chunk()) continue;
      s.append_token(q.req, 7);
      if (int(q.req->tokens.size()) >= q.req->max_total) done.push_back(q.req->id);
    }
    for (auto id : done) s.finish(id);
    return snap;
  }
};

std::vector<int32_t> toks(int n, int salt = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(1 + (i + salt * 31) % 50);
  return t;
}

}  // namespace

TEST(Scheduler, RejectsWhatCanNeverFit) {
  Harness h(4, 8, {.max_batch_size = 4, .max_num_tokens = 16, .max_model_len = 100});
  EXPECT_THROW(h.s.add(1, {}, 4), Error);
  EXPECT_THROW(h.s.add(1, toks(4), 0), Error);
  EXPECT_THROW(h.s.add(1, toks(90), 11), Error);  // 101 > max_model_len
  EXPECT_THROW(h.s.add(1, toks(30), 4), Error);   // 33 KV slots > 32
  EXPECT_NO_THROW(h.s.add(1, toks(30), 3));       // 32 slots: fits exactly
  try {
    h.s.add(2, toks(30), 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV pool"), std::string::npos) << e.what();
  }
}

// With the admission reserve, a request that fills the pool exactly, or a sliding-window request
// longer than the pool, still runs (alone): the reserve never holds back what check_fits accepts.
TEST(Scheduler, ReserveNeverBlocksWhatFits) {
  for (int reserve : {3, 64}) {
    SCOPED_TRACE("kv_reserve_tokens " + std::to_string(reserve));
    Harness h(4, 8, {.max_batch_size = 4, .max_num_tokens = 16, .max_model_len = 100, .kv_reserve_tokens = reserve});
    h.s.add(1, toks(30), 3);  // 32 KV slots = the whole pool
    int steps = 0;
    while (h.s.num_running() + h.s.num_waiting() > 0 && steps < 50) {
      EXPECT_FALSE(h.step().empty()) << "step " << steps;
      ++steps;
    }
    EXPECT_EQ(h.s.num_running() + h.s.num_waiting(), 0);
  }
  // sliding window of 16: a 200-token prompt (25 blocks) runs through a pool of 6
  Harness w(6, 8, {.max_batch_size = 4, .max_num_tokens = 8, .max_model_len = 1000, .kv_reserve_tokens = 512},
            false, 16);
  w.s.add(1, toks(200), 5);
  w.s.add(2, toks(10), 5);
  for (int i = 0; i < 200 && w.s.num_running() + w.s.num_waiting() > 0; ++i) ASSERT_FALSE(w.step().empty()) << i;
  EXPECT_EQ(w.s.num_running() + w.s.num_waiting(), 0);
}

TEST(Scheduler, ChunkedPrefillRespectsTokenBudgetAndDecodesFirst) {
  Harness h(64, 8, {.max_batch_size = 4, .max_num_tokens = 10, .max_model_len = 1000});
  h.s.add(1, toks(3), 5);
  auto p = h.step();  // request 1 prefilled (3 tokens)
  ASSERT_EQ(p.seqs.size(), 1u);
  EXPECT_EQ(p.num_tokens, 3);
  h.s.add(2, toks(25, 1), 2);
  p = h.step();
  ASSERT_EQ(p.seqs.size(), 2u);
  EXPECT_EQ(p.seqs[0].id, 1u);  // decode token first
  EXPECT_FALSE(p.seqs[0].prefill);
  EXPECT_EQ(p.seqs[0].num_tokens, 1);
  EXPECT_EQ(p.seqs[1].num_tokens, 9);  // chunk fills the rest of the budget
  EXPECT_TRUE(p.seqs[1].prefill);
  EXPECT_FALSE(p.seqs[1].last);
  p = h.step();
  EXPECT_EQ(p.num_tokens, 10);
  p = h.step();
  EXPECT_EQ(p.seqs[1].num_cached, 18);
  EXPECT_EQ(p.seqs[1].num_tokens, 7);
  EXPECT_TRUE(p.seqs[1].last);
}

TEST(Scheduler, PriorityThenFcfs) {
  Harness h(64, 8, {.max_batch_size = 1, .max_num_tokens = 64, .max_model_len = 1000});
  h.s.add(1, toks(4), 1);
  h.s.add(2, toks(4, 1), 1, /*priority=*/0);
  h.s.add(3, toks(4, 2), 1, /*priority=*/5);
  h.s.add(4, toks(4, 3), 1, /*priority=*/5);
  std::vector<uint64_t> order;
  for (int i = 0; i < 4; ++i) {
    auto p = h.step();
    ASSERT_EQ(p.seqs.size(), 1u);
    order.push_back(p.seqs[0].id);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{3, 4, 1, 2}));
}

TEST(Scheduler, PreemptsMostRecentlyAdmittedAndResumesIt) {
  // 4 blocks of 4 tokens. Two requests of 6-token prompts each take 2 blocks; when both
  // need a third block, the newer one is preempted and recomputed later.
  Harness h(4, 4, {.max_batch_size = 4, .max_num_tokens = 64, .max_model_len = 1000}, /*prefix=*/false);
  h.s.add(1, toks(6), 6);
  h.s.add(2, toks(6, 1), 6);
  auto p = h.step();
  ASSERT_EQ(p.seqs.size(), 2u);
  EXPECT_EQ(h.kv.stats().blocks_used, 4);
  p = h.step();  // both at 7 tokens: fits (7 slots in 2 blocks)
  EXPECT_TRUE(p.preempted.empty());
  p = h.step();  // both need position 7 -> 2 blocks each still (8 slots)
  p = h.step();  // now position 8: a third block each; only request 1 can have it
  ASSERT_EQ(p.preempted, (std::vector<uint64_t>{2}));
  ASSERT_EQ(p.seqs.size(), 1u);
  EXPECT_EQ(p.seqs[0].id, 1u);
  SchedRequest* r2 = h.s.find(2);
  EXPECT_EQ(r2->state, RequestState::Preempted);
  EXPECT_EQ(r2->num_computed, 0);
  int generated_before = r2->num_generated();
  EXPECT_GT(generated_before, 0);
  // Run to completion: request 2 resumes with its generated tokens recomputed.
  for (int i = 0; i < 50 && (h.s.num_running() + h.s.num_waiting()) > 0; ++i) h.step();
  EXPECT_EQ(h.s.num_running() + h.s.num_waiting(), 0);
  EXPECT_EQ(h.kv.stats().blocks_used, 0);
  EXPECT_EQ(h.s.num_preemptions(), 1);
}

TEST(Scheduler, RandomWorkloadKeepsBudgetsAndNeverDeadlocks) {
  for (int reserve : {0, 8}) {  // without and with the admission reserve
    SCOPED_TRACE("kv_reserve_tokens " + std::to_string(reserve));
    const SchedulerConfig sc{.max_batch_size = 6, .max_num_tokens = 24, .max_model_len = 4096,
                             .kv_reserve_tokens = reserve};
    Harness h(20, 4, sc);
    std::mt19937_64 rng(5);
    uint64_t next = 1;
    int finished = 0, added = 0;
    for (int step = 0; step < 5000 && (added < 200 || h.s.num_running() + h.s.num_waiting() > 0); ++step) {
      if (added < 200 && rng() % 3 == 0) {
        int prompt = 1 + int(rng() % 40), max_tokens = 1 + int(rng() % 30);
        if (prompt + max_tokens - 1 <= 80) {
          h.s.add(next++, toks(prompt, int(rng() % 3)), max_tokens, int(rng() % 2));
          ++added;
        }
      }
      int before = h.s.num_running() + h.s.num_waiting();
      auto p = h.step();
      ASSERT_LE(p.num_tokens, sc.max_num_tokens);
      ASSERT_LE(int(p.seqs.size()), sc.max_batch_size);
      ASSERT_LE(h.s.num_running(), sc.max_batch_size);
      if (before > 0) {
        ASSERT_FALSE(p.empty()) << "no progress at step " << step;
      }
      finished += before - (h.s.num_running() + h.s.num_waiting());
    }
    EXPECT_EQ(added, 200);
    EXPECT_EQ(h.s.num_running() + h.s.num_waiting(), 0);
    EXPECT_EQ(h.kv.stats().blocks_used, 0);
    if (reserve == 0) {
      EXPECT_GT(h.s.num_preemptions(), 0);
    }
  }
}

// kv_reserve_tokens: a waiting request is admitted only while the pool keeps room for every running
// request's next R tokens and its own, so running requests do not outgrow the pool.
TEST(Scheduler, ReserveHoldsAdmissionUntilThereIsRoom) {
  // 10 blocks of 4 tokens; each request: an 8-token prompt (2 blocks) + 20 new tokens (7 blocks in all)
  SchedulerConfig sc{.max_batch_size = 8, .max_num_tokens = 64, .max_model_len = 64, .kv_reserve_tokens = 16};
  Harness h(10, 4, sc, false);
  h.s.add(1, toks(8, 1), 20);  // takes 2 blocks, keeps 4 more (tokens 8..24)
  h.s.add(2, toks(8, 2), 20);  // would take 2 and keep 4: 2 + 4 + 4 > the 8 left
  auto p = h.step();
  ASSERT_EQ(p.seqs.size(), 1u);
  EXPECT_EQ(p.seqs[0].id, 1u);
  EXPECT_EQ(h.s.num_waiting(), 1);
  bool second_started = false;
  for (int i = 0; i < 200 && h.s.num_running() + h.s.num_waiting() > 0; ++i) {
    p = h.step();
    for (const auto& q : p.seqs) second_started = second_started || q.id == 2;
  }
  EXPECT_TRUE(second_started);
  EXPECT_EQ(h.s.num_running() + h.s.num_waiting(), 0);
  EXPECT_EQ(h.s.num_preemptions(), 0);
  // Without the reserve both start at once (and the first one to outgrow the pool preempts the other).
  sc.kv_reserve_tokens = 0;
  Harness h0(10, 4, sc, false);
  h0.s.add(1, toks(8, 1), 20);
  h0.s.add(2, toks(8, 2), 20);
  EXPECT_EQ(h0.step().seqs.size(), 2u);
}

// An offline workload like `ignis bench throughput` (all requests queued at once) on a pool that
// holds a third of them at full length: without a reserve, running requests outgrow the pool and
// preempt the newest, whose tokens are computed again; with it, nothing is preempted, every token
// is computed once, and the step count stays about the same (bench_sched --offline: the same on
// the 8B-shape workloads).
TEST(Scheduler, ReserveAvoidsRecomputationOffline) {
  struct Result {
    int64_t preemptions = 0, tokens = 0;
    int steps = 0;
  };
  auto run = [](int reserve) {
    SchedulerConfig sc{.max_batch_size = 32, .max_num_tokens = 512, .max_model_len = 512,
                       .kv_reserve_tokens = reserve};
    Harness h(200, 16, sc, false);  // 3200 token slots; a request at full length takes 10 blocks
    for (int i = 0; i < 60; ++i) h.s.add(uint64_t(i + 1), toks(128, i + 1), 32);
    Result r;
    while (h.s.num_running() + h.s.num_waiting() > 0 && r.steps < 100000) {
      r.tokens += h.step().num_tokens;
      ++r.steps;
    }
    r.preemptions = h.s.num_preemptions();
    return r;
  };
  const int64_t minimum = 60 * (128 + 31);  // the last token is never fed back
  const Result none = run(0), reserved = run(64);
  EXPECT_GT(none.preemptions, 0);
  EXPECT_GT(none.tokens, minimum);
  EXPECT_EQ(reserved.preemptions, 0);
  EXPECT_EQ(reserved.tokens, minimum);
  EXPECT_LE(reserved.steps, none.steps * 11 / 10) << none.steps;
}

TEST(Scheduler, FinishInAnyStateReleasesBlocks) {
  Harness h(16, 4, {.max_batch_size = 4, .max_num_tokens = 8, .max_model_len = 1000});
  h.s.add(1, toks(20), 4);
  h.s.add(2, toks(5), 4);
  h.step();  // 1 is mid-prefill (8 of 20), 2 waits for budget
  EXPECT_EQ(h.s.find(1)->state, RequestState::Prefilling);
  EXPECT_EQ(h.s.find(2)->state, RequestState::Waiting);
  EXPECT_GT(h.kv.stats().blocks_used, 0);
  h.s.finish(1);
  h.s.finish(2);
  h.s.finish(3);  // unknown: no-op
  EXPECT_EQ(h.kv.stats().blocks_used, 0);
  EXPECT_EQ(h.s.num_running() + h.s.num_waiting(), 0);
  EXPECT_TRUE(h.s.step().empty());
}

TEST(Scheduler, StateEnumIsChronological) {
  EXPECT_LT(RequestState::Waiting, RequestState::Prefilling);
  EXPECT_LT(RequestState::Prefilling, RequestState::Decoding);
  EXPECT_LT(RequestState::Decoding, RequestState::Finished);
  EXPECT_STREQ(request_state_name(RequestState::Preempted), "preempted");
}
