// ignis runtime: the engine thread. It alone touches the scheduler, the KV manager and
// the model; client threads only enqueue submissions (under mu) and read handles.
#include "runtime/engine.h"

#include <algorithm>

#include "core/log.h"
#include "runtime/batch_builder.h"
#include "runtime/engine_impl.h"

namespace ignis {

namespace {
// Seeds of a request's acceptance and draft uniform streams, derived from its sampling seed.
constexpr uint64_t kAcceptStream = 0x6a09e667f3bcc909ull, kDraftStream = 0xbb67ae8584caa73bull;
}  // namespace

Active::Active(std::shared_ptr<RequestHandle> h, GenerateRequest r, uint64_t seed)
    : handle(std::move(h)),
      req(std::move(r)),
      rng(seed),
      accept_rng(seed ^ kAcceptStream),
      draft_rng(seed ^ kDraftStream),
      stop(req.sampling.stop_strings) {}

void Active::peek(const RequestRng& rng, int n, std::vector<double>& out) {
  RequestRng copy = rng;
  out.resize(size_t(std::max(n, 0)));
  for (auto& u : out) u = copy.uniform();
}

void Active::advance(int produced) {
  if (req.sampling.greedy()) return;
  for (int i = 0; i < produced; ++i) {
    rng.uniform();
    accept_rng.uniform();
    draft_rng.uniform();
  }
}

Engine::Engine(std::unique_ptr<Model> model, EngineConfig cfg, std::shared_ptr<const Tokenizer> tok)
    : Engine(std::move(model), std::move(cfg), std::move(tok), nullptr) {}

Engine::Engine(std::unique_ptr<Model> model, EngineConfig cfg, std::shared_ptr<const Tokenizer> tok,
               std::unique_ptr<Proposer> proposer)
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
  kc.block_hash = cfg.kv_block_hash;
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
  m.init_speculation(std::move(proposer), kc.num_blocks, kc.block_size);
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
  check_lookahead_request(m.cfg.spec, req.lookahead);
  std::optional<structured::Matcher> matcher;
  if (req.constraint) {
    matcher.emplace(req.constraint);
    IGNIS_CHECK(matcher->vocab_size() <= m.vocab, "request: constraint compiled for {} tokens, the model has {}",
                matcher->vocab_size(), m.vocab);
  }

  std::unique_lock lk(m.mu);
  IGNIS_CHECK(!m.stopping, "engine: shut down, request not accepted");
  if (m.queued.load() >= m.cfg.max_queue)
    throw QueueFullError(fmt::format("engine: request queue is full ({} waiting)", m.cfg.max_queue));
  uint64_t seed = sp.seed ? *sp.seed : m.seed_rng();
  uint64_t id = m.next_id++;
  auto h = std::make_shared<RequestHandle>(id);
  auto a = std::make_unique<Active>(h, std::move(req), seed);
  a->matcher = std::move(matcher);
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
      sched->add(id, a->req.prompt_ids, a->req.sampling.max_tokens, a->req.priority, a->req.cache_salt);
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

  if (proposer) choose_speculation();
  StepPlan plan = sched->step();
  {
    std::lock_guard lk(stats_mu);
    stats.preemptions += int64_t(plan.preempted.size());
  }
  if (proposer)
    for (uint64_t id : plan.preempted) proposer->on_preempted(id);
  if (plan.empty()) {  // nothing runnable (should not happen); avoid spinning hot
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return;
  }
  const auto now_tp = Clock::now();
  int64_t prefill_tokens = 0;
  for (const auto& s : plan.seqs) {
    Active& a = *active.at(s.req->id);
    if (!a.admitted) {
      a.admitted = true;
      --queued;
      a.timings.scheduled = now_tp;
      a.usage.cached_prompt_tokens = std::max(0, s.req->num_cached_prompt);
    }
    if (s.prefill) prefill_tokens += s.num_tokens;
  }
  const bool verify = proposer && propose(plan);

