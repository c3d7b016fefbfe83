// ignis model: `ignis quantize --method awq`: activation-aware weight quantization (AutoAWQ's
// algorithm, Lin et al. 2023) on calibration activations of the dense model, written as an AutoAWQ
// "gemm" folder (config.json quantization_config {quant_method awq, zero_point true, group_size,
// bits 4, version gemm, modules_to_not_convert null}; per projection qweight int32 [k, n/8],
// qzeros int32 [k/g, n/8], scales fp16 [k/g, n]) that ignis, vLLM and transformers load as published.
//
// Per layer and per group of projections sharing an input (q/k/v after input_layernorm, o after v
// when there is one KV head per head, gate/up after post_attention_layernorm, down after up):
//   x_mean = mean |x| per input channel over every calibration token;
//   for alpha in {0, 1/grid, ..., (grid-1)/grid}: s = max(x_mean^alpha, 1e-4), s /= sqrt(max(s) min(s)),
//     loss(alpha) = mean over the kept rows X and every output of (X W^T - X (Q(W diag(s)) diag(1/s))^T)^2
//     with Q the round to nearest with zero points of quant/int_quant.h;
//   the best s multiplies W's columns and divides the previous op (the RMSNorm weight, v_proj's or
//   up_proj's rows), which leaves the dense model's function unchanged; then every projection is
//   rounded to nearest (zero points, group g). alpha = 0 is plain RTN, so the chosen scale never
//   does worse than RTN on the calibration rows. Not done (AutoAWQ's further steps): the clipping
//   search and the loss over the whole attention / MLP block output (here: the projections' outputs).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/weights.h"

namespace ignis {

struct AwqOptions {
  int group_size = 128;
  int grid = 20;        // alphas tried
  int max_rows = 512;   // calibration rows kept per projection input for the loss (x_mean uses all)
  bool progress = true;
};

// Activations of the four layer slots (Qkv, O, GateUp, Down) of every layer.
struct AwqActivations {
  struct Slot {
    int64_t k = 0, rows = 0, seen = 0;
    std::vector<float> x;          // (rows, k) kept rows, evenly spread over the calibration tokens
    std::vector<double> abs_sum;   // (k) sum of |x| over all `seen` rows
    std::vector<float> mean() const;
  };
  std::vector<std::array<Slot, 4>> layers;
};

// Runs the (dense) `model` over the samples with an observer that keeps the rows (CPU backend).
AwqActivations collect_awq_activations(Model& model, const std::vector<std::vector<int32_t>>& samples, int max_rows,
                                       bool progress);

struct AwqSearch {
  std::vector<float> s;             // (k) the chosen scale
  float alpha = 0;
  double loss_rtn = 0, loss = 0;    // loss at alpha 0 and at the chosen alpha
};
// The scale search of one group of projections: w (n, k) fp32 (the group's weights stacked), x (m, k).
AwqSearch awq_search_scale(const float* w, int64_t n, int64_t k, const float* x, int64_t m,
                           const std::vector<float>& x_mean, int group, int grid);

struct AwqReport {
  double loss_rtn = 0, loss = 0;  // summed over every searched group
  int groups = 0;
};
// Writes the AWQ version of the dense checkpoint (in_dir, cfg, ws) to out_dir (created; must not exist or
// be empty) as one model.safetensors. Throws when the group size does not divide a projection's input.
AwqReport write_awq_checkpoint(const std::filesystem::path& in_dir, const std::filesystem::path& out_dir,
                               const ModelConfig& cfg, const WeightStore& ws, const AwqActivations& act,
                               const AwqOptions& opt);

}  // namespace ignis
