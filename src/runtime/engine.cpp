// ignis runtime: the engine thread. It alone touches the scheduler, the KV manager and
// the model; client threads only enqueue submissions (under mu) and read handles.
#include "runtime/engine.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "kv/kv_cache_manager.h"
#include "model/model.h"
#include "runtime/batch_builder.h"
#include "runtime/stop_matcher.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace ignis {

namespace {

// Engine-side state of one accepted request.
struct Active {
  std::shared_ptr<RequestHandle> handle;
  GenerateRequest req;
  RequestRng rng;
  std::unique_ptr<StreamDecoder> decoder;  // when detokenizing
  StopMatcher stop;
  std::vector<int32_t> output;
  RequestTimings timings;
  RequestUsage usage;
  bool admitted = false;

  Active(std::shared_ptr<RequestHandle> h, GenerateRequest r, uint64_t seed)
      : handle(std::move(h)), req(std::move(r)), rng(seed), stop(req.sampling.stop_strings) {}
};

}  // namespace

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

  void loop();
  void step();
  void on_token(Active& a, SchedRequest* r, SampleResult res);
  std::vector<RowSampling> sample_rows;  // (plan rows) this step's sampling inputs
  std::vector<RowSample> samples;        // (plan rows) and outputs
  // flush_text: emit text still held by the detokenizer / stop matcher (normal ends).
  void finish(Active& a, FinishReason why, StreamChunk c, const std::string& error = "", bool flush_text = false);
  void publish_stats();
};

Engine::Engine(std::unique_ptr<Model> model, EngineConfig cfg, std::shared_ptr<const Tokenizer> tok)
    : impl_(std::make_unique<Impl>()) {
  IGNIS_CHECK(model != nullptr, "engine: no model");
  Impl& m = *impl_;
  m.model = std::move(model);
  m.cfg = cfg;
  m.tok = std::move(tok);
  const ModelConfig& mc = m.model->config();
  m.vocab = mc.vocab_size;
  IGNIS_CHECK(m.vocab > 0, "engine: model vocab_size must be > 0 (got {})", m.vocab);
  IGNIS_CHECK(cfg.kv_block_size >= 1, "engine: kv_block_size must be >= 1 (got {})", cfg.kv_block_size);
  IGNIS_CHECK(cfg.max_queue >= 1, "engine: max_queue must be >= 1 (got {})", cfg.max_queue);

  KvCacheConfig kc;
  kc.block_size = cfg.kv_block_size;
  kc.kv_dtype = m.model->kv_dtype();  // FP8 KV: 1 byte per element
  kc.kv_bytes_per_token = mc.kv_bytes_per_token(kc.kv_dtype);
  kc.sliding_window = mc.sliding_window;
  // Prefix blocks of a sliding-window model are released as the window moves, so a
  // later request could not reuse a whole prefix chain; keep it simple: off.
  kc.enable_prefix_caching = cfg.enable_prefix_caching && mc.sliding_window == 0;
  kc.num_blocks = cfg.kv_num_blocks > 0 ? cfg.kv_num_blocks
                                        : kv_blocks_for_budget(cfg.kv_memory_bytes, kc.kv_bytes_per_token,
                                                               cfg.kv_block_size);
  IGNIS_CHECK(kc.num_blocks >= 1, "engine: KV memory budget {} bytes holds no block of {} tokens ({} bytes/token)",
              cfg.kv_memory_bytes, cfg.kv_block_size, kc.kv_bytes_per_token);
  m.kv = std::make_unique<KvCacheManager>(kc);
  m.model->init_kv_cache(kc.num_blocks, kc.block_size);

  SchedulerConfig sc;
  sc.max_batch_size = cfg.max_batch_size;
  sc.max_num_tokens = cfg.max_num_tokens;
  sc.kv_reserve_tokens = std::max(0, cfg.kv_reserve_tokens);
  sc.max_model_len = cfg.max_model_len > 0 ? cfg.max_model_len
                                            : (mc.max_position_embeddings > 0 ? mc.max_position_embeddings : 1 << 20);
  m.cfg.max_model_len = sc.max_model_len;
  m.cfg.kv_num_blocks = kc.num_blocks;
  m.sched = std::make_unique<Scheduler>(sc, *m.kv);

  for (int e : mc.eos_token_ids) m.eos_ids.push_back(e);
  if (m.tok)
    if (auto e = m.tok->eos_id()) m.eos_ids.push_back(*e);
  m.seed_rng.seed(cfg.seed ? *cfg.seed : std::random_device{}());
  m.stats.kv_blocks_total = kc.num_blocks;
  m.stats.kv_blocks_free = kc.num_blocks;
  m.thread = std::thread([this] { impl_->loop(); });
}

