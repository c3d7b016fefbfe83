// ignis server: IoLoop (see http_loop.h): epoll, admission, request parsing, timeouts.
#include "server/http_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace ignis::server::detail {

namespace {

constexpr uint64_t kListener = 0, kEvent = 1;
constexpr int kTickMs = 200;
constexpr int kDrainMs = 2000;

void peer_name(const sockaddr_storage& ss, std::string* remote, std::string* addr) {
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
  *addr = host;
  *remote = *addr + ":" + std::to_string(port);
}

// A short response written straight to a socket we are about to close (refused connections).
void send_now(int fd, const std::string& bytes) {
  [[maybe_unused]] ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool head_complete(const std::string& in) { return in.find("\r\n\r\n") != std::string::npos; }

}  // namespace

IoLoop::IoLoop(LoopShared& shared, int index) : sh_(shared), index_(index) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  IGNIS_CHECK(epfd_ >= 0, "server: epoll_create1 failed: {}", std::strerror(errno));
  efd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  IGNIS_CHECK(efd_ >= 0, "server: eventfd failed: {}", std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kEvent;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, efd_, &ev);
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one loop wakes per new connection
  ev.data.u64 = kListener;
  listening_ = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, sh_.listen_fd, &ev) == 0;
}

IoLoop::~IoLoop() {
  if (thread_.joinable()) thread_.join();
  for (auto& [id, c] : conns_)  // only when the thread never ran: nothing else holds them
    if (c->fd >= 0) ::close(c->fd);
  ::close(efd_);
  ::close(epfd_);
}

void IoLoop::start() { thread_ = std::thread([this] { run(); }); }

void IoLoop::post(Msg m) {
  std::lock_guard lk(mu_);
  msgs_.push_back(m);
  uint64_t one = 1;
  // Written under mu_: once the loop has taken the message it may exit, and nothing of this
  // object is touched after the unlock.
  [[maybe_unused]] ssize_t n = ::write(efd_, &one, sizeof one);
}

void IoLoop::post_stop_accepting() { post({Msg::Kind::StopAccepting}); }
void IoLoop::post_shutdown() { post({Msg::Kind::Shutdown}); }
void IoLoop::post_done(uint64_t conn, bool keep_alive) { post({Msg::Kind::Done, conn, keep_alive}); }

void IoLoop::run() {
  std::vector<epoll_event> evs(256);
  auto next_tick = Clock::now() + std::chrono::milliseconds(kTickMs);
  for (;;) {
    int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), kTickMs);
    if (n < 0 && errno != EINTR) {
      IGNIS_LOG(Error, "server: epoll_wait failed: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      uint64_t id = evs[i].data.u64;
      if (id == kEvent) on_messages();
      else if (id == kListener) accept_all();
      else on_event(id, evs[i].events);
    }
    if (Clock::now() >= next_tick) {
      tick();
      next_tick = Clock::now() + std::chrono::milliseconds(kTickMs);
    }
    if (shutting_down_ && conns_.empty()) break;
  }
}

void IoLoop::on_messages() {
  uint64_t v;
  [[maybe_unused]] ssize_t r = ::read(efd_, &v, sizeof v);
  std::vector<Msg> msgs;
  {
    std::lock_guard lk(mu_);
    msgs.swap(msgs_);
  }
  for (const Msg& m : msgs) {
    switch (m.kind) {
      case Msg::Kind::Done: {
        auto it = conns_.find(m.conn);
        if (it != conns_.end()) finish_response(*it->second, m.keep_alive);
        break;
      }
      case Msg::Kind::StopAccepting: {
        if (listening_) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, sh_.listen_fd, nullptr);
        listening_ = false;
        relisten_at_ = {};
        std::vector<uint64_t> idle;
        for (auto& [id, c] : conns_)
          if (c->st == St::Reading && c->in.empty()) idle.push_back(id);
        for (uint64_t id : idle) close_conn(id);
        {
          std::lock_guard lk(sh_.mu);
          sh_.stop_acks++;
        }
        sh_.cv.notify_all();
        break;
      }
      case Msg::Kind::Shutdown: {
        shutting_down_ = true;
        std::vector<uint64_t> ids;
        for (auto& [id, c] : conns_) ids.push_back(id);
        for (uint64_t id : ids) {
          Conn& c = *conns_.at(id);
          if (c.st == St::Busy) give_up(c);  // its handler returns soon; the conn goes at Done
          else close_conn(id);
        }
        break;
      }
    }
  }
}