  build_forward_batch(plan, *kv, batch);
  if (spec_all_rows)  // a proposer that reads every position's hidden state: every row of a prefill chunk
    for (size_t i = 0; i < plan.seqs.size(); ++i)
      if (plan.seqs[i].num_draft == 0 && plan.seqs[i].num_tokens > 1 && wants_all_rows(*active.at(plan.seqs[i].req->id)))
        batch.seqs[i].all_hidden = true;
  build_rows(plan);
  const double t0 = proposer ? now() : 0.0;
  // The plain constrained rows' masks are filled while the model runs the pass (Model::forward_sample).
  const BeforeSample fill = [this] { fill_masks(); };
  try {
    if (verify)
      model->forward_verify(batch, sample_rows, samples, fill);
    else
      model->forward_sample(batch, sample_rows, samples, fill);
    IGNIS_CHECK(mask_jobs.empty(), "engine: the {} backend sampled without filling {} constrained rows' masks",
                model->backend_name(), mask_jobs.size());
    IGNIS_CHECK(samples.size() >= sample_rows.size(), "engine: model returned {} samples for {} rows", samples.size(),
                sample_rows.size());
  } catch (const std::exception& e) {
    // The model failed this batch: fail the requests in it, keep serving the others.
    IGNIS_LOG(Error, "engine: forward failed for {} sequences: {}", plan.seqs.size(), e.what());
    for (const auto& s : plan.seqs)
      finish(*active.at(s.req->id), FinishReason::Error, {}, std::string("model forward failed: ") + e.what());
    return;
  }
  if (policy) {
    const double dt = now() - t0;
    const bool debug = LogLevel::Debug >= log_level();
    const double predicted = debug ? policy->target_time(plan.num_tokens) : 0.0;  // before this step joins the fit
    policy->observe_target(plan.num_tokens, dt);
    // The policy's view of this step next to what it cost (IGNIS_LOG_LEVEL=debug at the CLI): predicted
    // rates R(0) and R(k) in tokens/s, the k it chose, the measured target pass and proposer call
    // against their models; a plain step's pass against the target model.
    if (debug && verify) {
      const auto& rates = policy->last_rates();
      const int k = policy->last_k();
      int proposals = 0;
      for (const auto& sq : plan.seqs) proposals += sq.num_draft;
      IGNIS_LOG(Debug, "spec step: {} tokens ({} proposed), {} sequences, k {}, predicted R(0) {:.0f} R(k) {:.0f} tok/s, target {:.3f} ms "
                "(model {:.3f} ms), proposer {:.3f} ms (model {:.3f} ms, {} rounds, {} catch-up tokens)", plan.num_tokens,
                proposals, plan.seqs.size(), k, rates.empty() ? 0.0 : rates[0],
                size_t(k) < rates.size() ? rates[size_t(k)] : 0.0, dt * 1e3, predicted * 1e3, spec_propose_s * 1e3,
                (policy->proposer_time(proposer->last_rounds(), proposals) +
                 policy->proposer_catchup_time(proposer->last_catchup_tokens())) * 1e3,
                proposer->last_rounds(), proposer->last_catchup_tokens());
    } else if (debug) {
      IGNIS_LOG(Debug, "plain step: {} tokens, {} sequences, target {:.3f} ms (model {:.3f} ms)", plan.num_tokens,
                plan.seqs.size(), dt * 1e3, predicted * 1e3);
    }
  }
  sched->on_step_done(plan);
  {
    std::lock_guard lk(stats_mu);
    stats.steps++;
    stats.computed_prefill_tokens += prefill_tokens;
    if (verify) stats.spec_steps++;
  }
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    // A plain sequence's hidden rows end with its logit row's.
    const int last_hrow = hidden_row_of[i] + batch.seqs[i].hidden_rows() - 1;
    if (spec_all_rows && s.num_draft == 0 && wants_all_rows(*active.at(s.req->id))) {
      // Every row of a prefill chunk (all_hidden), or the one row of a plain decode.
      const int count = batch.seqs[i].hidden_rows();
      pass_hidden_rows(s.req, hidden_row_of[i], s.num_cached + s.num_tokens - count, count);
    }
    if (!s.last_chunk()) continue;  // mid-prompt chunk: its logit row is not needed
    Active& a = *active.at(s.req->id);
    const int row = row_of[i];
    if (s.num_draft > 0)
      verify_seq(s, a, row, hidden_row_of[i]);
    else if (!samples[size_t(row)].error.empty())
      finish(a, FinishReason::Error, {}, "sampling failed: " + samples[size_t(row)].error);
    else {
      if (spec_hidden) pass_hidden(s.req, last_hrow, int(s.req->tokens.size()) + 1);
      on_tokens(a, s.req, &samples[size_t(row)], 1, 0);
    }
  }
}

// One sampling row per sequence (a speculative one: one per proposal plus the bonus row); a
// mid-prompt chunk's row is discarded (params null). The uniform draws are taken here, on the
// engine thread, in step order, so a seed gives the same tokens whichever backend samples.
void Engine::Impl::build_rows(const StepPlan& plan) {
  sample_rows.clear();
  mask_jobs.clear();  // a failed forward may have left the previous step's
  row_of.resize(plan.seqs.size());
  hidden_row_of.resize(plan.seqs.size());
  hidden_count = 0;
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    row_of[i] = int(sample_rows.size());
    hidden_row_of[i] = int(hidden_count);
    hidden_count += size_t(batch.seqs[i].hidden_rows());
    Active& a = *active.at(s.req->id);
    if (s.num_draft > 0) {
      add_spec_rows(s, a, sample_rows);
      continue;
    }
    RowSampling& r = sample_rows.emplace_back();
    if (!s.last_chunk()) continue;
    const SamplingParams& sp = a.req.sampling;
    r.params = &sp;
    if (!sp.greedy()) {
      Active::peek(a.rng, 1, a.u_main);
      r.u = a.u_main[0];
    }
    r.prompt_ids = a.req.prompt_ids.data();
    r.n_prompt = a.req.prompt_ids.size();
    r.output_ids = a.output.data();
    r.n_output = a.output.size();
    if (a.matcher) {
      a.masks.resize(mask_words());
      mask_jobs.push_back(&a);
      r.allowed_mask = a.masks.data();  // filled by fill_masks() during the forward pass
    }
  }
}