Engine::~Engine() { shutdown(); }

const Model& Engine::model() const { return *impl_->model; }
const EngineConfig& Engine::config() const { return impl_->cfg; }

EngineStats Engine::stats() const {
  std::lock_guard lk(impl_->stats_mu);
  EngineStats s = impl_->stats;
  s.queued = impl_->queued.load();
  return s;
}

std::shared_ptr<RequestHandle> Engine::submit(GenerateRequest req) {
  Impl& m = *impl_;
  const SamplingParams& sp = req.sampling;
  m.sched->check_fits(int(req.prompt_ids.size()), sp.max_tokens);  // const, thread-safe
  for (size_t i = 0; i < req.prompt_ids.size(); ++i)
    IGNIS_CHECK(req.prompt_ids[i] >= 0 && req.prompt_ids[i] < m.vocab,
                "request: prompt token {} at index {} is outside the vocabulary [0, {})", req.prompt_ids[i], i,
                m.vocab);
  validate_sampling_params(sp, m.vocab);
  for (int32_t t : sp.stop_token_ids)
    IGNIS_CHECK(t >= 0 && t < m.vocab, "request: stop_token_ids entry {} is outside the vocabulary [0, {})", t,
                m.vocab);
  bool has_stop_strings = std::any_of(sp.stop_strings.begin(), sp.stop_strings.end(),
                                      [](const std::string& s) { return !s.empty(); });
  IGNIS_CHECK(!has_stop_strings || (m.tok && req.detokenize),
              "request: stop strings need detokenized text (engine has {}tokenizer, detokenize={})",
              m.tok ? "a " : "no ", req.detokenize);

  std::unique_lock lk(m.mu);
  IGNIS_CHECK(!m.stopping, "engine: shut down, request not accepted");
  if (m.queued.load() >= m.cfg.max_queue)
    throw QueueFullError(fmt::format("engine: request queue is full ({} waiting)", m.cfg.max_queue));
  uint64_t seed = sp.seed ? *sp.seed : m.seed_rng();
  uint64_t id = m.next_id++;
  auto h = std::make_shared<RequestHandle>(id);
  auto a = std::make_unique<Active>(h, std::move(req), seed);
  if (m.tok && a->req.detokenize) a->decoder = std::make_unique<StreamDecoder>(*m.tok, a->req.prompt_ids);
  a->timings.arrival = Clock::now();
  a->usage.prompt_tokens = int(a->req.prompt_ids.size());
  h->set_timings(a->timings);
  h->set_usage(a->usage);
  m.incoming.push_back(std::move(a));
  ++m.queued;
  lk.unlock();
  m.cv.notify_one();
  return h;
}

