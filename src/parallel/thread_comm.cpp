#include "parallel/thread_comm.h"

#include <algorithm>
#include <cstring>

namespace ignis::parallel {

class ThreadGroup::Rank : public Communicator {
 public:
  Rank(ThreadGroup* g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->size_; }
  void all_reduce_sum(float* data, size_t count) override { g_->collective(rank_, Op::AllReduce, data, data, count); }
  void all_gather(const float* send, float* recv, size_t count) override {
    g_->collective(rank_, Op::AllGather, send, recv, count);
  }
  void send(const float* data, size_t count, int peer) override { g_->send(rank_, peer, data, count); }
  void recv(float* data, size_t count, int peer) override { g_->recv(rank_, peer, data, count); }
  void barrier() override { g_->collective(rank_, Op::Barrier, nullptr, nullptr, 0); }
  void abort(const std::string& reason) override { g_->abort(fmt::format("rank {}: {}", rank_, reason)); }
  bool aborted() const override { return g_->aborted(); }

 private:
  ThreadGroup* g_;
  int rank_;
};

namespace {
const char* op_name(int op) {
  static const char* names[] = {"none", "all_reduce_sum", "all_gather", "barrier"};
  return names[op];
}
}  // namespace

ThreadGroup::ThreadGroup(int size, ThreadGroupOptions opt)
    : size_(size), opt_(std::move(opt)), present_(size_t(std::max(size, 0)), 0), slots_(size_t(std::max(size, 0))),
      mail_(size_t(std::max(size, 0)) * size_t(std::max(size, 0))) {
  IGNIS_CHECK(size >= 1, "{}: size must be at least 1 (got {})", opt_.name, size);
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(this, r));
}

ThreadGroup::~ThreadGroup() = default;

Communicator& ThreadGroup::comm(int rank) {
  IGNIS_CHECK(rank >= 0 && rank < size_, "{}: rank {} outside [0, {})", opt_.name, rank, size_);
  return *ranks_[size_t(rank)];
}

void ThreadGroup::abort(const std::string& reason) {
  std::lock_guard lk(mu_);
  abort_locked(reason);
}

void ThreadGroup::abort_locked(const std::string& reason) {
  if (!aborted_) {
    aborted_ = true;
    reason_ = reason;
  }
  cv_.notify_all();
}

bool ThreadGroup::aborted() const {
  std::lock_guard lk(mu_);
  return aborted_;
}

void ThreadGroup::reset() {
  std::lock_guard lk(mu_);
  aborted_ = false;
  reason_.clear();
  arrived_ = 0;
  std::fill(present_.begin(), present_.end(), 0);
  std::fill(slots_.begin(), slots_.end(), Slot{});
  for (auto& q : mail_) q.clear();
}

void ThreadGroup::throw_aborted_locked() const { throw CommAborted(fmt::format("{} aborted: {}", opt_.name, reason_)); }

void ThreadGroup::arrive_and_wait(std::unique_lock<std::mutex>& lk, int rank, const char* what) {
  if (aborted_) throw_aborted_locked();
  const uint64_t gen = generation_;
  present_[size_t(rank)] = 1;
  if (++arrived_ == size_) {
    arrived_ = 0;
    std::fill(present_.begin(), present_.end(), 0);
    ++generation_;
    cv_.notify_all();
    return;
  }
  auto done = [&] { return aborted_ || generation_ != gen; };
  if (opt_.timeout.count() > 0) {
    if (!cv_.wait_for(lk, opt_.timeout, done)) {
      std::vector<int> missing;
      for (int r = 0; r < size_; ++r)
        if (!present_[size_t(r)]) missing.push_back(r);
      abort_locked(fmt::format("rank {} waited more than {} ms in {}; rank(s) {} never arrived", rank,
                               opt_.timeout.count(), what, fmt::join(missing, ", ")));
    }
  } else {
    cv_.wait(lk, done);
  }
  if (generation_ == gen) throw_aborted_locked();  // woken by an abort before the phase completed
}

