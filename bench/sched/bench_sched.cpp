// Scheduler + KV bookkeeping cost per engine step, host only (no model): 256 running
// sequences decoding (one token each per step), plus a variant where new requests keep
// arriving and are prefilled in chunks beside the decodes. Measures exactly the host
// work the engine thread does around model->forward(): batching pass, capacity pass,
// building the ForwardBatch (block tables), committing KV blocks (prefix hashes),
// appending sampled tokens and finishing requests. Target: <= 50 us per step.
//
//   bench_sched [--seqs 256] [--prompt 512] [--steps 2000] [--block 32]
//
// --offline N runs instead the scheduler alone through an offline workload like `ignis bench
// throughput` (N requests of --in prompt and --out generated tokens, all queued at once; a pool of
// --blocks KV blocks, --max-batch sequences, --max-tokens tokens per step, --reserve the scheduler's
// kv_reserve_tokens, default 512 as the CLI) and prints the step count, the preemptions and the
// prefill tokens computed (recomputation after preemption included):
//   bench_sched --offline 1000 --in 2048 --out 128 --blocks 14389 --max-batch 256 --max-tokens 8192
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "model/batch.h"
#include "runtime/batch_builder.h"
#include "sched/scheduler.h"

using namespace ignis;
using bclock = std::chrono::steady_clock;

