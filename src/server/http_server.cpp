// ignis server: sockets, the accept loop, per-connection threads and response writing.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "server/http.h"

namespace ignis::server {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t ms_until(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - SteadyClock::now()).count();
}

std::string peer_name(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// Reads and discards what the client still sends (e.g. the rest of an oversized
// body) so that closing the socket does not reset the connection before the
// client has read our error response.
void drain(int fd, int timeout_ms, size_t max_bytes) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[65536];
  size_t total = 0;
  ::shutdown(fd, SHUT_WR);
  while (total < max_bytes) {
    int64_t left = ms_until(deadline);
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
}

}  // namespace

// ---- HttpResponder ----

std::string HttpResponder::head(int status, std::string_view content_type,
                                const std::vector<std::pair<std::string, std::string>>& extra, bool chunked,
                                size_t length) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + http_status_text(status) + "\r\n";
  if (!content_type.empty()) h += "Content-Type: " + std::string(content_type) + "\r\n";
  if (chunked) h += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
  else h += "Content-Length: " + std::to_string(length) + "\r\n";
  for (auto& [k, v] : extra) h += k + ": " + v + "\r\n";
  h += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return h;
}

bool HttpResponder::write_all(std::string_view data) {
  if (failed_) return false;
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(write_timeout_ms_);
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      bytes_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int64_t left = ms_until(deadline);
      pollfd p{fd_, POLLOUT, 0};
      if (left > 0 && ::poll(&p, 1, static_cast<int>(left)) > 0 && !(p.revents & (POLLERR | POLLHUP))) continue;
    }
    failed_ = true;  // peer gone, or too slow to read its response
    return false;
  }
  return true;
}

void HttpResponder::send(int status, std::string_view content_type, std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  if (started_) return;
  started_ = true;
  status_ = status;
  std::string msg = head(status, content_type, extra_headers, false, body.size());
  msg.append(body);
  write_all(msg);
}

void HttpResponder::begin_stream(int status, std::string_view content_type,
                                 const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  if (started_) return;
  started_ = streaming_ = true;
  status_ = status;
  write_all(head(status, content_type, extra_headers, true, 0));
}

bool HttpResponder::write_chunk(std::string_view data) {
  if (!streaming_ || failed_) return false;
  if (data.empty()) return true;  // an empty chunk would end the stream
  char size[32];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string msg(size, static_cast<size_t>(n));
  msg.append(data);
  msg.append("\r\n");
  return write_all(msg);
}

void HttpResponder::end_stream() {
  if (!streaming_) return;
  write_all("0\r\n\r\n");
  streaming_ = false;
}

bool HttpResponder::client_gone() {
  // Only a reset or error counts: EOF on the read side (POLLRDHUP, recv() == 0) may be a client
  // that half-closed after sending its request (shutdown(SHUT_WR)) and still reads the response.
  // A client that really went away is seen at the next write (its RST makes the socket error).
  if (failed_) return true;
  pollfd p{fd_, 0, 0};  // POLLERR / POLLHUP are always reported
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
    failed_ = true;
    return true;
  }
  return false;
}

// ---- HttpServer ----

HttpServer::HttpServer(HttpServerOptions opts, HttpHandler handler, HttpErrorBody error_body)
    : opts_(std::move(opts)), handler_(std::move(handler)), error_body_(std::move(error_body)) {}

HttpServer::~HttpServer() {
  stop_accepting();
  wait_idle(std::chrono::milliseconds(5000));
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_)
    if (fd >= 0) ::close(fd);
}

void HttpServer::listen() {
  IGNIS_CHECK(::pipe(wake_pipe_) == 0, "server: pipe() failed: {}", std::strerror(errno));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(opts_.port);
  int rc = ::getaddrinfo(opts_.host.empty() ? nullptr : opts_.host.c_str(), port.c_str(), &hints, &res);
  IGNIS_CHECK(rc == 0, "server: cannot resolve host '{}': {}", opts_.host, gai_strerror(rc));
  std::string last_err = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_err = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  IGNIS_CHECK(listen_fd_ >= 0, "server: cannot listen on {}:{}: {}", opts_.host, opts_.port, last_err);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void HttpServer::request_stop() {
  if (wake_pipe_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &c, 1);
  }
}

