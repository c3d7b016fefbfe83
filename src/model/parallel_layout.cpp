#include "model/parallel_layout.h"

#include <algorithm>

#include "core/error.h"

namespace ignis {

std::pair<int64_t, int64_t> split_range(int64_t n, int size, int rank, int64_t align, const char* what) {
  IGNIS_CHECK(size >= 1 && rank >= 0 && rank < size && align >= 1, "split_range: rank {} of {} (align {})", rank, size,
              align);
  const int64_t units = n / align;  // whole units; the remainder goes to the last rank
  IGNIS_CHECK(units >= size, "tensor parallel size {} does not fit {}: {} columns in units of {} give fewer than one "
              "unit per rank", size, what, n, align);
  const int64_t b = units * rank / size * align;
  const int64_t e = rank + 1 == size ? n : units * (rank + 1) / size * align;
  return {b, e};
}

TpLayout tp_layout(const ModelConfig& cfg, int rank, int size, int64_t intermediate_align) {
  IGNIS_CHECK(size >= 1 && rank >= 0 && rank < size, "tensor parallel rank {} of {}", rank, size);
  IGNIS_CHECK(cfg.num_heads % size == 0, "tensor parallel size {} does not divide the model's {} attention heads",
              size, cfg.num_heads);
  IGNIS_CHECK(cfg.num_kv_heads % size == 0 || size % cfg.num_kv_heads == 0,
              "tensor parallel size {} neither divides nor is a multiple of the model's {} KV heads", size,
              cfg.num_kv_heads);
  TpLayout t;
  t.rank = rank;
  t.size = size;
  t.heads = cfg.num_heads / size;
  t.head0 = rank * t.heads;
  if (cfg.num_kv_heads >= size) {
    t.kv_heads = cfg.num_kv_heads / size;
    t.kv_head0 = rank * t.kv_heads;
  } else {  // replicated: the KV head of this rank's query heads
    t.kv_heads = 1;
    t.kv_head0 = t.head0 / (cfg.num_heads / cfg.num_kv_heads);
  }
  std::tie(t.i0, t.i1) = split_range(cfg.intermediate_size, size, rank, std::max<int64_t>(1, intermediate_align),
                                     "the intermediate size");
  std::tie(t.v0, t.v1) = split_range(cfg.vocab_size, size, rank, 1, "the vocabulary");
  for (int r = 0; r < size; ++r) {
    const auto [b, e] = split_range(cfg.vocab_size, size, r, 1, "the vocabulary");
    t.vocab_chunk = std::max(t.vocab_chunk, e - b);
  }
  return t;
}

std::pair<int, int> pp_layers(const ModelConfig& cfg, int stage, int stages) {
  IGNIS_CHECK(stages >= 1 && stages <= cfg.num_layers,
              "pipeline parallel size {} must be between 1 and the model's {} layers", stages, cfg.num_layers);
  IGNIS_CHECK(stage >= 0 && stage < stages, "pipeline stage {} of {}", stage, stages);
  return {int(int64_t(cfg.num_layers) * stage / stages), int(int64_t(cfg.num_layers) * (stage + 1) / stages)};
}

}  // namespace ignis