namespace {

struct Args {
  int seqs = 256, prompt = 512, steps = 2000, block = 32;
  int offline = 0, in = 2048, out = 128, blocks = 14389, max_batch = 256, max_tokens = 8192, reserve = 512;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--seqs") a.seqs = v;
    else if (k == "--prompt") a.prompt = v;
    else if (k == "--steps") a.steps = v;
    else if (k == "--block") a.block = v;
    else if (k == "--offline") a.offline = v;
    else if (k == "--in") a.in = v;
    else if (k == "--out") a.out = v;
    else if (k == "--blocks") a.blocks = v;
    else if (k == "--max-batch") a.max_batch = v;
    else if (k == "--max-tokens") a.max_tokens = v;
    else if (k == "--reserve") a.reserve = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::vector<int32_t> prompt_tokens(int n, uint64_t salt) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = int32_t((uint64_t(i) * 2654435761u + salt * 97) % 32000);
  return t;
}

// The engine's work after model->forward(): KV commit, a token for every sequence whose last chunk
// ran, finishing those at prompt + max_tokens. Returns how many finished.
int end_step(Scheduler& sched, const StepPlan& plan, std::vector<uint64_t>& done) {
  sched.on_step_done(plan);
  done.clear();
  for (const auto& q : plan.seqs) {
    if (!q.last_chunk()) continue;
    sched.append_token(q.req, int32_t((q.req->tokens.size() * 31) % 32000));
    if (int(q.req->tokens.size()) >= q.req->max_total) done.push_back(q.req->id);
  }
  for (uint64_t id : done) sched.finish(id);
  return int(done.size());
}

// Runs `steps` engine-like steps; returns microseconds per step (after a warm-up).
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

// Returns wall microseconds per step; *cpu_us gets this thread's CPU microseconds per
// step (robust when the machine is shared).
double run(const Args& a, bool arrivals, int* out_batch_seqs, int* out_batch_tokens, double* cpu_us) {
  const int max_tokens = a.steps + 4096;  // decodes never hit length during the run
  KvCacheConfig kc;
  kc.block_size = a.block;
  kc.num_blocks = (a.seqs + 16) * ((a.prompt + max_tokens) / a.block + 2);
  kc.kv_bytes_per_token = 128 * 1024;
  KvCacheManager kv(kc);
  SchedulerConfig sc{.max_batch_size = a.seqs + (arrivals ? 8 : 0), .max_num_tokens = a.seqs + 512,
                     .max_model_len = a.prompt + max_tokens + 1};
  Scheduler sched(sc, kv);
  uint64_t next_id = 1;
  for (int i = 0; i < a.seqs; ++i, ++next_id) sched.add(next_id, prompt_tokens(a.prompt, next_id + 1), max_tokens);
  ForwardBatch batch;
  std::vector<uint64_t> done;
  auto one_step = [&](bool add_arrival) {
    if (add_arrival) {  // short: leaves soon
      sched.add(next_id, prompt_tokens(a.prompt, next_id + 1), 4);
      ++next_id;
    }
    StepPlan plan = sched.step();
    build_forward_batch(plan, kv, batch);
    end_step(sched, plan, done);
    return plan;
  };
  // Warm-up: prefill everything until all sequences decode.
  auto all_decoding = [&] {
    if (sched.num_running() < a.seqs) return false;
    for (const SchedRequest* r : sched.running())
      if (r->state != RequestState::Decoding) return false;
    return true;
  };
  for (int i = 0; i < 100000 && !all_decoding(); ++i) one_step(false);
  for (int i = 0; i < 8; ++i) one_step(false);
  int64_t seqs_sum = 0, tokens_sum = 0;
  auto t0 = bclock::now();
  const double c0 = thread_cpu_us();
  for (int i = 0; i < a.steps; ++i) {
    StepPlan p = one_step(arrivals && i % 4 == 0);
    seqs_sum += int64_t(p.seqs.size());
    tokens_sum += p.num_tokens;
  }
  double us = std::chrono::duration<double, std::micro>(bclock::now() - t0).count() / a.steps;
  *cpu_us = (thread_cpu_us() - c0) / a.steps;
  *out_batch_seqs = int(seqs_sum / a.steps);
  *out_batch_tokens = int(tokens_sum / a.steps);
  return us;
}

// The offline workload through the scheduler alone (see the header).
void offline(const Args& a) {
  KvCacheConfig kc;
  kc.block_size = a.block;
  kc.num_blocks = a.blocks;
  kc.kv_bytes_per_token = 128 * 1024;
  KvCacheManager kv(kc);
  SchedulerConfig sc{.max_batch_size = a.max_batch, .max_num_tokens = a.max_tokens, .max_model_len = a.in + a.out + 1};
  sc.kv_reserve_tokens = a.reserve;
  Scheduler sched(sc, kv);
  for (int i = 0; i < a.offline; ++i) sched.add(uint64_t(i + 1), prompt_tokens(a.in, uint64_t(i + 1)), a.out);
  ForwardBatch batch;
  std::vector<uint64_t> done;
  int64_t steps = 0, prefill_tokens = 0, decode_tokens = 0, mixed_steps = 0, finished = 0, running_sum = 0;
  while (finished < a.offline) {
    StepPlan plan = sched.step();
    if (plan.seqs.empty()) {
      std::fprintf(stderr, "offline: no progress at step %lld\n", (long long)steps);
      std::exit(1);
    }
    build_forward_batch(plan, kv, batch);
    bool any_prefill = false;
    for (const auto& q : plan.seqs) {  // prompt positions (computed first or again), then the rest
      const int prompt = std::clamp(a.in - q.num_cached, 0, q.num_tokens);
      prefill_tokens += prompt;
      decode_tokens += q.num_tokens - prompt;
      any_prefill = any_prefill || prompt > 0;
    }
    mixed_steps += any_prefill;
    running_sum += int64_t(plan.seqs.size());
    finished += end_step(sched, plan, done);
    ++steps;
  }
  const double ideal = double(a.offline) * (a.in + a.out - 1);  // the last token is never fed back
  std::printf("offline %d x %d/%d, %d blocks of %d, batch %d, %d tokens/step, reserve %d: %lld steps (%lld with "
              "prompt tokens), mean %.1f sequences/step, %lld preemptions, %lld tokens computed = %.3f x the "
              "minimum (prompt tokens %lld)\n",
              a.offline, a.in, a.out, a.blocks, a.block, a.max_batch, a.max_tokens, a.reserve, (long long)steps,
              (long long)mixed_steps, double(running_sum) / double(steps), (long long)sched.num_preemptions(),
              (long long)(prefill_tokens + decode_tokens), double(prefill_tokens + decode_tokens) / ideal,
              (long long)prefill_tokens);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  if (a.offline > 0) {
    offline(a);
    return 0;
  }
  int bs = 0, bt = 0;
  double cpu = 0;
  double decode_us = run(a, false, &bs, &bt, &cpu);
  std::printf("sched+kv per step, %d running decodes (prompt %d, block %d): %.2f us/step wall, %.2f us/step CPU "
              "(batch %d seqs, %d tokens)\n",
              a.seqs, a.prompt, a.block, decode_us, cpu, bs, bt);
  const double decode_cpu = cpu;
  double mixed_us = run(a, true, &bs, &bt, &cpu);
  std::printf("sched+kv per step, %d decodes + arriving %d-token prompts (chunked): %.2f us/step wall, %.2f us/step "
              "CPU (batch %d seqs, %d tokens)\n",
              a.seqs, a.prompt, mixed_us, cpu, bs, bt);
  std::printf("target <= 50 us/step (decode, CPU time): %s\n", decode_cpu <= 50.0 ? "met" : "NOT met");
  return 0;
}