void Engine::shutdown() {
  Impl& m = *impl_;
  {
    std::lock_guard lk(m.mu);
    if (m.stopped) return;
    m.stopping = true;
  }
  m.cv.notify_all();
  if (m.thread.joinable()) m.thread.join();
  // Every accepted request gets a terminal state.
  std::vector<std::unique_ptr<Active>> left;
  {
    std::lock_guard lk(m.mu);
    left = std::move(m.incoming);
    m.incoming.clear();
    m.stopped = true;
  }
  for (auto& a : left) m.active.emplace(a->handle->id(), std::move(a));  // never reached the scheduler
  std::vector<uint64_t> ids;
  for (auto& [id, a] : m.active) ids.push_back(id);
  for (uint64_t id : ids) m.finish(*m.active.at(id), FinishReason::Cancelled, {}, "");
  m.publish_stats();
}

void Engine::Impl::loop() {
  while (true) {
    std::vector<std::unique_ptr<Active>> fresh;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return stopping || !incoming.empty() || !active.empty(); });
      if (stopping) return;
      fresh.swap(incoming);
    }
    for (auto& a : fresh) {
      uint64_t id = a->handle->id();
      sched->add(id, a->req.prompt_ids, a->req.sampling.max_tokens, a->req.priority);
      active.emplace(id, std::move(a));
    }
    try {
      step();
    } catch (const std::exception& e) {
      // Scheduler/KV invariant broken: fail everything rather than crash or hang.
      IGNIS_LOG(Error, "engine: step failed: {}", e.what());
      std::vector<uint64_t> ids;
      for (auto& [id, a] : active) ids.push_back(id);
      for (uint64_t id : ids) finish(*active.at(id), FinishReason::Error, {}, e.what());
    }
    publish_stats();
  }
}

void Engine::Impl::step() {
  // Cancellations first: their blocks return before this step is planned.
  std::vector<uint64_t> cancelled;
  for (auto& [id, a] : active)
    if (a->handle->cancel_requested()) cancelled.push_back(id);
  for (uint64_t id : cancelled) finish(*active.at(id), FinishReason::Cancelled, {});
  if (active.empty()) return;

  StepPlan plan = sched->step();
  {
    std::lock_guard lk(stats_mu);
    stats.preemptions += int64_t(plan.preempted.size());
  }
  if (plan.empty()) {  // nothing runnable (should not happen); avoid spinning hot
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return;
  }
  const auto now = Clock::now();
  int64_t prefill_tokens = 0;
  for (const auto& s : plan.seqs) {
    Active& a = *active.at(s.req->id);
    if (!a.admitted) {
      a.admitted = true;
      --queued;
      a.timings.scheduled = now;
      a.usage.cached_prompt_tokens = std::max(0, s.req->num_cached_prompt);
    }
    if (s.prefill) prefill_tokens += s.num_tokens;
  }

  build_forward_batch(plan, *kv, batch);
  // One sampling row per sequence; a mid-prompt chunk's row is discarded (params null). The
  // uniform draw is taken here, on the engine thread, in step order, so a seed gives the same
  // tokens whichever backend samples.
  sample_rows.resize(plan.seqs.size());
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    RowSampling& r = sample_rows[i];
    r = RowSampling{};
    if (!plan.seqs[i].last_chunk()) continue;
    Active& a = *active.at(plan.seqs[i].req->id);
    const SamplingParams& sp = a.req.sampling;
    r.params = &sp;
    r.u = sp.greedy() ? 0.0 : a.rng.uniform();
    r.prompt_ids = a.req.prompt_ids.data();
    r.n_prompt = a.req.prompt_ids.size();
    r.output_ids = a.output.data();
    r.n_output = a.output.size();
  }
  try {
    model->forward_sample(batch, sample_rows, samples);
    IGNIS_CHECK(samples.size() >= plan.seqs.size(), "engine: model returned {} samples for {} rows", samples.size(),
                plan.seqs.size());
  } catch (const std::exception& e) {
    // The model failed this batch: fail the requests in it, keep serving the others.
    IGNIS_LOG(Error, "engine: forward failed for {} sequences: {}", plan.seqs.size(), e.what());
    for (const auto& s : plan.seqs)
      finish(*active.at(s.req->id), FinishReason::Error, {}, std::string("model forward failed: ") + e.what());
    return;
  }
  sched->on_step_done(plan);
  {
    std::lock_guard lk(stats_mu);
    stats.steps++;
    stats.computed_prefill_tokens += prefill_tokens;
  }
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    if (!s.last_chunk()) continue;  // mid-prompt chunk: its logit row is not needed
    Active& a = *active.at(s.req->id);
    if (!samples[i].error.empty())
      finish(a, FinishReason::Error, {}, "sampling failed: " + samples[i].error);
    else
      on_token(a, s.req, std::move(samples[i].result));
  }
}