void IoLoop::accept_all() {
  for (int k = 0; k < 256 && listening_; k++) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(sh_.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop listening for a moment instead of spinning on a readable listener.
        IGNIS_LOG(Warn, "server: accept: {}; pausing accepts for 100 ms", std::strerror(errno));
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, sh_.listen_fd, nullptr);
        listening_ = false;
        relisten_at_ = Clock::now() + std::chrono::milliseconds(100);
      }
      return;  // EAGAIN: another loop took it, or nothing left
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string remote, addr;
    peer_name(ss, &remote, &addr);
    admit(fd, std::move(remote), std::move(addr));
  }
}

// Admission: a client over its per-address limit replaces its own oldest idle connection; at the
// global limit the oldest idle connection (one that sent nothing, or keep-alive between requests)
// makes room; with none idle, up to `reserve_connections` more are accepted for health checks only.
void IoLoop::admit(int fd, std::string remote, std::string addr) {
  const auto& o = sh_.opts;
  bool reserve = false;
  const char* refuse = nullptr;
  for (int attempt = 0; attempt < 2 && !refuse; attempt++) {
    std::unique_lock lk(sh_.mu);
    int per = sh_.per_addr.count(addr) ? sh_.per_addr[addr] : 0;
    bool over_client = o.max_connections_per_client > 0 && per >= o.max_connections_per_client;
    bool over_total = sh_.total >= o.max_connections;
    if (!over_client && !over_total) break;
    lk.unlock();
    if (attempt == 0 && evict_idle(over_client ? &addr : nullptr)) continue;  // then check again
    lk.lock();
    if (sh_.reserve_used < o.reserve_connections) reserve = true;
    else refuse = over_client ? "too many open connections from this address" : "too many open connections";
    break;
  }
  if (refuse) {
    sh_.refused++;
    std::string body = sh_.error_body(503, refuse);
    send_now(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body);
    ::close(fd);
    return;
  }
  {
    std::lock_guard lk(sh_.mu);
    sh_.total++;
    sh_.per_addr[addr]++;
    if (reserve) sh_.reserve_used++;
  }
  auto c = std::make_unique<Conn>();
  c->id = next_id_++;
  c->fd = fd;
  c->remote = std::move(remote);
  c->addr = std::move(addr);
  c->reserve = reserve;
  c->since = Clock::now();
  c->ex = std::make_shared<Exchange>();
  c->ex->fd = fd;
  c->ex->high_water = o.max_pending_write_bytes;
  c->ex->low_water = o.max_pending_write_bytes / 4;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = c->id;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    IGNIS_LOG(Warn, "server: epoll_ctl(ADD) failed: {}", std::strerror(errno));
    c->ex->fd = -1;
    ::close(fd);
    std::lock_guard lk(sh_.mu);
    sh_.total--;
    if (--sh_.per_addr[c->addr] == 0) sh_.per_addr.erase(c->addr);
    if (reserve) sh_.reserve_used--;
    return;
  }
  Conn& ref = *c;
  conns_.emplace(ref.id, std::move(c));
  update_idle(ref);
}

bool IoLoop::evict_idle(const std::string* addr) {
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    Conn& c = *conns_.at(*it);
    if (addr && c.addr != *addr) continue;
    if (pending(c) > 0) continue;  // still sending its last response
    sh_.evicted++;
    close_conn(c.id);
    return true;
  }
  return false;
}

size_t IoLoop::pending(Conn& c) {
  std::lock_guard lk(c.ex->mu);
  return c.ex->pending_locked();
}

bool IoLoop::gone(Conn& c) {
  std::lock_guard lk(c.ex->mu);
  return c.ex->gone;
}

void IoLoop::on_event(uint64_t id, uint32_t events) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;  // closed earlier in this batch
  Conn& c = *it->second;
  if (events & (EPOLLERR | EPOLLHUP)) {  // reset or error (a half-close is EPOLLRDHUP alone)
    if (c.st == St::Busy) give_up(c);
    else close_conn(id);
    return;
  }
  if (events & EPOLLOUT) {
    std::lock_guard lk(c.ex->mu);
    c.ex->flush_locked();
    if (c.ex->want_space && (c.ex->gone || c.ex->pending_locked() < c.ex->low_water)) {
      c.ex->want_space = false;
      c.ex->waiter->wake();
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP)) c.read_pending = true;
  advance(c);
}

