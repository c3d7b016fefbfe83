// HTTP client pieces (URL, SSE) and the serve load generator (libcurl) against a small fake OpenAI
// streaming server on loopback with known token timing (and, when given one, an API key to check).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/lib/http_client.h"
#include "bench/lib/runners.h"
#include "core/error.h"

using namespace ignis;
using namespace ignis::bench;

TEST(Http, ParseUrl) {
  Url u = parse_url("http://127.0.0.1:8000");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8000);
  EXPECT_EQ(u.base_path, "");
  u = parse_url("http://localhost/api/");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.base_path, "/api");
  EXPECT_THROW(parse_url("https://x"), Error);
  EXPECT_THROW(parse_url("http://x:99999"), Error);
  EXPECT_THROW(parse_url("http://:80"), Error);
  EXPECT_THROW(parse_url("http://x:8a"), Error);
}

TEST(Http, SseEventsSurviveAnySplit) {
  const std::string stream =
      ": keep-alive comment\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "line1\nline2", "[DONE]"};
  for (size_t step = 1; step <= stream.size(); step++) {
    SseParser p;
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += step)
      for (auto& e : p.feed(std::string_view(stream).substr(i, step))) got.push_back(e);
    ASSERT_EQ(got, want) << "split every " << step << " bytes";
  }
}

TEST(Serve, ParsePrometheus) {
  const auto m = parse_prometheus(
      "# HELP a b\n# TYPE a gauge\na 1.5\nreq_total{outcome=\"ok\",x=\"a b\"} 7\nbroken\nc NaNx\nd 2e3\n");
  EXPECT_DOUBLE_EQ(m.at("a"), 1.5);
  EXPECT_DOUBLE_EQ(m.at("req_total{outcome=\"ok\",x=\"a b\"}"), 7);
  EXPECT_DOUBLE_EQ(m.at("d"), 2000);
  EXPECT_EQ(m.count("broken"), 0u);
}

TEST(Serve, PoissonArrivalsHaveTheRequestedRate) {
  const auto t = poisson_arrivals(20000, 50.0, 7);
  EXPECT_EQ(t[0], 0.0);
  double gaps = t.back() / (t.size() - 1);
  EXPECT_NEAR(gaps, 1.0 / 50, 0.02 * 3 / std::sqrt(20000.0) + 1e-4);
  EXPECT_EQ(poisson_arrivals(3, INFINITY, 1), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(t, poisson_arrivals(20000, 50.0, 7));
  EXPECT_THROW(poisson_arrivals(3, 0.0, 1), Error);
}

namespace {
// Fake /v1/completions: streams max_tokens one-character chunks, kDelay apart, then usage and [DONE].
constexpr int kDelayMs = 5;
class FakeServer {
 public:
  explicit FakeServer(std::string api_key = "") : api_key_(std::move(api_key)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    th_ = std::thread([this] { loop(); });
  }
  ~FakeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    th_.join();
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }
  std::atomic<int> max_in_flight{0}, bad_requests{0}, scrapes{0}, unauthorized{0};

 private:
  void loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      int one = 1;  // streamed tokens go out as written, as a real SSE server does
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  static void send_all(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
  static void chunk(int c, const std::string& s) {
    char h[32];
    std::snprintf(h, sizeof h, "%zx\r\n", s.size());
    send_all(c, h + s + "\r\n");
  }
  void serve(int c) {
    std::string req;
    char buf[4096];
    size_t body_at = std::string::npos, clen = 0;
    while (true) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, n);
      if (body_at == std::string::npos && (body_at = req.find("\r\n\r\n")) != std::string::npos) {
        body_at += 4;
        auto p = req.find("Content-Length: ");
        clen = p == std::string::npos ? 0 : std::stoul(req.substr(p + 16));
      }
      if (body_at != std::string::npos && req.size() >= body_at + clen) break;
    }
    const std::string head = req.substr(0, body_at);
    if (!api_key_.empty() && head.find("\r\nAuthorization: Bearer " + api_key_ + "\r\n") == std::string::npos) {
      unauthorized++;
      send_all(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 25\r\n\r\n{\"error\": \"bad api key\"}\n");
      ::close(c);
      return;
    }
    if (req.rfind("GET /metrics", 0) == 0) {  // counters that grow by 10 queries / 4 hits per scrape
      const int k = ++scrapes;
      const std::string body = "# HELP x\nignis_kv_cache_usage_ratio 0.25\nignis_prefix_cache_queries_total " +
                               std::to_string(10 * k) + "\nignis_prefix_cache_hits_total " + std::to_string(4 * k) + "\n";
      send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
      ::close(c);
      return;
    }
    const int now = ++in_flight_;  // completions only (not /metrics scrapes)
    for (int m = max_in_flight; now > m && !max_in_flight.compare_exchange_weak(m, now);) {
    }
    auto j = nlohmann::json::parse(req.substr(body_at), nullptr, false);
    // The count drops before the response's last bytes go out: once the client has them it may
    // open its next request at once, which must not overlap this one in the count.
    if (j.is_discarded() || !j.value("stream", false) || !j["prompt"].is_array()) {
      bad_requests++;
      --in_flight_;
      send_all(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 18\r\n\r\n{\"error\": \"nope\"}\n");
    } else {
      const int n = j["max_tokens"];
      send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < n; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kDelayMs));
        chunk(c, "data: {\"choices\":[{\"index\":0,\"text\":\"x\",\"finish_reason\":null}]}\n\n");
      }
      chunk(c, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + std::to_string(j["prompt"].size()) +
                   ",\"completion_tokens\":" + std::to_string(n) + "}}\n\n");
      --in_flight_;  // the client may take [DONE] as the end
      chunk(c, "data: [DONE]\n\n");
      chunk(c, "");
    }
    ::close(c);
  }
  std::string api_key_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  std::thread th_;
  std::vector<std::thread> conns_;
};

