#include "model/parallel_model.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "core/error.h"
#include "model/cpu/parallel.h"
#include "parallel/thread_comm.h"

namespace ignis {

ParallelCpuModel::ParallelCpuModel(const ModelConfig& cfg, const WeightStore& ws, CpuModelOptions opt,
                                   ParallelOptions popt)
    : cfg_(cfg), popt_(popt) {
  const int T = popt.tensor_parallel, P = popt.pipeline_parallel;
  IGNIS_CHECK(T >= 1 && P >= 1, "tensor / pipeline parallel sizes must be at least 1 (got {} and {})", T, P);
  IGNIS_CHECK(popt.micro_batches >= 0, "pipeline micro-batches must be >= 0 (got {})", popt.micro_batches);
  tp_layout(cfg, 0, T);  // the sizes' errors before any weight is read
  pp_layers(cfg, 0, P);
  parallel::ThreadGroupOptions go;
  go.timeout = popt.timeout;
  for (int s = 0; s < P; ++s) {
    go.name = fmt::format("tensor parallel group of pipeline stage {}", s);
    tp_groups_.push_back(std::make_unique<parallel::ThreadGroup>(T, go));
  }
  go.name = "pipeline parallel group";
  world_ = std::make_unique<parallel::ThreadGroup>(T * P, go);
  for (int s = 0; s < P; ++s)
    for (int t = 0; t < T; ++t) {
      CpuModelOptions o = opt;
      o.shard.tp_rank = t;
      o.shard.tp_size = T;
      o.shard.tp = &tp_groups_[size_t(s)]->comm(t);
      o.shard.stage = s;
      o.shard.stages = P;
      o.shard.pp = &world_->comm(s * T + t);
      o.shard.prev_rank = s > 0 ? (s - 1) * T + t : -1;
      o.shard.next_rank = s + 1 < P ? (s + 1) * T + t : -1;
      ranks_.push_back(std::make_unique<CpuModel>(cfg, ws, o));
    }
}

ParallelCpuModel::~ParallelCpuModel() = default;

void ParallelCpuModel::init_kv_cache(int num_blocks, int block_size) {
  for (auto& r : ranks_) r->init_kv_cache(num_blocks, block_size);
}

void ParallelCpuModel::compact_kv(const std::vector<int32_t>& table, const std::vector<int32_t>& src,
                                  const std::vector<int32_t>& dst) {
  for (auto& r : ranks_) r->compact_kv(table, src, dst);  // no collectives: each rank moves its own heads / layers
}

void ParallelCpuModel::abort_all(const std::string& reason) {
  for (auto& g : tp_groups_) g->abort(reason);
  world_->abort(reason);
}

void ParallelCpuModel::forward(const ForwardBatch& batch, std::vector<float>& logits) {
  const int T = popt_.tensor_parallel, P = popt_.pipeline_parallel, N = T * P;
  // Pipeline micro-batches: contiguous groups of sequences.
  const int want = P > 1 ? (popt_.micro_batches > 0 ? popt_.micro_batches : P) : 1;
  const int M = std::max(1, std::min<int>(want, int(batch.seqs.size())));
  std::vector<ForwardBatch> mbs;  // M > 1 only (else the batch itself)
  if (M > 1) {
    mbs.resize(size_t(M));
    size_t tok = 0;
    for (int m = 0; m < M; ++m) {
      const size_t b = batch.seqs.size() * size_t(m) / size_t(M), e = batch.seqs.size() * size_t(m + 1) / size_t(M);
      for (size_t i = b; i < e; ++i) {
        const BatchSeq& s = batch.seqs[i];
        IGNIS_CHECK(s.num_tokens >= 0 && tok + size_t(s.num_tokens) <= batch.tokens.size(),
                    "forward: sequences have more new tokens than the batch's {}", batch.tokens.size());
        mbs[size_t(m)].seqs.push_back(s);
        mbs[size_t(m)].tokens.insert(mbs[size_t(m)].tokens.end(), batch.tokens.begin() + long(tok),
                                     batch.tokens.begin() + long(tok + size_t(s.num_tokens)));
        tok += size_t(s.num_tokens);
      }
    }
    IGNIS_CHECK(tok == batch.tokens.size(), "forward: sequences have {} new tokens but the batch has {}", tok,
                batch.tokens.size());
  }

  const size_t n_ranks = size_t(N), n_mbs = size_t(M);
  std::vector<std::vector<std::vector<float>>> out(n_ranks, std::vector<std::vector<float>>(n_mbs));
  std::vector<std::exception_ptr> errs(n_ranks);
  std::vector<uint8_t> secondary(n_ranks, 0);  // failed only because another rank aborted the groups
  const int cores_per_rank = std::max(1, cpu::num_threads() / N);
  auto run_rank = [&](int r) {
    cpu::ThreadCap cap(cores_per_rank);  // the ranks share the cores
    try {
      if (hook_) hook_(r);
      for (int m = 0; m < M; ++m) ranks_[size_t(r)]->forward(M == 1 ? batch : mbs[size_t(m)], out[size_t(r)][size_t(m)]);
    } catch (const parallel::CommAborted& e) {
      errs[size_t(r)] = std::current_exception();
      secondary[size_t(r)] = 1;
      abort_all(e.what());
    } catch (const std::exception& e) {
      errs[size_t(r)] = std::current_exception();
      abort_all(fmt::format("rank {} (pipeline stage {}, tensor parallel rank {}) failed: {}", r, r / T, r % T, e.what()));
    } catch (...) {
      errs[size_t(r)] = std::current_exception();
      abort_all(fmt::format("rank {} (pipeline stage {}, tensor parallel rank {}) failed", r, r / T, r % T));
    }
  };
  {
    std::vector<std::thread> threads;
    threads.reserve(size_t(N - 1));
    for (int r = 1; r < N; ++r) threads.emplace_back(run_rank, r);
    run_rank(0);
    for (auto& t : threads) t.join();
  }
  int failed = -1;
  for (int r = 0; r < N; ++r)
    if (errs[size_t(r)] && (failed < 0 || (secondary[size_t(failed)] && !secondary[size_t(r)]))) failed = r;
  if (failed >= 0) {
    for (auto& g : tp_groups_) g->reset();  // every rank returned: the groups can run the next step
    world_->reset();
    try {
      std::rethrow_exception(errs[size_t(failed)]);
    } catch (const parallel::CommAborted&) {
      throw;
    } catch (const std::exception& e) {
      if (N == 1) throw;
      IGNIS_FAIL("rank {} (pipeline stage {}, tensor parallel rank {}): {}", failed, failed / T, failed % T, e.what());
    } catch (...) {
      IGNIS_FAIL("rank {} (pipeline stage {}, tensor parallel rank {}) failed", failed, failed / T, failed % T);
    }
  }
  const int last = (P - 1) * T;  // the last stage's tensor parallel rank 0
  if (M == 1) {
    logits = std::move(out[size_t(last)][0]);
    return;
  }
  logits.clear();
  for (int m = 0; m < M; ++m) logits.insert(logits.end(), out[size_t(last)][size_t(m)].begin(), out[size_t(last)][size_t(m)].end());
}

}  // namespace ignis
