// ThreadGroup: the in-process communicator of CPU ranks (sums exact and identical on every rank,
// all-gather order, send / recv, barriers) and its failure paths (abort from one rank, ranks out
// of step, timeout): every rank ends in CommAborted, none hangs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "parallel/thread_comm.h"

namespace ignis::parallel {
namespace {

// Runs fn(rank) on `n` threads; returns each rank's exception message ("" when it returned).
std::vector<std::string> run_ranks(int n, const std::function<void(int)>& fn) {
  std::vector<std::string> err(static_cast<size_t>(n));
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] {
      try {
        fn(r);
      } catch (const std::exception& e) {
        err[size_t(r)] = e.what();
        if (err[size_t(r)].empty()) err[size_t(r)] = "?";
      }
    });
  for (auto& t : ts) t.join();
  return err;
}

TEST(ThreadComm, AllReduceSumExactManySizes) {
  for (int n : {1, 2, 3, 4, 7}) {
    ThreadGroup g(n);
    for (size_t count : {size_t(0), size_t(1), size_t(2), size_t(5), size_t(63), size_t(1000), size_t(4097)}) {
      std::vector<std::vector<float>> bufs(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        bufs[size_t(r)].resize(count);
        for (size_t i = 0; i < count; ++i) bufs[size_t(r)][i] = float(int(i % 97) - 40 + 1000 * r);  // integers: exact sums
      }
      auto err = run_ranks(n, [&](int r) { g.comm(r).all_reduce_sum(bufs[size_t(r)].data(), count); });
      for (int r = 0; r < n; ++r) {
        ASSERT_EQ(err[size_t(r)], "");
        for (size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int j = 0; j < n; ++j) want += float(int(i % 97) - 40 + 1000 * j);
          ASSERT_EQ(bufs[size_t(r)][i], want) << "ranks " << n << " count " << count << " rank " << r << " i " << i;
        }
      }
    }
  }
}

TEST(ThreadComm, AllReduceIsRankOrderedAndIdenticalOnEveryRank) {
  const int n = 4;
  const size_t count = 777;
  ThreadGroup g(n);
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.f, 3.f);
  std::vector<std::vector<float>> in(n, std::vector<float>(count));
  for (auto& b : in)
    for (auto& x : b) x = d(rng);
  auto bufs = in;
  for (int step = 0; step < 20; ++step) {  // repeated calls reuse the group
    bufs = in;
    auto err = run_ranks(n, [&](int r) { g.comm(r).all_reduce_sum(bufs[size_t(r)].data(), count); });
    for (auto& e : err) ASSERT_EQ(e, "");
    for (size_t i = 0; i < count; ++i) {
      const float want = ((in[0][i] + in[1][i]) + in[2][i]) + in[3][i];
      for (int r = 0; r < n; ++r) ASSERT_EQ(std::memcmp(&bufs[size_t(r)][i], &want, sizeof(float)), 0);
    }
  }
}

TEST(ThreadComm, AllGatherRankOrder) {
  for (int n : {1, 2, 3, 4}) {
    ThreadGroup g(n);
    for (size_t count : {size_t(0), size_t(1), size_t(33)}) {
      std::vector<std::vector<float>> out(static_cast<size_t>(n), std::vector<float>(count * size_t(n), -1.f));
      auto err = run_ranks(n, [&](int r) {
        std::vector<float> mine(count);
        for (size_t i = 0; i < count; ++i) mine[i] = float(r * 100000 + int(i));
        g.comm(r).all_gather(mine.data(), out[size_t(r)].data(), count);
      });
      for (int r = 0; r < n; ++r) {
        ASSERT_EQ(err[size_t(r)], "");
        for (int j = 0; j < n; ++j)
          for (size_t i = 0; i < count; ++i) ASSERT_EQ(out[size_t(r)][size_t(j) * count + i], float(j * 100000 + int(i)));
      }
    }
  }
}

TEST(ThreadComm, SendRecvRingAndOrder) {
  const int n = 3;
  ThreadGroup g(n);
  auto err = run_ranks(n, [&](int r) {
    Communicator& c = g.comm(r);
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.size(), n);
    const int next = (r + 1) % n, prev = (r + n - 1) % n;
    for (int m = 0; m < 5; ++m) {  // buffered: several messages in flight keep their order
      std::vector<float> msg(size_t(10 + m), float(r * 10 + m));
      c.send(msg.data(), msg.size(), next);
    }
    for (int m = 0; m < 5; ++m) {
      std::vector<float> got(size_t(10 + m));
      c.recv(got.data(), got.size(), prev);
      for (float x : got) ASSERT_EQ(x, float(prev * 10 + m));
    }
    c.barrier();
  });
  for (auto& e : err) EXPECT_EQ(e, "");
}

TEST(ThreadComm, BarrierOrdersPhases) {
  const int n = 4;
  ThreadGroup g(n);
  std::atomic<int> counter{0};
  auto err = run_ranks(n, [&](int r) {
    for (int phase = 1; phase <= 50; ++phase) {
      counter.fetch_add(1);
      g.comm(r).barrier();
      EXPECT_GE(counter.load(), phase * n);
      g.comm(r).barrier();
    }
  });
  for (auto& e : err) EXPECT_EQ(e, "");
}