void Engine::Impl::fill_masks() {
  if (mask_jobs.empty()) return;
  const auto wall0 = Clock::now();
  // Below this many rows the pool's wake-up costs more than it saves.
  constexpr size_t kParallelRows = 4;
  if (mask_jobs.size() >= kParallelRows && !mask_pool) {  // started on first need
    const int hw = int(std::thread::hardware_concurrency());
    mask_pool = std::make_unique<WorkerPool>(cfg.constraint_threads >= 0 ? cfg.constraint_threads
                                                                         : std::min(4, hw / 4));
  }
  mask_job_ns.assign(mask_jobs.size(), 0);
  auto job = [&](size_t i) { mask_job_ns[i] = fill_mask_row(*mask_jobs[i], 0); };
  if (mask_jobs.size() < kParallelRows) {
    for (size_t i = 0; i < mask_jobs.size(); ++i) job(i);
  } else {
    // Each job touches its own request's matcher and mask; the compiled constraint's mask cache is
    // shared and thread-safe (structured/constraint.h). A pool of 0 threads runs them here in order.
    mask_pool->run(mask_jobs.size(), job);
  }
  for (int64_t ns : mask_job_ns) mask_ns += ns;
  mask_rows += int64_t(mask_jobs.size());
  mask_jobs.clear();
  mask_wall_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - wall0).count();
}

int64_t Engine::Impl::fill_mask_row(Active& a, size_t row) const {
  const size_t words = mask_words();
  uint32_t* bits = a.masks.data() + row * words;
  // A tokenizer vocabulary smaller than the model's (padded embeddings): the ids above it stay disallowed.
  const auto t0 = Clock::now();
  std::fill(bits, bits + words, 0u);
  a.matcher->fill_mask(bits);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

void Engine::Impl::fill_mask(Active& a, size_t row) {
  mask_ns += fill_mask_row(a, row);
  ++mask_rows;
}

void Engine::Impl::on_tokens(Active& a, SchedRequest* r, RowSample* rows, int n, int n_in_sched) {
  const SamplingParams& sp = a.req.sampling;
  const auto now_tp = Clock::now();
  const bool had_first = !a.output.empty();
  StreamChunk c;
  for (int t = 0; t < n; ++t) {
    SampleResult& res = rows[t].result;
    const int32_t tok = res.token;
    if (a.matcher && !a.matcher->accept(tok)) {  // the mask allowed it: a broken constraint or backend
      finish(a, FinishReason::Error, std::move(c), fmt::format("sampled token {} is not allowed by the request's constraint", tok));
      return;
    }
    if (t >= n_in_sched) sched->append_token(r, tok);
    a.output.push_back(tok);
    a.advance(1);
    if (a.output.size() == 1) a.timings.first_token = now_tp;
    a.timings.token_times.push_back(now_tp);
    a.usage.completion_tokens = int(a.output.size());
    c.tokens.push_back(tok);
    if (sp.logprobs >= 0) c.logprobs.push_back({tok, res.logprob, std::move(res.top)});
    {
      std::lock_guard lk(stats_mu);
      stats.generated_tokens++;
    }
    const bool eos = !sp.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), tok) != eos_ids.end();
    const bool stop_id =
        std::find(sp.stop_token_ids.begin(), sp.stop_token_ids.end(), tok) != sp.stop_token_ids.end();
    if (eos || stop_id) {  // the stop token's own text is not emitted
      finish(a, FinishReason::Stop, std::move(c), "", /*flush_text=*/true);
      return;
    }
    if (a.decoder) {
      auto piece = a.stop.push(a.decoder->push(tok));
      c.text += piece.text;
      if (piece.stopped) {
        finish(a, FinishReason::Stop, std::move(c));
        return;
      }
    }
    if (a.matcher && a.matcher->finished()) {  // the constraint is complete: nothing more may follow
      finish(a, FinishReason::Stop, std::move(c), "", /*flush_text=*/true);
      return;
    }
    if (int(a.output.size()) >= sp.max_tokens ||
        int(a.req.prompt_ids.size() + a.output.size()) >= sched->config().max_model_len) {
      finish(a, FinishReason::Length, std::move(c), "", /*flush_text=*/true);
      return;
    }
  }
  if (!had_first) a.handle->set_timings(a.timings);
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
  if (proposer) proposer->on_finished(id);
  if (policy) policy->forget(id);
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
  stats.prefix_hash_mismatches = ks.prefix_hash_mismatches;
  stats.constraint_masks = mask_rows;
  stats.constraint_mask_ns = mask_ns;
  stats.constraint_mask_wall_ns = mask_wall_ns;
}

}  // namespace ignis
