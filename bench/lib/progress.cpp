// ignis bench: stderr progress bar.
#include "bench/lib/progress.h"

#include <unistd.h>

#include <cstdio>

namespace ignis::bench {

Progress::Progress(int total, std::string what, bool enabled)
    : total_(total), what_(std::move(what)), enabled_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() { done(); }

void Progress::add(int n) {
  std::lock_guard<std::mutex> g(mu_);
  count_ += n;
  draw(false);
}

void Progress::done() {
  std::lock_guard<std::mutex> g(mu_);
  if (finished_) return;
  finished_ = true;
  draw(true);
  if (enabled_) std::fputc('\n', stderr);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_ < std::chrono::milliseconds(100) && count_ < total_) return;
  last_ = now;
  const int width = 30;
  const int filled = total_ > 0 ? std::min(width, count_ * width / total_) : width;
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r[%s%s] %d/%d %s  %.1f s", std::string(filled, '#').c_str(),
               std::string(width - filled, ' ').c_str(), count_, total_, what_.c_str(), secs);
  std::fflush(stderr);
}

}  // namespace ignis::bench
