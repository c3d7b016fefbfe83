// ignis core: one exception type and the CHECK macros every module uses.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace ignis {

// Every user-facing failure (bad file, bad flag, bad request) is an ignis::Error
// whose message says what and where (file, tensor, field). Callers at the edge
// (CLI, HTTP) print it and go on or exit non-zero; nothing below aborts.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

[[noreturn]] void throw_error(const std::string& msg);

}  // namespace ignis

// IGNIS_CHECK(cond, "fmt {}", args...) throws ignis::Error with the formatted message.
#define IGNIS_CHECK(cond, ...)                                   \
  do {                                                           \
    if (!(cond)) ::ignis::throw_error(::fmt::format(__VA_ARGS__)); \
  } while (0)

#define IGNIS_FAIL(...) ::ignis::throw_error(::fmt::format(__VA_ARGS__))
