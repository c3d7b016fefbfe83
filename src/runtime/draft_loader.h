// ignis runtime: loading the draft model of draft-target speculative decoding
// (--speculative-model DIR): on the target's device, with the target's load options, after
// checking that it shares the target's tokenizer. Target and draft KV pools have the same
// number of blocks (the draft follows the target's block tables), so the pool size is shared.
#pragma once
#include <filesystem>
#include <memory>

#include "model/model.h"
#include "runtime/model_loader.h"
#include "spec/config.h"
#include "spec/proposer.h"

namespace ignis {

struct LoadedDraft {
  std::unique_ptr<Model> model;
  // Blocks for EngineConfig::kv_num_blocks when every block id holds the target's and the
  // draft's KV: the target's own suggestion shrunk to the same memory.
  int kv_num_blocks = 0;
};

// Throws Error naming both folders when the draft cannot serve the target: a different vocabulary
// size, different bos / eos ids, or (when both folders have tokenizer.json) any token id whose
// text or special flag differs.
void check_draft_tokenizer(const std::filesystem::path& target_dir, const ModelConfig& target,
                           const std::filesystem::path& draft_dir, const ModelConfig& draft);

// Loads the draft from `draft_dir` on the backend `target` runs on (opt as the target was loaded
// with; the CUDA path reuses CudaModel::load with those options) and sizes the shared KV pool:
// target_kv_blocks (the target's load_model suggestion) scaled by target / (target + draft) bytes
// per block, on the GPU recomputed from the memory left once the draft's weights are loaded.
LoadedDraft load_draft_model(const std::filesystem::path& draft_dir, const std::filesystem::path& target_dir,
                             const Model& target, int target_kv_blocks, const ModelLoadOptions& opt,
                             int kv_block_size);

// EAGLE (--speculative eagle --speculative-model DIR): the head (spec/eagle.h load_eagle_head,
// the target's embeddings and lm_head from target_dir) built on the backend `target` runs on, and
// the shared KV pool sized as load_draft_model does.
LoadedDraft load_eagle_draft(const std::filesystem::path& head_dir, const std::filesystem::path& target_dir,
                             const Model& target, int target_kv_blocks, const ModelLoadOptions& opt,
                             int kv_block_size);

// Medusa (--speculative medusa --speculative-model DIR): the heads (spec/medusa.h
// MedusaHeads::load; a shared lm_head read from target_dir) run where the target runs: beside a
// CUDA target, a device copy in its dtype (cuda/medusa_heads.h), else the host reference. On the
// GPU the KV pool is recounted (kv_num_blocks) once the heads' weights took their memory; else
// target_kv_blocks is kept.
struct LoadedMedusa {
  std::unique_ptr<Proposer> proposer;
  int kv_num_blocks = 0;
};
LoadedMedusa load_medusa_proposer(const std::filesystem::path& heads_dir, const std::filesystem::path& target_dir,
                                  const Model& target, const SpecConfig& cfg, int target_kv_blocks,
                                  const ModelLoadOptions& opt, int kv_block_size);

}  // namespace ignis
