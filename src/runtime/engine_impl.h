// ignis runtime: the engine's private state (engine.cpp: the loop and a plain step;
// engine_spec.cpp: speculative decoding's parts of a step). Engine-thread only, except the
// members marked as shared with client threads.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "model/model.h"
#include "runtime/engine.h"
#include "runtime/stop_matcher.h"
#include "core/worker_pool.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"
#include "spec/policy.h"
#include "spec/proposer.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

namespace ignis {

// Engine-side state of one accepted request.
struct Active {
  std::shared_ptr<RequestHandle> handle;
  GenerateRequest req;
  // Uniform streams, one draw per generated token of a sampled request (greedy draws nothing):
  // the token's own (the target's sampling, the same draws as without speculation), the
  // rejection sampler's acceptance test, and the draft's proposal at that token index. A step
  // peeks at the draws of the token indices it may produce and advances by the tokens it did.
  RequestRng rng, accept_rng, draft_rng;
  std::unique_ptr<StreamDecoder> decoder;  // when detokenizing
  StopMatcher stop;
  std::vector<int32_t> output;
  RequestTimings timings;
  RequestUsage usage;
  bool admitted = false;
  // This step's speculation: the proposer's q per proposal (empty: deterministic), the
  // penalties' output ids (output + proposals) and the peeked uniforms.
  std::vector<float> draft_probs;
  std::vector<const float*> draft_dists;
  std::vector<int32_t> spec_hist;
  std::vector<double> u_main, u_accept, u_draft;
  // A token tree's step (engine_spec.cpp add_tree_rows / verify_tree_seq): whether the proposer
  // observes the rows, depth per row, per-row penalty histories' offsets in spec_hist, and scratch.
  bool draft_observe = false;
  std::vector<int> tree_depth, tree_best, tree_next, tree_path;
  std::vector<size_t> tree_hist_off;
  std::vector<int32_t> tree_row_tokens, tree_src, tree_dst, tree_table;
  std::vector<RowSample> tree_samples;
  // Typical acceptance of this step's tree (SpecConfig::typical_acceptance): each row's children's
  // tokens (typ_off: per row, its range; typ_pos: per node, its place), their probabilities and
  // each row's entropy, as the backend reports them (RowSampling::typical_*; NaN: not reported).
  bool typical = false;
  std::vector<int32_t> typ_tokens;
  std::vector<int> typ_off, typ_pos;
  std::vector<float> typ_probs, typ_entropy, typ_node_prob;
  // Constrained decoding: the parser state after `output` (GenerateRequest::constraint), and this
  // step's allowed-token masks, (rows, mask_words) with rows = 1 or k + 1 (speculative rows).
  std::optional<structured::Matcher> matcher;
  std::vector<uint32_t> masks;

  Active(std::shared_ptr<RequestHandle> h, GenerateRequest r, uint64_t seed);
  // The next n draws of a stream, without consuming them.
  static void peek(const RequestRng& rng, int n, std::vector<double>& out);
  void advance(int produced);  // every stream past `produced` tokens (sampled requests)
};

struct Engine::Impl {
  std::unique_ptr<Model> model;
  EngineConfig cfg;
  std::shared_ptr<const Tokenizer> tok;
  std::unique_ptr<KvCacheManager> kv;
  std::unique_ptr<Scheduler> sched;
  std::vector<int32_t> eos_ids;
  int vocab = 0;

  // Shared with client threads (guarded by mu).
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Active>> incoming;
  bool stopping = false, stopped = false;
  std::mt19937_64 seed_rng;
  std::atomic<uint64_t> next_id{1};
  std::atomic<int> queued{0};  // accepted, not yet admitted once

  mutable std::mutex stats_mu;
  EngineStats stats;

  // Engine thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Active>> active;
  ForwardBatch batch;
  std::thread thread;
  std::vector<RowSampling> sample_rows;  // (logit rows) this step's sampling inputs
  std::vector<RowSample> samples;        // (logit rows) and outputs
  std::vector<int> row_of;               // (plan seqs) first logit row of each scheduled sequence
  std::vector<int> hidden_row_of;        // (plan seqs) first hidden row (ForwardBatch::num_hidden_rows order)
  size_t hidden_count = 0;               // this step's hidden rows (batch.num_hidden_rows())
  int64_t mask_rows = 0, mask_ns = 0;   // fill_mask calls and their time (published as EngineStats::constraint_*)
  int64_t mask_wall_ns = 0;             // the engine thread's wall time in fill_masks()
  std::unique_ptr<WorkerPool> mask_pool;  // EngineConfig::constraint_threads
  std::vector<Active*> mask_jobs;         // this step's plain constrained rows (build_rows), filled together
  std::vector<int64_t> mask_job_ns;

