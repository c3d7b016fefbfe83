// ignis sched: in-flight batching over the paged KV cache. Each step():
//   1. batching pass  (plan_batch, read-only): picks sequences and token counts within
//      max_batch_size and max_num_tokens — decode tokens of running sequences first,
//      then chunks of partly prefilled ones, then new/preempted ones by (priority, FCFS);
//   2. capacity pass  (fit_capacity): makes KV room for that plan in admission order,
//      preempting the most recently admitted running sequence when blocks run out
//      (never the only one left, so a request that fits the pool alone always runs),
//      and stops admitting waiting ones at the first that does not fit (no skipping, so
//      no starvation).
// Pure host code: no model, no device memory.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "sched/request.h"

namespace ignis {

struct SchedulerConfig {
  int max_batch_size = 64;    // sequences per step (and running at once)
  int max_num_tokens = 2048;  // tokens per step
  int max_model_len = 4096;   // prompt + max_tokens limit
  // Admission keeps free KV blocks for every running request's next kv_reserve_tokens tokens (its
  // remaining prompt included, never beyond prompt + max_tokens), the new one's too; a request is
  // still admitted when nothing runs, and pools with a sliding window ignore it. 0: a request is
  // admitted whenever its first chunk fits, and running requests that outgrow the pool preempt
  // the newest (recomputed later). See docs/ARCHITECTURE.md.
  int kv_reserve_tokens = 0;
};

struct ScheduledSeq {
  SchedRequest* req = nullptr;
  int num_cached = 0;  // tokens already in the KV cache (first new position)
  int num_tokens = 0;  // new tokens this step (for a speculative decode: 1 + num_draft)
  bool prefill = false;  // part of a (re)prefill rather than one decode token
  int num_draft = 0;   // of num_tokens, the trailing proposals (req->draft_tokens) the step verifies
  bool last_chunk() const { return num_cached + num_tokens - num_draft == int(req->tokens.size()); }
};

struct BatchPlan {  // output of the batching pass
  struct Entry {
    SchedRequest* req;
    int num_tokens;     // including num_draft
    int num_draft = 0;  // proposal slots granted (<= req->spec_k)
  };
  std::vector<Entry> running;  // in admission order
  std::vector<Entry> admit;    // waiting ones, in queue order
};

struct StepPlan {  // output of the capacity pass: what the model runs this step
  std::vector<ScheduledSeq> seqs;   // decode tokens first, then prefill chunks
  std::vector<uint64_t> preempted;  // ids preempted this step
  int num_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig cfg, KvCacheManager& kv);

  const SchedulerConfig& config() const { return cfg_; }
  // Throws Error (naming the limit) for a request that can never run: empty prompt,
  // max_tokens < 1, prompt + max_tokens beyond max_model_len or beyond the KV pool.
  void check_fits(int num_prompt, int max_tokens) const;

  // Takes a new request (state Waiting). check_fits() is applied.
  SchedRequest* add(uint64_t id, std::vector<int32_t> prompt, int max_tokens, int priority = 0,
                    uint64_t extra_key = 0);
  SchedRequest* find(uint64_t id);

  StepPlan step();  // batching pass + capacity pass
  BatchPlan plan_batch() const;
  StepPlan fit_capacity(const BatchPlan& plan);

  // After the proposer filled req->draft_tokens (at most num_draft of them) for the speculative
  // sequences of `plan`: their num_draft / num_tokens (and plan.num_tokens) shrink to the proposals
  // made, and KV slots appended for proposals not made are released again.
  void set_drafts(StepPlan& plan);
  // After the model ran `plan`: advances num_computed and commits KV blocks. Speculative
  // sequences (num_draft > 0) are left to commit_drafts.
  void on_step_done(const StepPlan& plan);
  // A speculative sequence's verification ran and its first `num_accepted` proposals were
  // accepted: they are appended to the tokens, num_computed = old length + num_accepted (the KV
  // of rejected positions no longer counts), blocks wholly beyond are released (truncate) and only
  // blocks of accepted, computed tokens are committed. The corrected / bonus token then comes
  // through append_token as for a plain decode. A tree (req->draft_parents): the engine first moves
  // the accepted path's tokens to the front of draft_tokens (and its K/V into place, compact_kv).
  void commit_drafts(const ScheduledSeq& s, int num_accepted);
  // Appends a sampled token to a sequence whose last chunk just ran.
  void append_token(SchedRequest* r, int32_t token);
  // Removes a request in any state, releasing its blocks.
  void finish(uint64_t id);

  int num_waiting() const { return int(waiting_.size()); }
  int num_running() const { return int(running_.size()); }
  int64_t num_preemptions() const { return preemptions_; }
  const std::vector<SchedRequest*>& running() const { return running_; }
  KvCacheManager& kv() { return kv_; }

 private:
  using WaitKey = std::tuple<int, uint64_t>;  // (-priority, arrival)
  void preempt(SchedRequest* r);
  void enqueue(SchedRequest* r);

  SchedulerConfig cfg_;
  KvCacheManager& kv_;
  std::unordered_map<uint64_t, std::unique_ptr<SchedRequest>> all_;
  std::map<WaitKey, SchedRequest*> waiting_;
  std::vector<SchedRequest*> running_;  // admission order, oldest first
  uint64_t next_arrival_ = 0, next_admit_ = 0;
  int64_t preemptions_ = 0;
};

}  // namespace ignis