// Reads what the socket has (edge-triggered: until EAGAIN), bounded by the request limits.
// False when the connection must close now (error).
bool IoLoop::read_some(Conn& c) {
  const size_t cap = sh_.opts.limits.max_header_bytes + sh_.opts.limits.max_body_bytes + (64u << 10);
  char buf[65536];
  while (c.read_pending && !c.peer_eof) {
    if (c.st != St::Draining && c.in.size() > cap) return true;  // the parser answers 413 / 431
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (c.st == St::Draining) continue;  // discarded
      if (c.in.empty()) c.request_start = Clock::now();
      c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      c.peer_eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c.read_pending = false;
      break;
    }
    return false;
  }
  return true;
}

void IoLoop::advance(Conn& c) {
  const uint64_t id = c.id;
  for (;;) {
    if (c.st == St::Busy) return update_idle(c);
    if (c.st == St::Closing) {
      if (gone(c) || pending(c) == 0) close_conn(id);
      return;
    }
    if (c.st == St::Draining) {
      // Our error response first, then FIN, then discard what the client still sends so that
      // closing does not reset the connection before it read the response.
      if (!c.shut && pending(c) == 0) {
        ::shutdown(c.fd, SHUT_WR);
        c.shut = true;
      }
      if (!read_some(c) || c.peer_eof || gone(c)) close_conn(id);
      return;
    }
    // Reading.
    if (!read_some(c)) return close_conn(id);
    if (!c.in.empty()) {
      HttpRequest req;
      ParseResult pr = parse_http_request(c.in, sh_.opts.limits, &req);
      if (pr.status == ParseResult::Status::Done) {
        c.in.erase(0, pr.consumed);
        c.request_start = Clock::now();
        c.expect_sent = false;
        req.remote = c.remote;
        dispatch(c, std::move(req));
        if (conns_.count(id) == 0) return;
        continue;  // answered inline (health): the next pipelined request, if any
      }
      if (pr.status == ParseResult::Status::Error) {
        std::fprintf(stderr, "%s \"- -\" %d (%s)\n", c.remote.c_str(), pr.http_status, pr.message.c_str());
        respond_error(c, pr.http_status, pr.message, true);
        continue;
      }
      if (!c.expect_sent && head_complete(c.in)) {  // answer "Expect: 100-continue" once the head is in
        std::string head = c.in.substr(0, c.in.find("\r\n\r\n") + 2);
        for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (head.find("\r\nexpect: 100-continue\r\n") != std::string::npos) {
          std::lock_guard lk(c.ex->mu);
          c.ex->out.append("HTTP/1.1 100 Continue\r\n\r\n");
          c.ex->flush_locked();
        }
        c.expect_sent = true;
      }
    }
    if (c.peer_eof) {  // half-closed: everything it sent is answered; an unfinished request is dropped
      c.in.clear();
      c.st = St::Closing;
      continue;
    }
    if (c.in.empty() && sh_.stopping.load() && c.served) {  // idle at shutdown
      c.st = St::Closing;
      continue;
    }
    return update_idle(c);
  }
}

void IoLoop::dispatch(Conn& c, HttpRequest req) {
  const auto& o = sh_.opts;
  bool priority = std::find(o.priority_paths.begin(), o.priority_paths.end(), req.path) != o.priority_paths.end();
  c.served = true;
  if (c.reserve && !priority) {  // reserve slots are for health checks only
    respond_error(c, 503, "too many open connections; only health checks are answered now", false);
    return;
  }
  bool keep = req.keep_alive && !sh_.stopping.load() && !c.reserve;  // a half-closed peer still gets pipelined answers
  {
    std::lock_guard lk(c.ex->mu);
    c.ex->want_space = false;
  }
  auto run = [ex = c.ex, keep, &handler = sh_.handler, &error_body = sh_.error_body](const HttpRequest& r) {
    HttpResponder res(ex, keep);
    try {
      handler(r, res);
    } catch (const std::exception& e) {
      IGNIS_LOG(Error, "server: handler error for {} {}: {}", r.method, r.path, e.what());
      if (!res.sent()) res.send(500, "application/json", error_body(500, e.what()));
      res.force_close();
    } catch (...) {
      if (!res.sent()) res.send(500, "application/json", error_body(500, "unknown error"));
      res.force_close();
    }
    if (!res.sent()) res.send(500, "application/json", error_body(500, "no response produced"));
    return res.keep_alive();
  };
  if (priority) {  // cheap and never waits: answered here, so it works however busy the workers are
    finish_response(c, run(req));
    return;
  }
  c.st = St::Busy;
  update_idle(c);
  sh_.pool.submit([run, req = std::move(req), loop = this, id = c.id] { loop->post_done(id, run(req)); }, c.ex->waiter);
}