  // Speculative decoding (null proposer = off).
  std::unique_ptr<Proposer> proposer;
  std::unique_ptr<SpecPolicy> policy;
  int spec_max_k = 0;  // the most proposals per sequence per step (spec_max_proposals)
  double spec_propose_s = 0;  // the last propose call's time (the policy's debug log)
  std::function<double()> clock;
  std::vector<SpecPolicy::Candidate> spec_cands;
  std::vector<SchedRequest*> spec_cand_reqs;
  std::vector<int> spec_ks;
  std::vector<SpecSeq> spec_seqs;
  std::vector<ScheduledSeq*> spec_plan_seqs;
  std::vector<Proposal> proposals;
  // A hidden-state proposer's (Medusa, EAGLE): the target's final hidden states of this step's
  // hidden rows (Model::set_hidden_state_sink), (hidden_count, hidden_size).
  bool spec_hidden = false;
  bool typical_warned = false;  // a backend that ignored RowSampling::typical_* was logged once
  std::vector<float> hidden_rows;
  // A proposer that wants every position's hidden state (Proposer::wants_all_hidden_rows, EAGLE):
  // the prefill chunks of requests that may speculate run with all_hidden (no lm_head row for
  // positions nobody samples), and each pass's kept rows go to Proposer::on_hidden_rows.
  bool spec_all_rows = false;
  std::vector<float> hidden_gather;  // a verified tree's accepted rows, gathered

  void loop();
  void step();
  void build_rows(const StepPlan& plan);
  // Fills mask_jobs' row-0 masks, on mask_pool when there are several.
  void fill_masks();
  // Emits n sampled tokens of a sequence whose last chunk ran, one by one (stop conditions after
  // each; a stop ends the request there and drops the rest) in one chunk. The first n_in_sched are
  // already in the scheduler's tokens (accepted proposals); the others are appended.
  // rows: the n consecutive logit rows whose results are the tokens.
  void on_tokens(Active& a, SchedRequest* r, RowSample* rows, int n, int n_in_sched);
  // flush_text: emit text still held by the detokenizer / stop matcher (normal ends).
  void finish(Active& a, FinishReason why, StreamChunk c, const std::string& error = "", bool flush_text = false);
  // Constrained decoding: fills a.masks row `row` (mask_words words) from the matcher's state.
  void fill_mask(Active& a, size_t row);
  // The fill itself, touching only `a` (safe on the mask pool's threads); returns its time in ns.
  int64_t fill_mask_row(Active& a, size_t row) const;
  size_t mask_words() const { return (size_t(vocab) + 31) / 32; }
  void publish_stats();

  // engine_spec.cpp
  void init_speculation(std::unique_ptr<Proposer> p, int num_blocks, int block_size);
  void choose_speculation();       // before planning: SchedRequest::spec_k from the policy
  bool propose(StepPlan& plan);    // after the capacity pass: proposals, set_drafts; true if any
  void add_spec_rows(const ScheduledSeq& s, Active& a, std::vector<RowSampling>& rows);
  // Acceptance, rollback, tokens out: the sequence's logit rows from `row`, hidden rows from `hrow`.
  void verify_seq(const ScheduledSeq& s, Active& a, int row, int hrow);
  void add_tree_rows(const ScheduledSeq& s, Active& a, std::vector<RowSampling>& rows);  // a token tree's rows
  void verify_tree_seq(const ScheduledSeq& s, Active& a, int row, int hrow);
  // Hands a hidden-state proposer hidden row `row`'s state: the row whose token is about to
  // become request r's last (r then holds num_tokens tokens). Call before on_tokens.
  void pass_hidden(const SchedRequest* r, int row, int num_tokens);
  // Hands Proposer::on_hidden_rows the `count` consecutive hidden rows from hidden row `row`: the
  // states at positions first_pos .. first_pos + count - 1 of request r.
  void pass_hidden_rows(const SchedRequest* r, int row, int first_pos, int count);
  // True when request `a`'s prefill chunks run with all_hidden for the proposer.
  bool wants_all_rows(const Active& a) const;
  double now() const { return clock(); }
};

}  // namespace ignis
