// ignis core: minimal leveled logging to stderr (thread-safe, one line per call).
#pragma once
#include <fmt/format.h>

#include <string>

namespace ignis {
enum class LogLevel { Debug, Info, Warn, Error };
void set_log_level(LogLevel l);
LogLevel log_level();
void log_line(LogLevel l, const std::string& msg);
}  // namespace ignis

#define IGNIS_LOG(level, ...)                                                      \
  do {                                                                             \
    if (::ignis::LogLevel::level >= ::ignis::log_level())                          \
      ::ignis::log_line(::ignis::LogLevel::level, ::fmt::format(__VA_ARGS__));      \
  } while (0)
