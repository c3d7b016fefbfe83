// ignis server: HttpResponder (blocking on a plain fd, or the server's non-blocking sink over a
// connection's Exchange) and Exchange::flush_locked.
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

#include "server/http.h"
#include "server/http_exchange.h"

namespace ignis::server {

using SteadyClock = std::chrono::steady_clock;

bool detail::Exchange::flush_locked() {
  if (gone || fd < 0) {
    gone = true;
    return false;
  }
  bool progressed = false;
  while (out_sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + out_sent, out.size() - out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_sent += static_cast<size_t>(n);
      progressed = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    gone = true;  // EPIPE, ECONNRESET, ...: the client is gone
    return false;
  }
  if (out_sent == out.size()) {
    out.clear();
    out_sent = 0;
    stalled_since = {};
  } else {
    if (progressed || stalled_since == SteadyClock::time_point{}) stalled_since = SteadyClock::now();
    if (out_sent > (1u << 16) && out_sent * 2 > out.size()) {  // compact the sent prefix
      out.erase(0, out_sent);
      out_sent = 0;
    }
  }
  return true;
}

HttpResponder::HttpResponder(int fd, bool keep_alive, int write_timeout_ms)
    : fd_(fd), waiter_(std::make_shared<detail::Waiter>()), keep_alive_(keep_alive), write_timeout_ms_(write_timeout_ms) {}

HttpResponder::HttpResponder(std::shared_ptr<detail::Exchange> ex, bool keep_alive)
    : ex_(std::move(ex)), keep_alive_(keep_alive) {
  waiter_ = ex_->waiter;
}

HttpResponder::~HttpResponder() = default;

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

bool HttpResponder::write_all(std::string_view data, bool may_wait) {
  if (failed_) return false;
  if (ex_) {
    std::unique_lock lk(ex_->mu);
    if (ex_->gone) {
      failed_ = true;
      return false;
    }
    ex_->out.append(data);
    bytes_ += data.size();
    if (ex_->pending_locked() == data.size() && !ex_->flush_locked()) {  // nothing queued before: try now
      failed_ = true;
      return false;
    }
    // Backpressure: a stream waits while its client reads slower than it is written. The I/O
    // loop wakes us below the low-water mark, or when it gives the client up (write timeout).
    while (may_wait && !ex_->gone && ex_->pending_locked() > ex_->high_water) {
      ex_->want_space = true;
      lk.unlock();
      waiter_->wait(std::chrono::milliseconds(1000));
      lk.lock();
    }
    if (ex_->gone) failed_ = true;
    return !failed_;
  }
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
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
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
  write_all(msg, false);  // never waits: send() may run inside a catch block (see fiber.h)
}

void HttpResponder::begin_stream(int status, std::string_view content_type,
                                 const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  if (started_) return;
  started_ = streaming_ = true;
  status_ = status;
  write_all(head(status, content_type, extra_headers, true, 0), false);
}

bool HttpResponder::write_chunk(std::string_view data) {
  if (!streaming_ || failed_) return false;
  if (data.empty()) return true;  // an empty chunk would end the stream
  char size[32];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string msg(size, static_cast<size_t>(n));
  msg.append(data);
  msg.append("\r\n");
  return write_all(msg, true);
}

void HttpResponder::end_stream() {
  if (!streaming_) return;
  write_all("0\r\n\r\n", false);
  streaming_ = false;
}

bool HttpResponder::client_gone() {
  // Only a reset or error counts: EOF on the read side (POLLRDHUP, recv() == 0) may be a client
  // that half-closed after sending its request (shutdown(SHUT_WR)) and still reads the response.
  // A client that really went away is seen at the next write (its RST makes the socket error).
  if (failed_) return true;
  if (ex_) {
    std::lock_guard lk(ex_->mu);
    if (ex_->gone) failed_ = true;
    return failed_;
  }
  pollfd p{fd_, 0, 0};  // POLLERR / POLLHUP are always reported
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
    failed_ = true;
    return true;
  }
  return false;
}

std::function<void()> HttpResponder::waker() {
  return [w = waiter_] { w->wake(); };
}

void HttpResponder::wait(std::chrono::milliseconds timeout) {
  waiter_->wait(timeout);  // the loop also wakes it when the client goes away
}

}  // namespace ignis::server
