// ignis server: cross-request batching for POST /v1/embeddings. Requests queue their token
// sequences; one thread runs the encoder, each call taking every queued request that fits its
// limits (continuous batching, as the engine does for generation: an idle batcher starts a lone
// request at once, requests arriving during a call share the next one). The encoder is called
// from this thread only, so a device encoder needs no lock. A call that throws is retried one
// request at a time, so a bad request fails alone. Every accepted request ends: embedded, failed
// with its error, cancelled (its client left before its call began), or failed with 503 when the
// batcher is destroyed while it waits.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/embeddings.h"

namespace ignis::server {

struct EmbeddingBatcherOptions {
  size_t max_batch_inputs = 256;     // sequences per encoder call
  size_t max_batch_tokens = 65536;   // tokens per encoder call (a larger request runs alone)
  size_t max_queued_inputs = 32768;  // sequences waiting; a request beyond it gets 503
};

class EmbeddingBatcher {
 public:
  // One request's sequences and, once done, its vectors or its error.
  class Job {
   public:
    bool done() const;
    // The vectors, in input order; rethrows the request's error. Call once, after done().
    std::vector<std::vector<float>> take();

   private:
    friend class EmbeddingBatcher;
    std::vector<std::vector<int32_t>> seqs;
    size_t tokens = 0;
    std::function<void()> wake;
    mutable std::mutex mu;
    bool finished = false;
    std::vector<std::vector<float>> vecs;
    std::exception_ptr error;
  };

  struct Stats {
    uint64_t calls = 0, inputs = 0, tokens = 0, requests = 0;
    uint64_t cancelled = 0, refused = 0;  // queue full
    size_t queued_inputs = 0;
  };
  // on_call: after each encoder call (its inputs and seconds), e.g. for metrics' histograms; may be empty.
  using CallObserver = std::function<void(size_t inputs, double seconds)>;

  EmbeddingBatcher(std::shared_ptr<const Embedder> embedder, EmbeddingBatcherOptions opt, CallObserver on_call = {});
  ~EmbeddingBatcher();
  EmbeddingBatcher(const EmbeddingBatcher&) = delete;
  EmbeddingBatcher& operator=(const EmbeddingBatcher&) = delete;

  // Queues `seqs` (non-empty); `wake` is called (from the batcher's thread) when the job is done.
  // Throws ApiError 503 when the queue is full or the batcher is stopping.
  std::shared_ptr<Job> submit(std::vector<std::vector<int32_t>> seqs, std::function<void()> wake);
  // The client went away: a job still queued is dropped (true); one already in a call runs to
  // its end and its result is discarded (false).
  bool cancel(const std::shared_ptr<Job>& job);
  Stats stats() const;

 private:
  void run();
  // One encoder call over `batch`; on an exception each job is retried alone.
  void embed_batch(std::vector<std::shared_ptr<Job>>& batch);
  static void finish(Job& job, std::vector<std::vector<float>> vecs, std::exception_ptr error);

  std::shared_ptr<const Embedder> embedder_;
  EmbeddingBatcherOptions opt_;
  CallObserver on_call_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stop_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace ignis::server