void HttpServer::stop_accepting() {
  stopping_ = true;
  request_stop();
}

void HttpServer::serve() {
  IGNIS_CHECK(listen_fd_ >= 0, "server: serve() before listen()");
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int n = ::poll(p, 2, 1000);
    if (n < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    if (!(p[0].revents & POLLIN)) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (active_.load() >= opts_.max_connections) {
      HttpResponder r(fd, false, 100);
      r.send(503, "application/json", error_body_(503, "too many open connections"), {{"Retry-After", "1"}});
      ::close(fd);
      continue;
    }
    active_++;
    std::thread([this, fd, remote = peer_name(ss)] { handle_connection(fd, remote); }).detach();
  }
  stopping_ = true;
  ::close(listen_fd_);
  listen_fd_ = -1;
}

bool HttpServer::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, timeout, [&] { return active_.load() == 0; });
}

void HttpServer::handle_connection(int fd, std::string remote) {
  std::string buf;
  bool expect_sent = false;
  auto idle_since = SteadyClock::now();
  SteadyClock::time_point request_start{};
  for (;;) {
    HttpRequest req;
    ParseResult pr = buf.empty() ? ParseResult{} : parse_http_request(buf, opts_.limits, &req);
    if (pr.status == ParseResult::Status::Done) {
      buf.erase(0, pr.consumed);
      req.remote = remote;
      expect_sent = false;
      bool keep = req.keep_alive && !stopping_;
      HttpResponder res(fd, keep, opts_.write_timeout_ms);
      try {
        handler_(req, res);
      } catch (const std::exception& e) {
        IGNIS_LOG(Error, "server: handler error for {} {}: {}", req.method, req.path, e.what());
        if (!res.sent()) res.send(500, "application/json", error_body_(500, e.what()));
        res.force_close();
      }
      if (!res.sent()) res.send(500, "application/json", error_body_(500, "no response produced"));
      if (!res.keep_alive() || stopping_) break;
      idle_since = SteadyClock::now();
      request_start = {};
      continue;
    }
    if (pr.status == ParseResult::Status::Error) {
      HttpResponder res(fd, false, 1000);
      res.send(pr.http_status, "application/json", error_body_(pr.http_status, pr.message));
      std::fprintf(stderr, "%s \"- -\" %d %zuB 0.0ms (%s)\n", remote.c_str(), pr.http_status, res.bytes_sent(), pr.message.c_str());
      drain(fd, 2000, opts_.limits.max_body_bytes * 4 + (16u << 20));
      break;
    }
    // Incomplete: answer "Expect: 100-continue" once the head is in.
    if (!expect_sent && buf.find("\r\n\r\n") != std::string::npos) {
      std::string head = buf.substr(0, buf.find("\r\n\r\n") + 2);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (head.find("\r\nexpect: 100-continue\r\n") != std::string::npos) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        ::send(fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
      }
      expect_sent = true;
    }
    // Wait for more bytes: idle connections may be closed at shutdown; partial
    // requests must complete within read_timeout_ms.
    auto now = SteadyClock::now();
    if (buf.empty() && stopping_) break;
    int64_t left = buf.empty() ? opts_.keep_alive_timeout_ms - std::chrono::duration_cast<std::chrono::milliseconds>(now - idle_since).count()
                               : ms_until(request_start + std::chrono::milliseconds(opts_.read_timeout_ms));
    if (left <= 0) {
      if (!buf.empty()) {
        HttpResponder res(fd, false, 1000);
        res.send(408, "application/json", error_body_(408, "request not received in time"));
      }
      break;
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 200)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char tmp[65536];
    ssize_t got = ::recv(fd, tmp, sizeof tmp, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) break;
    if (buf.empty()) request_start = SteadyClock::now();
    buf.append(tmp, static_cast<size_t>(got));
  }
  ::close(fd);
  {
    std::lock_guard<std::mutex> lk(mu_);
    active_--;
  }
  idle_cv_.notify_all();
}

}  // namespace ignis::server