void IoLoop::respond_error(Conn& c, int status, const std::string& message, bool drain) {
  HttpResponder res(c.ex, false);
  std::vector<std::pair<std::string, std::string>> extra;
  if (status == 503) extra.emplace_back("Retry-After", "1");
  res.send(status, "application/json", sh_.error_body(status, message), extra);
  c.in.clear();
  c.st = drain ? St::Draining : St::Closing;
  c.drain_deadline = Clock::now() + std::chrono::milliseconds(kDrainMs);
}

void IoLoop::finish_response(Conn& c, bool keep_alive) {
  if (c.fd < 0 || gone(c)) return close_conn(c.id);
  c.st = keep_alive && !sh_.stopping.load() ? St::Reading : St::Closing;
  c.since = Clock::now();
  c.request_start = c.since;
  advance(c);
}

void IoLoop::give_up(Conn& c) {
  {
    std::lock_guard lk(c.ex->mu);
    c.ex->gone = true;
    c.ex->fd = -1;
  }
  if (c.fd >= 0) {
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.ex->waiter->wake();
}

void IoLoop::close_conn(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (c.idle) idle_.erase(c.idle_it);
  give_up(c);
  {
    std::lock_guard lk(sh_.mu);
    sh_.total--;
    if (--sh_.per_addr[c.addr] <= 0) sh_.per_addr.erase(c.addr);
    if (c.reserve) sh_.reserve_used--;
  }
  sh_.cv.notify_all();
  conns_.erase(it);
}

void IoLoop::update_idle(Conn& c) {
  // Reserve connections are not evictable: they exist because nothing else was.
  bool idle = c.st == St::Reading && c.in.empty() && c.fd >= 0 && !c.reserve;
  if (idle == c.idle) return;
  c.idle = idle;
  if (idle) {
    c.since = Clock::now();
    c.idle_it = idle_.insert(idle_.end(), c.id);
  } else {
    idle_.erase(c.idle_it);
  }
}

void IoLoop::tick() {
  const auto& o = sh_.opts;
  auto now = Clock::now();
  auto ms = [&](Clock::time_point t) { return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count(); };
  if (!listening_ && relisten_at_ != Clock::time_point{} && now >= relisten_at_ && !sh_.stopping.load()) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListener;
    listening_ = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, sh_.listen_fd, &ev) == 0;
    relisten_at_ = {};
  }
  std::vector<uint64_t> close_ids, late;
  for (auto& [id, cp] : conns_) {
    Conn& c = *cp;
    St st = c.st;
    if (st == St::Reading && pending(c) > 0) st = St::Closing;  // the last response is still going out
    switch (st) {
      case St::Reading:
        if (c.in.empty()) {
          // A new connection must send its request head within the header timeout; between
          // requests the keep-alive timeout applies.
          int64_t limit = c.served ? o.keep_alive_timeout_ms : o.header_timeout_ms;
          if (ms(c.since) > limit) close_ids.push_back(id);
        } else if (!head_complete(c.in) ? ms(c.request_start) > o.header_timeout_ms
                                        : ms(c.request_start) > o.read_timeout_ms) {
          late.push_back(id);
        }
        break;
      case St::Busy:
      case St::Closing: {
        std::lock_guard lk(c.ex->mu);
        if (c.ex->pending_locked() > 0 && c.ex->stalled_since != Clock::time_point{} &&
            ms(c.ex->stalled_since) > o.write_timeout_ms)
          close_ids.push_back(id);  // too slow to read its response
        break;
      }
      case St::Draining:
        if (now > c.drain_deadline) close_ids.push_back(id);
        break;
    }
  }
  for (uint64_t id : late) {
    sh_.timed_out++;
    respond_error(*conns_.at(id), 408, "request not received in time", false);
    advance(*conns_.at(id));
  }
  for (uint64_t id : close_ids) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    if (it->second->st == St::Reading) sh_.timed_out++;
    if (it->second->st == St::Busy) give_up(*it->second);  // its handler sees the client gone
    else close_conn(id);
  }
}

}  // namespace ignis::server::detail
