// ignis server: HttpServer: the listening socket, starting and stopping the I/O loops and the
// handler workers (see http.h for the threads and the shutdown order).
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "server/http.h"
#include "server/http_loop.h"
#include "server/http_workers.h"

namespace ignis::server {

HttpServer::HttpServer(HttpServerOptions opts, HttpHandler handler, HttpErrorBody error_body)
    : opts_(std::move(opts)), handler_(std::move(handler)), error_body_(std::move(error_body)) {
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  IGNIS_CHECK(stop_fd_ >= 0, "server: eventfd failed: {}", std::strerror(errno));
}

HttpServer::~HttpServer() {
  stop_accepting();
  {  // serve() may still be returning on another thread
    std::unique_lock lk(serve_mu_);
    serve_cv_.wait(lk, [&] { return !serving_; });
  }
  // Shutdown order: every connection is given up (its handler sees the client gone and
  // returns), each loop exits once its handlers have all reported back, then the workers (all
  // fibers returned) are joined. Nothing of ours runs after this.
  for (auto& l : loops_) l->post_shutdown();
  loops_.clear();
  pool_.reset();
  shared_.reset();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void HttpServer::listen() {
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
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 4096) == 0) {
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
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);  // async-signal-safe
}

void HttpServer::stop_accepting() {
  stopping_ = true;
  request_stop();
}

void HttpServer::serve() {
  IGNIS_CHECK(listen_fd_ >= 0, "server: serve() before listen()");
  {
    std::lock_guard lk(serve_mu_);
    IGNIS_CHECK(!serving_ && loops_.empty(), "server: serve() called twice");
    serving_ = true;
  }
  int workers = opts_.worker_threads > 0 ? opts_.worker_threads
                                         : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 2u, 8u));
  pool_ = std::make_unique<detail::WorkerPool>(workers, opts_.handler_stack_bytes);
  shared_ = std::make_unique<detail::LoopShared>(opts_, handler_, error_body_, *pool_, listen_fd_, stopping_);
  for (int i = 0; i < std::max(1, opts_.io_threads); i++) loops_.push_back(std::make_unique<detail::IoLoop>(*shared_, i));
  for (auto& l : loops_) l->start();
  for (;;) {  // the calling thread waits for a stop
    pollfd p{stop_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 1000);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 || stopping_.load()) break;
  }
  stopping_ = true;
  for (auto& l : loops_) l->post_stop_accepting();
  {
    std::unique_lock lk(shared_->mu);
    shared_->cv.wait(lk, [&] { return shared_->stop_acks == static_cast<int>(loops_.size()); });
  }
  {
    std::lock_guard lk(serve_mu_);
    serving_ = false;
  }
  serve_cv_.notify_all();
}

bool HttpServer::wait_idle(std::chrono::milliseconds timeout) {
  if (!shared_) return true;
  std::unique_lock lk(shared_->mu);
  return shared_->cv.wait_for(lk, timeout, [&] { return shared_->total == 0; });
}

int HttpServer::active_connections() const {
  if (!shared_) return 0;
  std::lock_guard lk(shared_->mu);
  return shared_->total;
}

HttpServer::Counters HttpServer::counters() const {
  if (!shared_) return {};
  return {shared_->evicted.load(), shared_->refused.load(), shared_->timed_out.load()};
}

}  // namespace ignis::server
