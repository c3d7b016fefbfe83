// The fiber worker pool and Waiter (under ASan+UBSan with test_http_shutdown): many waiting jobs
// share two threads, a wake() from another thread resumes exactly the waiting job, a wait times
// out, and a wake() that comes before the wait is not lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "server/http_workers.h"

namespace ignis::server::detail {
namespace {

using namespace std::chrono_literals;

TEST(HttpWorkers, ThousandWaitingJobsShareTwoThreads) {
  constexpr int kJobs = 1000;
  std::vector<std::shared_ptr<Waiter>> waiters;
  for (int i = 0; i < kJobs; i++) waiters.push_back(std::make_shared<Waiter>());
  std::atomic<int> started{0}, finished{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  {
    WorkerPool pool(2, 64 * 1024);
    for (int i = 0; i < kJobs; i++) {
      pool.submit([&, w = waiters[i]] {
        {
          std::lock_guard lk(mu);
          threads.insert(std::this_thread::get_id());
        }
        started++;
        w->wait(10s);  // only the wake below ends it in time
        finished++;
      }, waiters[i]);
    }
    auto t0 = std::chrono::steady_clock::now();
    while (started < kJobs && std::chrono::steady_clock::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(started.load(), kJobs) << "every job started although none has returned: they wait on fibers";
    EXPECT_EQ(finished.load(), 0);
    for (auto& w : waiters) w->wake();
    t0 = std::chrono::steady_clock::now();
    while (finished < kJobs && std::chrono::steady_clock::now() - t0 < 10s) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(finished.load(), kJobs);
  }  // the pool joins here
  EXPECT_LE(threads.size(), 2u);
  for (auto& w : waiters) w->wake();  // late wakes after the pool is gone go nowhere
}

TEST(HttpWorkers, TimeoutAndEarlyWake) {
  auto w = std::make_shared<Waiter>();
  std::atomic<int64_t> waited_ms{-1}, early_ms{-1};
  {
    WorkerPool pool(1, 64 * 1024);
    pool.submit([&] {
      auto t0 = std::chrono::steady_clock::now();
      w->wait(50ms);  // nobody wakes it
      waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      w->wake();  // a wake before the wait ...
      t0 = std::chrono::steady_clock::now();
      w->wait(5s);  // ... ends it at once
      early_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    }, w);
  }
  EXPECT_GE(waited_ms.load(), 45);
  EXPECT_LT(waited_ms.load(), 2000);
  EXPECT_GE(early_ms.load(), 0);
  EXPECT_LT(early_ms.load(), 100);
}

// A connection's waiter serves its requests one after another; the I/O loop may start the next
// one on another worker while the previous task is still returning (its handler posted Done).
// The finishing task must not unbind the new one: before the fix its unbind cleared the new
// task's binding, whose timer then found nothing waiting, and that request hung for ever (seen
// as an unanswered request under load in server_tools and server_documents_page).
TEST(HttpWorkers, NextRequestOnAnotherWorkerKeepsItsWaiter) {
  auto w = std::make_shared<Waiter>();
  auto w1 = std::make_unique<Worker>(64 * 1024), w2 = std::make_unique<Worker>(64 * 1024);
  std::atomic<bool> second_waiting{false}, second_done{false};
  w1->submit([&] {
    w2->submit([&] {
      second_waiting = true;
      for (int i = 0; i < 5; i++) w->wait(20ms);  // timers only: nobody wakes it
      second_done = true;
    }, w);
    while (!second_waiting) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);  // the second task is suspended in wait() now; this one returns
  }, w);
  auto t0 = std::chrono::steady_clock::now();
  while (!second_done && std::chrono::steady_clock::now() - t0 < 3s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(second_done.load()) << "the second request's task was never resumed";
  if (!second_done) {  // it never will be: leak the workers rather than join a thread for ever
    (void)w1.release();
    (void)w2.release();
    return;
  }
  w1->stop();
  w2->stop();
}

}  // namespace
}  // namespace ignis::server::detail
