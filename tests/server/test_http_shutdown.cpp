// The event-driven HttpServer under a storm, stopped by SIGTERM and destroyed while clients keep
// coming (issue 23 item 1). Built with ASan+UBSan (tests/server/CMakeLists.txt: the transport's
// sources compiled into this binary with the sanitizers), so a handler, fiber, socket or waker
// outliving its owner is a test failure. A "ticker" thread plays the engine: it calls every
// handler's waker every millisecond, and keeps calling them after the server is gone.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/http.h"

namespace ignis::server {
namespace {

int thread_count() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{0, 200 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_str(int fd, const std::string& s) { [[maybe_unused]] ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

// Reads up to `max` bytes (or until the receive timeout / EOF).
std::string read_some(int fd, size_t max) {
  std::string out;
  char buf[4096];
  while (out.size() < max) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Ticker {  // the "engine": wakes every registered handler each millisecond
  std::mutex mu;
  std::vector<std::function<void()>> wakers;
  std::atomic<bool> stop{false};
  std::thread th{[this] {
    while (!stop) {
      std::vector<std::function<void()>> w;
      {
        std::lock_guard lk(mu);
        w = wakers;
      }
      for (auto& f : w) f();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }};
  void add(std::function<void()> f) {
    std::lock_guard lk(mu);
    if (wakers.size() < 4096) wakers.push_back(std::move(f));
  }
  ~Ticker() {
    stop = true;
    th.join();
  }
};

std::atomic<HttpServer*> g_server{nullptr};
extern "C" void on_term(int) {
  if (auto* s = g_server.load()) s->request_stop();
}

TEST(HttpShutdown, SigtermDuringAStormOfConnectionsAndStreams) {
  const int threads_before = thread_count();
  std::atomic<int64_t> chunks{0}, handlers_done{0};
  Ticker ticker;
  HttpServerOptions o;
  o.port = 0;
  o.worker_threads = 2;
  o.io_threads = 2;
  o.header_timeout_ms = 300;
  o.keep_alive_timeout_ms = 300;
  o.max_connections = 200;
  o.max_connections_per_client = 0;
  o.handler_stack_bytes = 1 << 20;  // ASan frames are larger
  o.max_pending_write_bytes = 8 * 1024;  // clients that stop reading hit backpressure
  auto handler = [&](const HttpRequest& req, HttpResponder& res) {
    if (req.path == "/health") return res.send(200, "application/json", "{\"status\":\"ok\"}");
    if (req.path == "/stream") {
      ticker.add(res.waker());
      res.begin_stream(200, "text/event-stream");
      std::string chunk = "data: " + std::string(512, 'x') + "\n\n";
      for (int i = 0; i < 2000 && !res.client_gone(); i++) {
        if (!res.write_chunk(chunk)) break;
        chunks++;
        res.wait(std::chrono::milliseconds(50));
      }
      res.end_stream();
      handlers_done++;
      return;
    }
    ticker.add(res.waker());
    res.wait(std::chrono::milliseconds(20));  // a short non-streaming "generation"
    res.send(200, "text/plain", "done");
    handlers_done++;
  };
  auto server = std::make_unique<HttpServer>(o, handler, [](int, const std::string& m) { return "{\"error\":\"" + m + "\"}"; });
  server->listen();
  const int port = server->port();
  std::thread serving([&] { server->serve(); });
  g_server = server.get();
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGTERM, &sa, &old);

  // The storm: streams read a little then dropped, streams never read, idle sockets, half-closed
  // and pipelined requests, health checks; it keeps going through the stop and the destruction.
  std::atomic<bool> storm{true};
  std::atomic<int64_t> streamed{0}, healthy{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; t++) {
    clients.emplace_back([&, t] {
      std::vector<int> held;
      for (int k = 0; storm; k++) {
        int fd = connect_to(port);
        if (fd < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        switch ((t + k) % 5) {
          case 0:  // stream, read some, reset
            send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
            if (read_some(fd, 4096).find("200 OK") != std::string::npos) streamed++;
            break;
          case 1:  // stream, never read (backpressure), keep the socket a while
            send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
            held.push_back(fd);
            fd = -1;
            break;
          case 2:  // idle
            held.push_back(fd);
            fd = -1;
            break;
          case 3:  // pipelined, then half-closed
            send_str(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            ::shutdown(fd, SHUT_WR);
            read_some(fd, 1 << 16);
            break;
          case 4:
            send_str(fd, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            if (read_some(fd, 1024).find("200 OK") != std::string::npos) healthy++;
            break;
        }
        if (fd >= 0) ::close(fd);
        if (held.size() > 20) {
          ::close(held.front());
          held.erase(held.begin());
        }
      }
      for (int fd : held) ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_LT(thread_count(), threads_before + 6 + 1 + 1 + 2 + 2 + 2) << "threads: clients + ticker + serve + loops + workers";
  ::kill(::getpid(), SIGTERM);  // like `ignis serve`: the handler only wakes serve()
  serving.join();
  EXPECT_TRUE(server->stopping());
  server->wait_idle(std::chrono::milliseconds(200));  // some streams are still running: not idle
  auto t0 = std::chrono::steady_clock::now();
  g_server = nullptr;
  server.reset();  // clients still connecting and streams still waiting: everything ends here
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sigaction(SIGTERM, &old, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the ticker wakes dead handlers' waiters
  storm = false;
  for (auto& c : clients) c.join();
  std::printf("storm: %lld streams answered, %lld chunks, %lld handlers returned, %lld health answers; destroyed in %.2f s\n",
              static_cast<long long>(streamed.load()), static_cast<long long>(chunks.load()),
              static_cast<long long>(handlers_done.load()), static_cast<long long>(healthy.load()), secs);
  EXPECT_GT(streamed.load(), 10);
  EXPECT_GT(healthy.load(), 10);
  EXPECT_GT(chunks.load(), 100);
  EXPECT_GT(handlers_done.load(), 10);
  EXPECT_LT(secs, 5.0) << "destruction waits for every handler, which all see their client gone";
  // Every server thread has been joined (only the ticker is left of ours).
  EXPECT_EQ(thread_count(), threads_before + 1);
}

}  // namespace
}  // namespace ignis::server
