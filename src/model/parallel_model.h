// ignis model: tensor and pipeline parallelism on the CPU backend, behind the one Model the engine
// sees. ParallelCpuModel owns tp_size x pp_size CpuModel ranks (CpuShard), each built from the same
// WeightStore (each keeps only its shard; model/parallel_layout.h says what), and one thread per
// rank per step: forward runs every rank on its own thread (ranks communicate through in-process
// ThreadGroups: one tensor-parallel group per stage, one world group for the pipeline's send /
// recv) and returns the last stage's tensor-parallel rank 0's gathered logits. Every rank holds
// its own KV pool (its KV heads of its layers); init_kv_cache / compact_kv go to every rank.
//
// Pipeline micro-batches: a step's sequences are cut into up to `micro_batches` contiguous groups
// run one after the other on every rank; sends are buffered, so stage s runs micro-batch m + 1
// while stage s + 1 runs m. The engine's scheduler is not aware of the pipeline (one step at a time).
//
// Failure: a rank that throws aborts every group; the others' blocked collectives throw
// CommAborted within the condition variable's wake-up, the step ends with the failing rank's
// error (prefixed with its place), the groups are reset and the next step runs normally.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "model/cpu_model.h"

namespace ignis {

namespace parallel {
class ThreadGroup;
}

struct ParallelOptions {
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  int micro_batches = 0;                     // pipeline micro-batches per step (0: pipeline_parallel)
  std::chrono::milliseconds timeout{0};      // a collective waiting longer aborts the step (0: no limit)
};

class ParallelCpuModel : public Model {
 public:
  ParallelCpuModel(const ModelConfig& cfg, const WeightStore& ws, CpuModelOptions opt, ParallelOptions popt);
  ~ParallelCpuModel() override;

  const ModelConfig& config() const override { return cfg_; }
  const char* backend_name() const override { return "cpu"; }
  DType kv_dtype() const override { return ranks_[0]->kv_dtype(); }
  void init_kv_cache(int num_blocks, int block_size) override;
  int kv_block_size() const override { return ranks_[0]->kv_block_size(); }
  int kv_num_blocks() const override { return ranks_[0]->kv_num_blocks(); }
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;
  bool supports_tree() const override { return true; }
  void compact_kv(const std::vector<int32_t>& block_table, const std::vector<int32_t>& src,
                  const std::vector<int32_t>& dst) override;

  int tensor_parallel() const { return popt_.tensor_parallel; }
  int pipeline_parallel() const { return popt_.pipeline_parallel; }
  const CpuModel& rank(int r) const { return *ranks_.at(size_t(r)); }  // r = stage * tensor_parallel + tp rank
  // Tests: called on each rank's thread at the start of its part of every step (may throw: a rank failure).
  void set_rank_hook(std::function<void(int rank)> hook) { hook_ = std::move(hook); }

 private:
  void abort_all(const std::string& reason);

  ModelConfig cfg_;
  ParallelOptions popt_;
  std::vector<std::unique_ptr<parallel::ThreadGroup>> tp_groups_;  // (pipeline_parallel)
  std::unique_ptr<parallel::ThreadGroup> world_;                    // send / recv between stages
  std::vector<std::unique_ptr<CpuModel>> ranks_;                    // (tensor_parallel * pipeline_parallel)
  std::function<void(int)> hook_;
};

}  // namespace ignis
