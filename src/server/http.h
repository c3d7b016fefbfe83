// ignis server: a small HTTP/1.1 server over POSIX sockets.
// One thread per open connection (bounded by max_connections); keep-alive;
// Content-Length and chunked request bodies with a size limit; header size limit;
// read timeouts for slow clients; chunked responses for SSE streams with
// client-disconnect detection (a failed write or a reset socket; a half-closed client still
// gets its response, and pipelined requests before its EOF are answered).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
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

// The response side of one request on a connection. Either send() once, or
// begin_stream() + write_chunk()* + end_stream().
class HttpResponder {
 public:
  HttpResponder(int fd, bool keep_alive, int write_timeout_ms) : fd_(fd), keep_alive_(keep_alive), write_timeout_ms_(write_timeout_ms) {}
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

 private:
  bool write_all(std::string_view data);
  std::string head(int status, std::string_view content_type, const std::vector<std::pair<std::string, std::string>>& extra, bool chunked, size_t length);
  int fd_;
  bool keep_alive_;
  int write_timeout_ms_;
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
  int max_connections = 1024;
  int read_timeout_ms = 30000;       // a request must arrive completely within this
  int keep_alive_timeout_ms = 15000; // idle time allowed between requests
  int write_timeout_ms = 30000;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, HttpHandler handler, HttpErrorBody error_body);
  ~HttpServer();
  // Binds and listens; throws Error on failure.
  void listen();
  int port() const { return port_; }
  // Accept loop; returns after stop_accepting(). Runs on the calling thread.
  void serve();
  // Stops accepting new connections (safe from any thread, not from a signal handler:
  // use request_stop() there). Idle keep-alive connections are closed.
  void stop_accepting();
  // Async-signal-safe: wakes the accept loop, which then stops accepting.
  void request_stop();
  bool stopping() const { return stopping_.load(); }
  // Waits until all connection threads have exited or the deadline passes; returns true if idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  int active_connections() const { return active_.load(); }

 private:
  void handle_connection(int fd, std::string remote);
  HttpServerOptions opts_;
  HttpHandler handler_;
  HttpErrorBody error_body_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable idle_cv_;
};

}  // namespace ignis::server
