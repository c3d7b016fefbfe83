// ignis server (internal): one I/O thread. It owns its connections (non-blocking sockets in
// one epoll set): accepts with admission (limits, eviction of the oldest idle connection, a
// reserve for health checks), reads and parses requests, hands each complete request to the
// worker pool (or answers a health check itself), flushes buffered responses on EPOLLOUT, sees
// resets and errors, and enforces the header / read / keep-alive / write timeouts.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/http.h"
#include "server/http_exchange.h"
#include "server/http_workers.h"

namespace ignis::server::detail {

// What all loops of one HttpServer share (owned by the HttpServer, outlives the loops).
struct LoopShared {
  LoopShared(const HttpServerOptions& o, const HttpHandler& h, const HttpErrorBody& e, WorkerPool& p, int fd,
             const std::atomic<bool>& s)
      : opts(o), handler(h), error_body(e), pool(p), listen_fd(fd), stopping(s) {}
  const HttpServerOptions& opts;
  const HttpHandler& handler;
  const HttpErrorBody& error_body;
  WorkerPool& pool;
  int listen_fd;
  const std::atomic<bool>& stopping;
  // Admission bookkeeping across loops.
  std::mutex mu;
  std::condition_variable cv;  // notified when a connection closes and when a loop acks a stop
  std::unordered_map<std::string, int> per_addr;  // under mu
  int total = 0;                                  // under mu
  int reserve_used = 0;                           // under mu
  int stop_acks = 0;                              // under mu
  std::atomic<int64_t> evicted{0}, refused{0}, timed_out{0};
};

class IoLoop {
 public:
  IoLoop(LoopShared& shared, int index);
  ~IoLoop();  // PRECOND: shutdown() posted; joins (the thread exits once every handler returned)
  void start();
  void post_stop_accepting();  // unlist the listener, close idle connections, then ack
  void post_shutdown();        // every client is gone: handlers are woken, sockets closed
  void post_done(uint64_t conn, bool keep_alive);  // a handler returned (any thread)

 private:
  using Clock = std::chrono::steady_clock;
  enum class St { Reading, Busy, Closing, Draining };
  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    std::string remote, addr;  // "ip:port", "ip"
    std::shared_ptr<Exchange> ex;
    std::string in;
    St st = St::Reading;
    bool reserve = false, peer_eof = false, read_pending = true, expect_sent = false, served = false, shut = false;
    Clock::time_point since, request_start, drain_deadline;
    bool idle = false;
    std::list<uint64_t>::iterator idle_it;
  };
  struct Msg {
    enum class Kind { Done, StopAccepting, Shutdown } kind;
    uint64_t conn = 0;
    bool keep_alive = false;
  };

  void run();
  void post(Msg m);
  void on_messages();
  void accept_all();
  void admit(int fd, std::string remote, std::string addr);
  bool evict_idle(const std::string* addr);
  void on_event(uint64_t id, uint32_t events);
  void advance(Conn& c);
  bool read_some(Conn& c);
  void dispatch(Conn& c, HttpRequest req);
  void respond_error(Conn& c, int status, const std::string& message, bool drain);
  void finish_response(Conn& c, bool keep_alive);
  void give_up(Conn& c);  // the client is gone: close the socket, wake its handler
  void close_conn(uint64_t id);
  void update_idle(Conn& c);
  void tick();
  size_t pending(Conn& c);
  bool gone(Conn& c);

  LoopShared& sh_;
  const int index_;
  int epfd_ = -1, efd_ = -1;
  bool listening_ = false, shutting_down_ = false;
  Clock::time_point relisten_at_{};
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::list<uint64_t> idle_;  // front = idle longest
  uint64_t next_id_ = 2;      // 0: the listener, 1: the eventfd
  std::mutex mu_;
  std::vector<Msg> msgs_;  // under mu_
  std::thread thread_;
};

}  // namespace ignis::server::detail
