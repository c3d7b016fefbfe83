// ignis server: a small HTTP/1.1 server over POSIX sockets.
// Event-driven: a few epoll I/O threads own all sockets (non-blocking) and hand complete
// requests to a small pool of workers that run each handler on a fiber, so a waiting stream holds
// no thread. Keep-alive and pipelining; Content-Length and chunked request bodies with a size
// limit; header size limit; header / read / keep-alive / write timeouts; admission limits with
// eviction of idle connections and a reserve for health checks; chunked responses for SSE streams
// with client-disconnect detection (a failed write or a reset socket; a half-closed client still
// gets its response, and pipelined requests before its EOF are answered).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ignis::server {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw request target, e.g. "/v1/models?x=1"
  std::string path;     // target without the query string
  std::string query;    // after '?', "" if none
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // "ip:port" of the client
  bool keep_alive = true;
  // Value of the first header with this (lower-case) name, "" if absent.
  std::string header(std::string_view lower_name) const;
};

// Outcome of parsing one request from the head of a byte buffer.
struct ParseResult {
  enum class Status { Incomplete, Done, Error } status = Status::Incomplete;
  int http_status = 0;    // for Error: 400, 413, 431, 501, 505
  std::string message;    // for Error
  size_t consumed = 0;    // for Done: bytes of the buffer this request used
};

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 8 * 1024 * 1024;
};

// Parses one HTTP/1.x request (head + body) from `buf`. Pure function, used by the
// connection loop and unit-tested directly.
ParseResult parse_http_request(std::string_view buf, const HttpLimits& limits, HttpRequest* out);

const char* http_status_text(int status);

namespace detail {
struct Exchange;
class Waiter;
}  // namespace detail

// The response side of one request on a connection. Either send() once, or
// begin_stream() + write_chunk()* + end_stream(). In the server it is a non-blocking sink: bytes go
// to the socket when it has room and are buffered otherwise (flushed by the I/O loop); only
// write_chunk() may wait, while more than the per-connection buffer limit is pending
// (backpressure). The fd constructor writes directly and blocking (tests, tools).
class HttpResponder {
 public:
  HttpResponder(int fd, bool keep_alive, int write_timeout_ms);
  HttpResponder(std::shared_ptr<detail::Exchange> ex, bool keep_alive);
  ~HttpResponder();
  void send(int status, std::string_view content_type, std::string_view body,
            const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  void begin_stream(int status, std::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  // Returns false once the client is gone (write failed); further writes are no-ops.
  bool write_chunk(std::string_view data);
  void end_stream();
  // True once the peer is gone: a failed write, or a reset / socket error (non-blocking check).
  // A half-closed peer (it sent its request, then shutdown(SHUT_WR)) is not gone.
  bool client_gone();
  bool sent() const { return started_; }
  int status() const { return status_; }
  size_t bytes_sent() const { return bytes_; }
  bool keep_alive() const { return keep_alive_ && !failed_; }
  void force_close() { keep_alive_ = false; }
  // Waiting for something else than the socket (tokens): wait() returns when the function from
  // waker() was called (from any thread, any time since the last wait) or the client went away,
  // or after `timeout`. In the server the handler's fiber yields meanwhile (no thread is held).
  std::function<void()> waker();
  void wait(std::chrono::milliseconds timeout);

 private:
  bool write_all(std::string_view data, bool may_wait);
  std::string head(int status, std::string_view content_type, const std::vector<std::pair<std::string, std::string>>& extra, bool chunked, size_t length);
  int fd_ = -1;
  std::shared_ptr<detail::Exchange> ex_;
  std::shared_ptr<detail::Waiter> waiter_;
  bool keep_alive_;
  int write_timeout_ms_ = 0;
  bool started_ = false, streaming_ = false, failed_ = false;
  int status_ = 0;
  size_t bytes_ = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;
// Formats a protocol-level error (bad request line, 413, 431, ...) as a body.
using HttpErrorBody = std::function<std::string(int status, const std::string& message)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0 = pick a free port (see HttpServer::port())
  HttpLimits limits;
  // Admission. At max_connections (or a client address at max_connections_per_client, 0 = no
  // limit) the oldest idle connection is closed to make room; with none idle, up to
  // reserve_connections more are accepted, answered only on priority_paths (else 503).
  int max_connections = 4096;
  int max_connections_per_client = 1024;
  int reserve_connections = 64;
  int header_timeout_ms = 5000;      // a new connection must send its request head within this
  int read_timeout_ms = 30000;       // a request must arrive completely within this
  int keep_alive_timeout_ms = 15000; // idle time allowed between requests
  int write_timeout_ms = 30000;      // a client that reads nothing for this long is dropped
  // Threads: I/O loops owning the sockets, and handler workers (0 = from the core count).
  int io_threads = 1;
  int worker_threads = 0;
  size_t handler_stack_bytes = 256 * 1024;       // per in-flight request (a fiber's stack)
  size_t max_pending_write_bytes = 256 * 1024;   // per connection; a stream waits above it
  // Cheap handlers that never wait, answered on the I/O thread (and from reserve slots).
  std::vector<std::string> priority_paths = {"/health", "/v2/health/live", "/v2/health/ready"};
};

namespace detail {
struct LoopShared;
class IoLoop;
class WorkerPool;
}  // namespace detail

// Threads: serve() starts opts.io_threads I/O loops and the worker pool, then waits on the
// calling thread for a stop. Ownership: the HttpServer owns the loops (which own connections)
// and the pool (which owns the handlers' fibers); the destructor shuts connections, waits for
// every handler to return, and joins all threads. The handler must not outlive what it uses.
class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, HttpHandler handler, HttpErrorBody error_body);
  ~HttpServer();
  // Binds and listens; throws Error on failure.
  void listen();
  int port() const { return port_; }
  // Runs the server until stop_accepting() / request_stop(); then stops accepting, closes idle
  // connections and returns. In-flight requests continue (their loops and workers keep running).
  void serve();
  // Stops accepting new connections (safe from any thread, not from a signal handler:
  // use request_stop() there). Idle keep-alive connections are closed.
  void stop_accepting();
  // Async-signal-safe: wakes serve(), which then stops accepting.
  void request_stop();
  bool stopping() const { return stopping_.load(); }
  // Waits until every connection has closed or the deadline passes; returns true if idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  int active_connections() const;
  // Admission counters: idle connections closed to make room, connections refused (503),
  // connections closed by a header / read / keep-alive timeout.
  struct Counters {
    int64_t evicted = 0, refused = 0, timed_out = 0;
  };
  Counters counters() const;

 private:
  HttpServerOptions opts_;
  HttpHandler handler_;
  HttpErrorBody error_body_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: request_stop() -> serve()
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex serve_mu_;
  std::condition_variable serve_cv_;
  bool serving_ = false;  // under serve_mu_
  std::unique_ptr<detail::WorkerPool> pool_;
  std::unique_ptr<detail::LoopShared> shared_;
  std::vector<std::unique_ptr<detail::IoLoop>> loops_;
};

}  // namespace ignis::server
