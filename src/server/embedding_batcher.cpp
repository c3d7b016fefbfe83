// ignis server: the /v1/embeddings batcher (see embedding_batcher.h).
#include "server/embedding_batcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace ignis::server {

bool EmbeddingBatcher::Job::done() const {
  std::lock_guard<std::mutex> lk(mu);
  return finished;
}

std::vector<std::vector<float>> EmbeddingBatcher::Job::take() {
  std::lock_guard<std::mutex> lk(mu);
  IGNIS_CHECK(finished, "EmbeddingBatcher::Job::take before the job is done");
  if (error) std::rethrow_exception(error);
  return std::move(vecs);
}

EmbeddingBatcher::EmbeddingBatcher(std::shared_ptr<const Embedder> embedder, EmbeddingBatcherOptions opt,
                                   CallObserver on_call)
    : embedder_(std::move(embedder)), opt_(opt), on_call_(std::move(on_call)) {
  IGNIS_CHECK(embedder_, "EmbeddingBatcher: no embedder");
  opt_.max_batch_inputs = std::max<size_t>(1, opt_.max_batch_inputs);
  opt_.max_batch_tokens = std::max<size_t>(1, opt_.max_batch_tokens);
  thread_ = std::thread([this] { run(); });
}

EmbeddingBatcher::~EmbeddingBatcher() {
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    left.swap(queue_);
    stats_.queued_inputs = 0;
  }
  cv_.notify_all();
  thread_.join();  // the call in progress, if any, finishes and delivers
  for (auto& job : left)
    finish(*job, {}, std::make_exception_ptr(make_api_error(503, "the server is shutting down")));
}

std::shared_ptr<EmbeddingBatcher::Job> EmbeddingBatcher::submit(std::vector<std::vector<int32_t>> seqs,
                                                                std::function<void()> wake) {
  IGNIS_CHECK(!seqs.empty(), "EmbeddingBatcher::submit: no sequences");
  auto job = std::make_shared<Job>();
  for (const auto& s : seqs) job->tokens += s.size();
  job->seqs = std::move(seqs);
  job->wake = std::move(wake);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) throw_api(503, "the server is shutting down");
    if (stats_.queued_inputs > 0 && stats_.queued_inputs + job->seqs.size() > opt_.max_queued_inputs) {
      stats_.refused++;
      throw_api(503, fmt::format("too many embedding inputs waiting ({}, at most {}); retry later",
                                 stats_.queued_inputs, opt_.max_queued_inputs));
    }
    stats_.queued_inputs += job->seqs.size();
    queue_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

bool EmbeddingBatcher::cancel(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it == queue_.end()) return false;
    queue_.erase(it);
    stats_.queued_inputs -= job->seqs.size();
    stats_.cancelled++;
  }
  std::lock_guard<std::mutex> lk(job->mu);
  job->finished = true;
  job->error = std::make_exception_ptr(make_api_error(499, "cancelled: the client went away"));
  return true;
}

EmbeddingBatcher::Stats EmbeddingBatcher::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void EmbeddingBatcher::finish(Job& job, std::vector<std::vector<float>> vecs, std::exception_ptr error) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lk(job.mu);
    job.vecs = std::move(vecs);
    job.error = std::move(error);
    job.finished = true;
    wake = job.wake;
  }
  if (wake) wake();
}

void EmbeddingBatcher::run() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;  // the destructor fails what is queued
      size_t inputs = 0, tokens = 0;
      while (!queue_.empty()) {
        const Job& next = *queue_.front();
        const bool fits = inputs + next.seqs.size() <= opt_.max_batch_inputs && tokens + next.tokens <= opt_.max_batch_tokens;
        if (!batch.empty() && !fits) break;
        inputs += next.seqs.size();
        tokens += next.tokens;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.queued_inputs -= inputs;
    }
    embed_batch(batch);
  }
}

void EmbeddingBatcher::embed_batch(std::vector<std::shared_ptr<Job>>& batch) {
  std::vector<std::vector<int32_t>> seqs;
  for (auto& job : batch) seqs.insert(seqs.end(), job->seqs.begin(), job->seqs.end());
  auto call = [&](const std::vector<std::vector<int32_t>>& in) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<float>> out = embedder_->embed(in);
    IGNIS_CHECK(out.size() == in.size(), "embedding model: {} vectors for {} inputs", out.size(), in.size());
    size_t toks = 0;
    for (const auto& s : in) toks += s.size();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.calls++;
      stats_.inputs += in.size();
      stats_.tokens += toks;
    }
    if (on_call_) on_call_(in.size(), sec);
    return out;
  };
  std::vector<std::vector<float>> vecs;
  bool ok = false;
  std::exception_ptr lone_error;
  try {
    vecs = call(seqs);
    ok = true;
  } catch (...) {
    lone_error = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.requests += batch.size();
  }
  if (!ok && batch.size() == 1) {
    finish(*batch[0], {}, lone_error);
    return;
  }
  if (!ok) {  // find the request(s) that fail: each alone
    for (auto& job : batch) {
      try {
        finish(*job, call(job->seqs), nullptr);
      } catch (...) {
        finish(*job, {}, std::current_exception());
      }
    }
    return;
  }
  size_t at = 0;
  for (auto& job : batch) {
    const size_t n = job->seqs.size();
    std::vector<std::vector<float>> mine(std::make_move_iterator(vecs.begin() + at),
                                         std::make_move_iterator(vecs.begin() + at + n));
    at += n;
    finish(*job, std::move(mine), nullptr);
  }
}

}  // namespace ignis::server