TEST(ThreadComm, AbortFromOneRankUnblocksTheOthers) {
  const int n = 4;
  ThreadGroup g(n);  // no timeout: only the abort can end the waits
  const auto t0 = std::chrono::steady_clock::now();
  auto err = run_ranks(n, [&](int r) {
    std::vector<float> buf(100, 1.f);
    if (r == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      g.comm(r).abort("out of memory in layer 3");
      return;
    }
    g.comm(r).all_reduce_sum(buf.data(), buf.size());
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  for (int r = 0; r < n; ++r) {
    if (r == 2) continue;
    EXPECT_NE(err[size_t(r)].find("rank 2: out of memory in layer 3"), std::string::npos) << err[size_t(r)];
  }
  // Later calls fail at once too, until reset.
  EXPECT_THROW(g.comm(0).barrier(), CommAborted);
  g.reset();
  auto ok = run_ranks(n, [&](int r) { g.comm(r).barrier(); });
  for (auto& e : ok) EXPECT_EQ(e, "");
}

TEST(ThreadComm, AbortAtRandomPointsNeverHangs) {
  std::mt19937 rng(3);
  const auto t0 = std::chrono::steady_clock::now();
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 2 + int(rng() % 3), bad = int(rng() % uint32_t(n)), at = int(rng() % 20);
    const int kind = int(rng() % 4);
    ThreadGroup g(n);
    auto err = run_ranks(n, [&](int r) {
      Communicator& c = g.comm(r);
      std::vector<float> buf(37, 1.f), all(37 * size_t(n));
      for (int it = 0; it < 40; ++it) {
        if (r == bad && it == at) {
          c.abort("failed at step " + std::to_string(it));
          return;
        }
        switch ((kind + it) % 4) {
          case 0: c.all_reduce_sum(buf.data(), buf.size()); break;
          case 1: c.all_gather(buf.data(), all.data(), buf.size()); break;
          case 2: c.barrier(); break;
          default:  // a ring step: buffered send, then recv
            c.send(buf.data(), buf.size(), (r + 1) % n);
            c.recv(buf.data(), buf.size(), (r + n - 1) % n);
        }
      }
    });
    for (int r = 0; r < n; ++r) {
      if (r == bad) continue;
      EXPECT_NE(err[size_t(r)].find("rank " + std::to_string(bad) + ": failed at step"), std::string::npos)
          << "trial " << trial << " rank " << r << ": " << err[size_t(r)];
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(ThreadComm, AbortUnblocksRecv) {
  ThreadGroup g(2);
  auto err = run_ranks(2, [&](int r) {
    if (r == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      g.comm(1).abort("stage failed");
      return;
    }
    std::vector<float> buf(8);
    g.comm(0).recv(buf.data(), buf.size(), 1);
  });
  EXPECT_NE(err[0].find("stage failed"), std::string::npos) << err[0];
}

TEST(ThreadComm, MismatchedCollectivesAbortEveryRank) {
  ThreadGroup g(3);
  auto err = run_ranks(3, [&](int r) {
    std::vector<float> buf(12, 1.f), out(36);
    if (r == 1) g.comm(r).all_gather(buf.data(), out.data(), 12);
    else g.comm(r).all_reduce_sum(buf.data(), r == 2 ? 11 : 12);
  });
  for (int r = 0; r < 3; ++r) EXPECT_NE(err[size_t(r)].find("out of step"), std::string::npos) << err[size_t(r)];
}

TEST(ThreadComm, TimeoutNamesTheMissingRank) {
  ThreadGroupOptions o;
  o.timeout = std::chrono::milliseconds(200);
  o.name = "tp group";
  ThreadGroup g(3, o);
  const auto t0 = std::chrono::steady_clock::now();
  auto err = run_ranks(3, [&](int r) {
    if (r == 2) return;  // never arrives (a hung rank)
    g.comm(r).barrier();
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  for (int r = 0; r < 2; ++r) {
    EXPECT_NE(err[size_t(r)].find("tp group aborted"), std::string::npos) << err[size_t(r)];
    EXPECT_NE(err[size_t(r)].find("rank(s) 2 never arrived"), std::string::npos) << err[size_t(r)];
  }
}

TEST(ThreadComm, RecvSizeMismatchIsAnError) {
  ThreadGroup g(2);
  auto err = run_ranks(2, [&](int r) {
    std::vector<float> buf(8, 1.f);
    if (r == 0) g.comm(0).send(buf.data(), 8, 1);
    else g.comm(1).recv(buf.data(), 4, 0);
  });
  EXPECT_NE(err[1].find("out of step"), std::string::npos) << err[1];
  EXPECT_THROW(g.comm(0).send(nullptr, 0, 0), Error);  // to itself
  EXPECT_THROW(ThreadGroup(0), Error);
}

}  // namespace
}  // namespace ignis::parallel
