#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace ignis {
namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mu;
}  // namespace
void set_log_level(LogLevel l) { g_level = l; }
LogLevel log_level() { return g_level; }
void log_line(LogLevel l, const std::string& msg) {
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lk(g_mu);
  std::fprintf(stderr, "[ignis %s] %s\n", kNames[int(l)], msg.c_str());
}
}  // namespace ignis
