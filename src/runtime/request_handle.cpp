// ignis runtime: RequestHandle, the per-request channel between the engine thread
// (producer) and one consumer.
#include "runtime/engine.h"

namespace ignis {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "none";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "?";
}

bool RequestHandle::next(StreamChunk* out, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  auto ready = [&] { return !chunks_.empty(); };
  if (timeout == std::chrono::milliseconds::max()) {
    cv_.wait(lk, ready);
  } else if (!cv_.wait_for(lk, timeout, ready)) {
    return false;
  }
  *out = std::move(chunks_.front());
  chunks_.pop_front();
  return true;
}

bool RequestHandle::finished() const {
  std::lock_guard lk(mu_);
  return finished_;
}

FinishReason RequestHandle::finish_reason() const {
  std::lock_guard lk(mu_);
  return reason_;
}

RequestUsage RequestHandle::usage() const {
  std::lock_guard lk(mu_);
  return usage_;
}

RequestTimings RequestHandle::timings() const {
  std::lock_guard lk(mu_);
  return timings_;
}

void RequestHandle::cancel() {
  std::lock_guard lk(mu_);
  cancel_ = true;
}

bool RequestHandle::cancel_requested() const {
  std::lock_guard lk(mu_);
  return cancel_;
}

void RequestHandle::set_notify(std::function<void()> fn) {
  std::lock_guard lk(mu_);
  notify_ = std::move(fn);
}

void RequestHandle::push(StreamChunk c) {
  std::function<void()> notify;
  {
    std::lock_guard lk(mu_);
    if (finished_) return;  // nothing after the terminal chunk
    if (c.finish != FinishReason::None) {
      finished_ = true;
      reason_ = c.finish;
    }
    chunks_.push_back(std::move(c));
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

void RequestHandle::set_usage(const RequestUsage& u) {
  std::lock_guard lk(mu_);
  usage_ = u;
}

void RequestHandle::set_timings(const RequestTimings& t) {
  std::lock_guard lk(mu_);
  timings_ = t;
}

}  // namespace ignis
