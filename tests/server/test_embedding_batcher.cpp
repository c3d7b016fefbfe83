// EmbeddingBatcher (/v1/embeddings cross-request batching): requests waiting during a call share
// the next one and each gets its own vectors; the limits split calls; a bad request fails alone;
// a full queue refuses with 503; a cancelled queued request is never embedded; destroying the
// batcher ends every waiting request with 503. Then the same through Server::handle.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "server/embedding_batcher.h"
#include "unit_harness.h"

namespace ignis::test {
namespace {

using server::EmbeddingBatcher;
using server::json;
using namespace std::chrono_literals;

// Vector of a sequence: {sum of ids, length, first id}. Token 666 is out of range. While the gate
// is closed a call blocks (after announcing that it started).
class GatedEmbedder : public server::Embedder {
 public:
  int dim() const override { return 3; }
  int max_tokens() const override { return 64; }
  std::vector<int32_t> tokenize(const std::string& text) const override {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(int32_t(uint8_t(c)));
    return ids;
  }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const override {
    std::unique_lock<std::mutex> lk(mu_);
    calls_.push_back(seqs.size());
    started_++;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
    std::vector<std::vector<float>> out;
    for (const auto& s : seqs) {
      float sum = 0;
      for (int32_t id : s) {
        if (id == 666) throw Error("token id 666 is out of range");
        sum += float(id);
      }
      out.push_back({sum, float(s.size()), float(s[0])});
    }
    return out;
  }
  void set_open(bool open) {
    std::lock_guard<std::mutex> lk(mu_);
    open_ = open;
    cv_.notify_all();
  }
  void wait_started(int n) const {
    std::unique_lock<std::mutex> lk(mu_);
    ASSERT_TRUE(cv_.wait_for(lk, 10s, [&] { return started_ >= n; })) << "no call started";
  }
  std::vector<size_t> calls() const {
    std::lock_guard<std::mutex> lk(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<size_t> calls_;
  mutable int started_ = 0;
  bool open_ = true;
};

std::vector<std::vector<int32_t>> seqs_of(std::initializer_list<std::vector<int32_t>> s) { return s; }

void wait_done(const std::shared_ptr<EmbeddingBatcher::Job>& job) {
  for (int i = 0; i < 2000 && !job->done(); i++) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(job->done());
}

int api_status(const std::shared_ptr<EmbeddingBatcher::Job>& job) {
  try {
    job->take();
  } catch (const server::ApiError& e) {
    return e.status;
  } catch (const Error&) {
    return 400;
  }
  return 200;
}

TEST(EmbeddingBatcher, WaitingRequestsShareOneCallAndGetTheirOwnVectors) {
  auto e = std::make_shared<GatedEmbedder>();
  e->set_open(false);
  EmbeddingBatcher b(e, {});
  std::atomic<int> woken{0};
  auto first = b.submit(seqs_of({{1, 2}}), [&] { woken++; });
  e->wait_started(1);  // the first request's call is running; the next three wait
  auto a = b.submit(seqs_of({{10}, {20, 30}}), [&] { woken++; });
  auto c = b.submit(seqs_of({{5, 5, 5}}), [&] { woken++; });
  auto d = b.submit(seqs_of({{7}}), [&] { woken++; });
  EXPECT_EQ(b.stats().queued_inputs, 4u);
  e->set_open(true);
  for (auto* j : {&first, &a, &c, &d}) wait_done(*j);
  EXPECT_EQ(e->calls(), (std::vector<size_t>{1, 4}));
  auto va = a->take();
  ASSERT_EQ(va.size(), 2u);
  EXPECT_EQ(va[0], (std::vector<float>{10, 1, 10}));
  EXPECT_EQ(va[1], (std::vector<float>{50, 2, 20}));
  EXPECT_EQ(c->take(), (std::vector<std::vector<float>>{{15, 3, 5}}));
  EXPECT_EQ(d->take(), (std::vector<std::vector<float>>{{7, 1, 7}}));
  EXPECT_EQ(first->take(), (std::vector<std::vector<float>>{{3, 2, 1}}));
  EXPECT_EQ(woken.load(), 4);
  auto st = b.stats();
  EXPECT_EQ(st.calls, 2u);
  EXPECT_EQ(st.requests, 4u);
  EXPECT_EQ(st.inputs, 5u);
  EXPECT_EQ(st.queued_inputs, 0u);
}

TEST(EmbeddingBatcher, LimitsSplitCallsAndALargeRequestRunsAlone) {
  auto e = std::make_shared<GatedEmbedder>();
  e->set_open(false);
  server::EmbeddingBatcherOptions o;
  o.max_batch_inputs = 3;
  o.max_batch_tokens = 10;
  EmbeddingBatcher b(e, o);
  auto first = b.submit(seqs_of({{1}}), {});
  e->wait_started(1);
  auto two = b.submit(seqs_of({{1}, {2}}), {});             // 2 inputs, 2 tokens
  auto one = b.submit(seqs_of({{3}}), {});                  // fills the call to 3 inputs
  auto big = b.submit(seqs_of({{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}), {});  // 12 tokens > 10: alone
  auto last = b.submit(seqs_of({{4}}), {});
  e->set_open(true);
  for (auto* j : {&first, &two, &one, &big, &last}) wait_done(*j);
  EXPECT_EQ(e->calls(), (std::vector<size_t>{1, 3, 1, 1}));
  EXPECT_EQ(big->take(), (std::vector<std::vector<float>>{{12, 12, 1}}));
  EXPECT_EQ(last->take(), (std::vector<std::vector<float>>{{4, 1, 4}}));
}

TEST(EmbeddingBatcher, ABadRequestFailsAloneInASharedCall) {
  auto e = std::make_shared<GatedEmbedder>();
  e->set_open(false);
  EmbeddingBatcher b(e, {});
  auto first = b.submit(seqs_of({{1}}), {});
  e->wait_started(1);
  auto good1 = b.submit(seqs_of({{2}}), {});
  auto bad = b.submit(seqs_of({{3}, {666}}), {});
  auto good2 = b.submit(seqs_of({{4}}), {});
  e->set_open(true);
  for (auto* j : {&first, &good1, &bad, &good2}) wait_done(*j);
  EXPECT_EQ(good1->take(), (std::vector<std::vector<float>>{{2, 1, 2}}));
  EXPECT_EQ(good2->take(), (std::vector<std::vector<float>>{{4, 1, 4}}));
  try {
    bad->take();
    FAIL() << "the bad request got vectors";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("666"), std::string::npos) << err.what();
  }
  // the shared call, then each of its three requests alone
  EXPECT_EQ(e->calls(), (std::vector<size_t>{1, 4, 1, 2, 1}));
  auto lone = b.submit(seqs_of({{666}}), {});
  wait_done(lone);
  EXPECT_EQ(api_status(lone), 400);
  EXPECT_EQ(e->calls().size(), 6u);  // a lone request is not retried
}

TEST(EmbeddingBatcher, AFullQueueRefusesWith503AndCancelledRequestsAreNotEmbedded) {
  auto e = std::make_shared<GatedEmbedder>();
  e->set_open(false);
  server::EmbeddingBatcherOptions o;
  o.max_queued_inputs = 3;
  EmbeddingBatcher b(e, o);
  auto first = b.submit(seqs_of({{1}}), {});
  e->wait_started(1);
  auto q1 = b.submit(seqs_of({{2}, {3}}), {});
  auto q2 = b.submit(seqs_of({{4}}), {});
  try {
    b.submit(seqs_of({{5}}), {});
    FAIL() << "a fourth waiting input was accepted";
  } catch (const server::ApiError& err) {
    EXPECT_EQ(err.status, 503);
  }
  EXPECT_EQ(b.stats().refused, 1u);
  EXPECT_TRUE(b.cancel(q1));
  EXPECT_TRUE(q1->done());
  EXPECT_EQ(b.stats().queued_inputs, 1u);
  auto q3 = b.submit(seqs_of({{6}}), {});  // room again
  e->set_open(true);
  for (auto* j : {&first, &q2, &q3}) wait_done(*j);
  EXPECT_FALSE(b.cancel(q2));  // already done: nothing to drop
  EXPECT_EQ(e->calls(), (std::vector<size_t>{1, 2}));  // q1's two inputs never went to the encoder
  EXPECT_EQ(q3->take(), (std::vector<std::vector<float>>{{6, 1, 6}}));
  EXPECT_EQ(b.stats().cancelled, 1u);
}

TEST(EmbeddingBatcher, DestroyedWhileRequestsWaitEndsEachOfThem) {
  auto e = std::make_shared<GatedEmbedder>();
  e->set_open(false);
  std::shared_ptr<EmbeddingBatcher::Job> running, waiting;
  std::atomic<int> woken{0};
  {
    auto b = std::make_unique<EmbeddingBatcher>(e, server::EmbeddingBatcherOptions{});
    running = b->submit(seqs_of({{1}}), [&] { woken++; });
    e->wait_started(1);
    waiting = b->submit(seqs_of({{2}}), [&] { woken++; });
    std::thread opener([&] {
      std::this_thread::sleep_for(50ms);
      e->set_open(true);
    });
    b.reset();  // waits for the running call, fails the waiting request
    opener.join();
  }
  ASSERT_TRUE(running->done());
  ASSERT_TRUE(waiting->done());
  EXPECT_EQ(running->take(), (std::vector<std::vector<float>>{{1, 1, 1}}));
  EXPECT_EQ(api_status(waiting), 503);
  EXPECT_EQ(woken.load(), 2);
  EXPECT_EQ(e->calls().size(), 1u);
}

class NoBackend : public server::Backend {
 public:
  std::shared_ptr<RequestHandle> submit(GenerateRequest) override { throw Error("no generation in this test"); }
  EngineStats stats() const override { return {}; }
};

// Through the server: eight concurrent requests while a call runs are answered from one further
// call, each with its own vectors, and /metrics counts the calls.
TEST(EmbeddingBatcher, ServerBatchesConcurrentRequests) {
  auto e = std::make_shared<GatedEmbedder>();
  NoBackend backend;
  server::ServedModel m;
  m.name = "chat";
  server::ServerOptions o;
  o.access_log = false;
  o.embeddings.embedder = e;
  o.embeddings.name = "gated";
  server::Server srv(backend, std::make_shared<ByteTokenizer>(), m, o, nullptr);
  auto body = [](const std::string& text) { return json{{"model", "gated"}, {"input", text}}.dump(); };
  e->set_open(false);
  Reply first;
  std::thread t0([&] { first = post(srv, "/v1/embeddings", body("a")); });
  e->wait_started(1);
  std::vector<Reply> replies(8);
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; i++)
    ts.emplace_back([&, i] { replies[i] = post(srv, "/v1/embeddings", body(std::string(size_t(i + 1), char('b' + i)))); });
  // all eight wait in the queue before the gate opens
  for (int i = 0; i < 2000 && srv.embedding_batcher()->stats().queued_inputs < 8; i++) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(srv.embedding_batcher()->stats().queued_inputs, 8u);
  e->set_open(true);
  t0.join();
  for (auto& t : ts) t.join();
  ASSERT_EQ(first.status, 200);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ(replies[i].status, 200) << replies[i].bytes;
    json j = json::parse(replies[i].bytes.substr(replies[i].bytes.find("\r\n\r\n") + 4));
    const float id = float('b' + i), n = float(i + 1);
    EXPECT_EQ(j["data"][0]["embedding"], json::array({id * n, n, id}));
    EXPECT_EQ(j["usage"]["prompt_tokens"], i + 1);
  }
  std::string text = request(srv, "GET", "/metrics", "").bytes;
  EXPECT_NE(text.find("ignis_embedding_inputs_total 9"), std::string::npos) << text;
  EXPECT_NE(text.find("ignis_embedding_calls_total 2"), std::string::npos) << text;
  EXPECT_EQ(e->calls(), (std::vector<size_t>{1, 8}));
}

}  // namespace
}  // namespace ignis::test