std::vector<WorkItem> items(int n, int out) {
  std::vector<WorkItem> w(n);
  for (int i = 0; i < n; i++) {
    w[i].prompt_ids = std::vector<int32_t>(3 + i, 1);
    w[i].output_len = out;
  }
  return w;
}
}  // namespace

TEST(Serve, StreamsAndCountsTokensAtFixedConcurrency) {
  FakeServer srv;
  ServeOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(srv.port());
  o.concurrency = 2;
  o.progress = false;
  EngineObservations obs;
  const auto recs = run_serve(items(6, 4), o, &obs);
  ASSERT_EQ(recs.size(), 6u);
  // /metrics: a gauge sample per poll, and the counters' change between the first and last scrape.
  ASSERT_GE(srv.scrapes.load(), 2);
  ASSERT_FALSE(obs.kv_utilization_samples.empty());
  EXPECT_DOUBLE_EQ(obs.kv_utilization_samples[0], 0.25);
  EXPECT_EQ(obs.prefix_queries, 10 * (srv.scrapes.load() - 1));
  EXPECT_EQ(obs.prefix_hits, 4 * (srv.scrapes.load() - 1));
  EXPECT_LE(srv.max_in_flight.load(), 2);
  for (size_t i = 0; i < recs.size(); i++) {
    const auto& r = recs[i];
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 4);
    EXPECT_EQ(r.prompt_tokens, static_cast<int>(3 + i));
    ASSERT_EQ(r.token_times.size(), 4u);
    EXPECT_GE(r.first_token - r.arrival, kDelayMs * 1e-3 * 0.9);
    EXPECT_GE(r.finish - r.arrival, 4 * kDelayMs * 1e-3 * 0.9);
    for (size_t k = 1; k < 4; k++) EXPECT_GE(r.token_times[k], r.token_times[k - 1]);  // gaps jitter; order holds
    EXPECT_LE(r.token_times.back(), r.finish);
  }
  const Report rep = compute_report("serve", recs, obs);
  EXPECT_DOUBLE_EQ(*rep.prefix_hit_rate, 0.4);
  EXPECT_DOUBLE_EQ(*rep.kv_util_mean, 0.25);
  EXPECT_EQ(rep.completed, 6);
  EXPECT_EQ(rep.output_tokens, 24);
  EXPECT_EQ(rep.itl.n, 6 * 3);  // one gap per pair of streamed tokens
  // 6 requests of >= 20 ms at concurrency 2: at least 3 rounds.
  EXPECT_GE(rep.duration_s, 3 * 4 * kDelayMs * 1e-3 * 0.9);
}

TEST(Serve, PoissonRateAndErrorsAreReported) {
  FakeServer srv;
  ServeOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(srv.port());
  o.request_rate = 200;
  o.progress = false;
  auto w = items(5, 2);
  w[2].prompt_ids.clear();  // sent as text -> the fake server answers 400
  w[2].prompt = "text";
  const auto recs = run_serve(w, o);
  EXPECT_EQ(srv.bad_requests.load(), 1);
  EXPECT_FALSE(recs[2].ok);
  EXPECT_NE(recs[2].error.find("HTTP 400"), std::string::npos) << recs[2].error;
  EXPECT_TRUE(recs[0].ok && recs[4].ok);
  const Report rep = compute_report("serve", recs);
  EXPECT_EQ(rep.completed, 4);
  EXPECT_EQ(rep.failed, 1);
  // Nothing listening: a clear error per request, no crash.
  o.url = "http://127.0.0.1:1";
  const auto down = run_serve(items(2, 1), o);
  EXPECT_FALSE(down[0].ok);
  EXPECT_NE(down[0].error.find("connect"), std::string::npos) << down[0].error;
}

TEST(Serve, ApiKeyIsSentAndA401IsReportedClearly) {
  FakeServer srv("s3cret");
  ServeOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(srv.port());
  o.progress = false;
  o.api_key = "s3cret";
  EngineObservations obs;
  auto recs = run_serve(items(3, 2), o, &obs);
  for (const auto& r : recs) EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(srv.unauthorized.load(), 0);  // completions and /metrics scrapes all carried the key
  EXPECT_GE(srv.scrapes.load(), 1);
  for (const std::string key : {"wrong", ""}) {
    o.api_key = key;
    recs = run_serve(items(2, 2), o);
    for (const auto& r : recs) {
      EXPECT_FALSE(r.ok);
      EXPECT_NE(r.error.find("HTTP 401"), std::string::npos) << r.error;
      EXPECT_NE(r.error.find(key.empty() ? "requires an API key" : "rejected the API key"), std::string::npos) << r.error;
    }
    const Report rep = compute_report("serve", recs);
    EXPECT_EQ(rep.failed, 2);
    ASSERT_FALSE(rep.errors.empty());
    EXPECT_NE(format_table(rep).find("HTTP 401"), std::string::npos);
  }
}
