// ignis runtime: the thread-safe engine API (in-flight batching over a paged KV cache).
// One engine thread owns the scheduler, the KV block manager and the model; callers
// submit requests from any thread and read their results from a RequestHandle.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "sampling/params.h"
#include "spec/config.h"

namespace ignis {

class Model;
class Proposer;
class Tokenizer;
namespace structured {
class CompiledConstraint;
}

using Clock = std::chrono::steady_clock;

struct EngineConfig {
  int max_batch_size = 64;        // sequences per step
  int max_num_tokens = 2048;      // tokens per step (chunked prefill budget)
  int kv_block_size = 32;         // tokens per KV block
  int kv_num_blocks = 0;          // 0 = size from kv_memory_bytes
  int64_t kv_memory_bytes = 256ll << 20;
  int max_queue = 1024;           // bounded queue of waiting requests
  int max_model_len = 0;          // 0 = model's max_position_embeddings
  bool enable_prefix_caching = true;
  int kv_reserve_tokens = 0;      // SchedulerConfig::kv_reserve_tokens (the CLI's --kv-reserve-tokens: 512)
  std::optional<uint64_t> seed;   // engine RNG that seeds requests without a seed (unset = random)
  // KvCacheConfig::block_hash (nullptr = kv_block_hash): tests inject a colliding prefix hash.
  uint64_t (*kv_block_hash)(uint64_t parent, std::span<const int32_t> tokens, uint64_t extra_key) = nullptr;
  // Speculative decoding (docs/ARCHITECTURE.md "Speculative decoding"): the method, K, the n-gram
  // lengths and the policy. Draft needs the proposer (spec::make_proposer with the draft model)
  // passed to the Engine.
  SpecConfig spec;
  // Threads (besides the engine thread) that fill constrained rows' allowed-token masks in
  // parallel when a step has several; -1 = min(4, hardware threads / 4), 0 = engine thread only.
  // Default 0: on the H200 machine (docs/PERF.md, 2026-12-02) 4 threads cut the engine thread's
  // fill time per step only from 0.945 to 0.815 ms at batch 64 (a step waits for its slowest row,
  // and the cost is mostly mask-cache misses, each a walk of the whole vocabulary trie) and TPOT
  // did not improve.
  int constraint_threads = 0;
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct GenerateRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams sampling;
  int priority = 0;  // higher runs first; FCFS within a priority
  bool detokenize = true;
  bool speculative = true;  // false: never speculate for this request (the API's "speculative": false)
  // Its own lookahead (W, N, G), each at most the engine's (--speculative lookahead only; unset =
  // the engine's). Checked at submit (spec/config.h check_lookahead_request).
  LookaheadParams lookahead;
  uint64_t cache_salt = 0;  // prefix-cache namespace: requests share cached KV blocks only with equal salts
  // Constrained decoding (src/structured): null = free. The engine keeps a structured::Matcher for
  // the request, masks every sampling row with its allowed tokens, accepts each generated token,
  // and ends the request with FinishReason::Stop once the matcher is finished() (an end token the
  // constraint allowed, or nothing can follow). Logprobs stay those of the raw logits. Compiled for
  // the engine's tokenizer (a structured::ConstraintCache per tokenizer); its vocabulary must not
  // exceed the model's.
  std::shared_ptr<const structured::CompiledConstraint> constraint;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // top-n alternatives (id, logprob)
};

// One streamed piece of output: new tokens and the text they completed.
struct StreamChunk {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> logprobs;  // one per token when requested
  std::string text;                    // newly safe text (stop strings held back)
  FinishReason finish = FinishReason::None;  // set on the last chunk
  std::string error;                   // when finish == Error
};

struct RequestTimings {
  Clock::time_point arrival, scheduled, first_token, finished;
  std::vector<Clock::time_point> token_times;
};

struct RequestUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
};

// Shared between the engine thread (producer) and one consumer.
class RequestHandle {
 public:
  uint64_t id() const { return id_; }
  // Blocks until a chunk is available or timeout; returns false on timeout.
  // After the chunk with finish != None, no more chunks come.
  bool next(StreamChunk* out, std::chrono::milliseconds timeout = std::chrono::milliseconds::max());
  bool finished() const;
  FinishReason finish_reason() const;
  RequestUsage usage() const;
  RequestTimings timings() const;
  // Asks the engine to cancel; blocks are released at the next step.
  void cancel();
  bool cancel_requested() const;
  // Called (on the engine thread, without the handle's lock) after every push: lets a consumer
  // that multiplexes many handles (the server's event loop) wait without a thread per handle.
  // The function must be cheap and must not call back into this handle.
  void set_notify(std::function<void()> fn);

  // Engine side.
  explicit RequestHandle(uint64_t id) : id_(id) {}
  void push(StreamChunk c);
  void set_usage(const RequestUsage& u);
  void set_timings(const RequestTimings& t);

 private:
  const uint64_t id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamChunk> chunks_;
  std::function<void()> notify_;
  bool finished_ = false;
  bool cancel_ = false;
  FinishReason reason_ = FinishReason::None;
  RequestUsage usage_;
  RequestTimings timings_;
};

struct EngineStats {
  int queued = 0, running = 0;
  int kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_free = 0;
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // in tokens
  int64_t prefix_hash_mismatches = 0;  // cached blocks whose hash matched but whose content did not (not reused)
  int64_t prompt_tokens = 0, generated_tokens = 0, computed_prefill_tokens = 0;
  int64_t requests_finished = 0, requests_cancelled = 0, requests_error = 0;
  int64_t steps = 0, preemptions = 0;
  // Speculative decoding: steps that verified proposals, sequence-steps that did (each yields
  // accepted + 1 tokens), proposals verified and accepted.
  int64_t spec_steps = 0, spec_sequences = 0, spec_proposed_tokens = 0, spec_accepted_tokens = 0;
  int64_t spec_propose_ns = 0;  // engine-thread time in Proposer::propose (drafting, before the verification pass)
  // Constrained decoding: sampling rows masked by a request's constraint and the host time the
  // engine thread spent filling those masks (Matcher::fill_mask, before each step's sampling).
  int64_t constraint_masks = 0, constraint_mask_ns = 0;
  int64_t constraint_mask_wall_ns = 0;  // engine-thread time spent filling them (< mask_ns when filled in parallel)
};

class Engine {
 public:
  // The tokenizer (optional) is used for detokenization and stop strings. The proposer
  // (optional) turns speculative decoding on whatever cfg.spec.method says (tests inject their
  // own); without one, cfg.spec.method ngram builds an NgramProposer, draft is an error.
  Engine(std::unique_ptr<Model> model, EngineConfig cfg, std::shared_ptr<const Tokenizer> tok = nullptr);
  Engine(std::unique_ptr<Model> model, EngineConfig cfg, std::shared_ptr<const Tokenizer> tok,
         std::unique_ptr<Proposer> proposer);  // include spec/proposer.h to call it
  ~Engine();  // shutdown(): every accepted request ends (cancelled if not finished)

  // Throws Error with a clear message if the request can never fit (prompt +
  // max_tokens beyond context or pool) or the queue is full (QueueFullError).
  std::shared_ptr<RequestHandle> submit(GenerateRequest req);
  void cancel(const std::shared_ptr<RequestHandle>& h) { h->cancel(); }
  void shutdown();
  EngineStats stats() const;
  const Model& model() const;
  const EngineConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Thrown by submit() when the bounded queue is full (HTTP 429); other rejections are plain Error (HTTP 400).
class QueueFullError : public Error {
 public:
  using Error::Error;
};

}  // namespace ignis