void Engine::Impl::on_token(Active& a, SchedRequest* r, SampleResult res) {
  const SamplingParams& sp = a.req.sampling;
  const int32_t tok = res.token;
  sched->append_token(r, tok);
  a.output.push_back(tok);
  const auto now = Clock::now();
  if (a.output.size() == 1) a.timings.first_token = now;
  a.timings.token_times.push_back(now);
  a.usage.completion_tokens = int(a.output.size());

  StreamChunk c;
  c.tokens.push_back(tok);
  if (sp.logprobs >= 0) c.logprobs.push_back({tok, res.logprob, std::move(res.top)});
  {
    std::lock_guard lk(stats_mu);
    stats.generated_tokens++;
  }

  const bool eos = !sp.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), tok) != eos_ids.end();
  const bool stop_id = std::find(sp.stop_token_ids.begin(), sp.stop_token_ids.end(), tok) != sp.stop_token_ids.end();
  if (eos || stop_id) {  // the stop token's own text is not emitted
    finish(a, FinishReason::Stop, std::move(c), "", /*flush_text=*/true);
    return;
  }
  if (a.decoder) {
    auto piece = a.stop.push(a.decoder->push(tok));
    c.text = std::move(piece.text);
    if (piece.stopped) {
      finish(a, FinishReason::Stop, std::move(c));
      return;
    }
  }
  if (int(a.output.size()) >= sp.max_tokens || int(r->tokens.size()) >= sched->config().max_model_len) {
    finish(a, FinishReason::Length, std::move(c), "", /*flush_text=*/true);
    return;
  }
  if (a.output.size() == 1) a.handle->set_timings(a.timings);
  a.handle->set_usage(a.usage);
  a.handle->push(std::move(c));
}

// Sends the terminal chunk (with any text still held back, unless a stop string ended
// the stream), releases the request's blocks and forgets it.
void Engine::Impl::finish(Active& a, FinishReason why, StreamChunk c, const std::string& error, bool flush_text) {
  const uint64_t id = a.handle->id();
  if (a.decoder && flush_text) {
    auto tail = a.stop.push(a.decoder->flush());
    c.text += tail.text;
    if (!tail.stopped) c.text += a.stop.flush();
  }
  if (!a.admitted) --queued;
  c.finish = why;
  c.error = error;
  a.timings.finished = Clock::now();
  a.handle->set_usage(a.usage);
  a.handle->set_timings(a.timings);
  a.handle->push(std::move(c));
  {
    std::lock_guard lk(stats_mu);
    if (why == FinishReason::Cancelled) stats.requests_cancelled++;
    else if (why == FinishReason::Error) stats.requests_error++;
    else stats.requests_finished++;
    stats.prompt_tokens += a.usage.prompt_tokens;
  }
  sched->finish(id);
  active.erase(id);  // `a` is gone from here on
}

void Engine::Impl::publish_stats() {
  KvStats ks = kv->stats();
  std::lock_guard lk(stats_mu);
  stats.running = sched->num_running();
  stats.kv_blocks_total = ks.blocks_total;
  stats.kv_blocks_used = ks.blocks_used;
  stats.kv_blocks_free = ks.blocks_free;
  stats.prefix_cache_queries = ks.prefix_query_tokens;
  stats.prefix_cache_hits = ks.prefix_hit_tokens;
}

}  // namespace ignis
