// core/worker_pool.h: every job runs exactly once per run(), on several threads, runs can
// follow each other at once, and a job's exception reaches the caller without losing the others.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/worker_pool.h"

namespace ignis::test {
namespace {

TEST(WorkerPool, EveryJobRunsOncePerRun) {
  WorkerPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int round = 0; round < 200; ++round) {
    const size_t n = size_t(1 + round % 37);
    std::vector<std::atomic<int>> hits(n);
    pool.run(n, [&](size_t i) { hits[i].fetch_add(1); });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "round " << round << " job " << i;
  }
}

TEST(WorkerPool, UsesSeveralThreads) {
  WorkerPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  // Four jobs that wait for each other: they can only finish if they run on four threads.
  pool.run(4, [&](size_t) {
    {
      std::lock_guard lk(mu);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    while (arrived.load() < 4) std::this_thread::yield();
  });
  EXPECT_EQ(ids.size(), 4u);
}

TEST(WorkerPool, RethrowsAndStillRunsTheRest) {
  WorkerPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.run(10,
                        [&](size_t i) {
                          ran.fetch_add(1);
                          if (i == 3) throw std::runtime_error("job 3");
                        }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 10);
  std::atomic<int> again{0};
  pool.run(5, [&](size_t) { again.fetch_add(1); });  // the pool still works
  EXPECT_EQ(again.load(), 5);
}

TEST(WorkerPool, NoThreadsIsAPlainLoop) {
  WorkerPool pool(0);
  std::vector<size_t> order;
  pool.run(5, [&](size_t i) { order.push_back(i); });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace ignis::test
