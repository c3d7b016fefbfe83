// ignis model/cpu: one projection of the CPU reference. The weight is kept dequantized in fp32
// (exactly code * scale for FP8, (code - zero) * scale for integer weight-only); forward
// fake-quantizes a copy of the input as the LinearSpec says (the same arithmetic as the GPU's FP8
// producers, quant/quantize.h) and runs cpu::linear. Every
// projection of CpuModel goes through here, so each precision scheme has one CPU definition.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/linear_weights.h"
#include "quant/scheme.h"

namespace ignis::cpu {

class Linear {
 public:
  Linear() = default;
  // From a HostLinear (dense parts converted to fp32, FP8 / integer dequantized); bias (n) or empty.
  Linear(const HostLinear& h, std::vector<float> bias);
  // A dense fp32 projection (w (n, k) row-major), e.g. tied embeddings as lm_head.
  Linear(std::string name, std::vector<float> w, int64_t n, int64_t k, std::vector<float> bias);

  // y (m, n) = fake_quant(x) (m, k) . w (n, k)^T + bias. Uses a scratch buffer of the object: one
  // call at a time (as the model's forward).
  void forward(float* y, const float* x, int m) const;

  // Tensor-parallel shards (model/parallel_model.h), cut from the dequantized fp32 weight, so a
  // shard computes exactly the rows / columns of the whole projection. select_rows: the output rows
  // [b, e) of every range, stacked (bias likewise): a column-parallel shard. select_cols: the input
  // columns [b, e) (bias kept when keep_bias): a row-parallel shard (see set_row_amax_reduce).
  Linear select_rows(const std::vector<std::pair<int64_t, int64_t>>& ranges, const std::string& what) const;
  Linear select_cols(int64_t b, int64_t e, bool keep_bias, const std::string& what) const;
  // A row-parallel shard with a dynamic input scale (per token or per group) needs each (row,
  // group)'s amax over every rank's columns: forward hands `reduce` its local amaxes (m x groups of
  // the whole input; 0 where it has no column) to turn into the ranks' maxima in place.
  using RowAmaxReduce = std::function<void(float* amax, int count)>;
  void set_row_amax_reduce(RowAmaxReduce reduce) { row_amax_reduce_ = std::move(reduce); }

  const std::string& name() const { return name_; }
  const LinearSpec& spec() const { return spec_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  float input_scale() const { return input_scale_; }
  const std::vector<float>& weight() const { return w_; }  // (n, k) fp32
  const std::vector<float>& bias() const { return bias_; }  // (n) or empty

 private:
  std::string name_;
  LinearSpec spec_;
  int64_t n_ = 0, k_ = 0;
  int64_t col0_ = 0, full_k_ = 0;  // a row-parallel shard: its first column of the whole input, and k of the whole
  std::vector<float> w_;     // (n, k)
  std::vector<float> bias_;  // (n) or empty
  float input_scale_ = 0;    // ActScale::StaticTensor
  mutable std::vector<float> xq_;  // (m, k) fake-quantized input
  RowAmaxReduce row_amax_reduce_;  // set on row-parallel shards with dynamic per-token input scales
};

}  // namespace ignis::cpu