void ThreadGroup::collective(int rank, Op op, const float* src, float* dst, size_t count) {
  const char* what = op_name(int(op));
  std::unique_lock lk(mu_);
  if (aborted_) throw_aborted_locked();
  // The ranks already waiting in this first phase called the same collective (each pair of ranks is
  // compared by the later one; a rank still in the previous collective cannot be present here).
  for (int r = 0; r < size_; ++r) {
    const Slot& s = slots_[size_t(r)];
    if (present_[size_t(r)] && (s.op != op || s.count != count)) {
      abort_locked(fmt::format("ranks out of step: rank {} called {}({}) while rank {} called {}({})", rank, what,
                               count, r, op_name(int(s.op)), s.count));
      throw_aborted_locked();
    }
  }
  slots_[size_t(rank)] = {op, count, src, dst};
  arrive_and_wait(lk, rank, what);
  // The slots stay as they are until the last phase below completes.
  if (op == Op::Barrier) return;
  lk.unlock();
  if (op == Op::AllGather) {
    for (int r = 0; r < size_; ++r)
      if (count) std::memcpy(dst + size_t(r) * count, slots_[size_t(r)].src, sizeof(float) * count);
    lk.lock();
    arrive_and_wait(lk, rank, what);  // nobody reuses its send buffer while another rank copies it
    return;
  }
  // All-reduce: rank r sums chunk r over ranks 0, 1, ... (only rank r touches chunk r of any
  // buffer in this phase) into its own buffer, then copies the other chunks from their owners.
  const size_t chunk = (count + size_t(size_) - 1) / size_t(size_);
  auto range = [&](int r) { return std::pair(std::min(count, size_t(r) * chunk), std::min(count, size_t(r + 1) * chunk)); };
  {
    const auto [b, e] = range(rank);
    for (size_t i = b; i < e; ++i) {
      float s = slots_[0].dst[i];
      for (int r = 1; r < size_; ++r) s += slots_[size_t(r)].dst[i];
      dst[i] = s;
    }
  }
  lk.lock();
  arrive_and_wait(lk, rank, what);
  lk.unlock();
  for (int r = 0; r < size_; ++r) {
    if (r == rank) continue;
    const auto [b, e] = range(r);
    if (e > b) std::memcpy(dst + b, slots_[size_t(r)].dst + b, sizeof(float) * (e - b));
  }
  lk.lock();
  arrive_and_wait(lk, rank, what);  // every copy done before any rank reuses its buffer
}

void ThreadGroup::send(int from, int to, const float* data, size_t count) {
  IGNIS_CHECK(to >= 0 && to < size_ && to != from, "{}: rank {} cannot send to rank {} (size {})", opt_.name, from, to,
              size_);
  std::lock_guard lk(mu_);
  if (aborted_) throw_aborted_locked();
  mail_[size_t(from) * size_t(size_) + size_t(to)].emplace_back(data, data + count);
  cv_.notify_all();
}

void ThreadGroup::recv(int to, int from, float* data, size_t count) {
  IGNIS_CHECK(from >= 0 && from < size_ && to != from, "{}: rank {} cannot receive from rank {} (size {})", opt_.name,
              to, from, size_);
  std::unique_lock lk(mu_);
  auto& q = mail_[size_t(from) * size_t(size_) + size_t(to)];
  auto ready = [&] { return aborted_ || !q.empty(); };
  if (opt_.timeout.count() > 0) {
    if (!cv_.wait_for(lk, opt_.timeout, ready))
      abort_locked(fmt::format("rank {} waited more than {} ms to receive from rank {}", to, opt_.timeout.count(), from));
  } else {
    cv_.wait(lk, ready);
  }
  if (aborted_) throw_aborted_locked();
  if (q.front().size() != count) {
    abort_locked(fmt::format("ranks out of step: rank {} receives {} floats from rank {}, which sent {}", to, count,
                             from, q.front().size()));
    throw_aborted_locked();
  }
  if (count) std::memcpy(data, q.front().data(), sizeof(float) * count);
  q.pop_front();
}

}  // namespace ignis::parallel
