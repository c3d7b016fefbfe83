// ignis bench: a one-line progress bar on stderr ("[#####     ] 52/100 requests  3.1 s"),
// redrawn at most 10 times a second; silent when disabled or stderr is not a terminal.
#pragma once
#include <chrono>
#include <mutex>
#include <string>

namespace ignis::bench {

class Progress {
 public:
  Progress(int total, std::string what, bool enabled = true);
  ~Progress();
  void add(int n = 1);  // thread-safe
  void done();          // final redraw and newline (idempotent)

 private:
  void draw(bool force);
  std::mutex mu_;
  int total_, count_ = 0;
  std::string what_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace ignis::bench
