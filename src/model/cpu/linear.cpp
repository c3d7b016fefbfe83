#include "model/cpu/linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "quant/e4m3.h"
#include "model/cpu/matmul.h"
#include "quant/int_quant.h"
#include "quant/quantize.h"

namespace ignis::cpu {

Linear::Linear(const HostLinear& h, std::vector<float> bias)
    : name_(h.name), spec_(h.spec), n_(h.n), k_(h.k), full_k_(h.k), bias_(std::move(bias)) {
  IGNIS_CHECK(bias_.empty() || int64_t(bias_.size()) == n_, "cpu model: {}: bias has {} values for {} outputs", name_,
              bias_.size(), n_);
  w_.resize(size_t(n_ * k_));
  if (spec_.wint()) {
    IGNIS_CHECK(h.wq.n == n_ && h.wq.k == k_, "cpu model: {}: integer weights of ({}, {}) for ({}, {})", name_, h.wq.n,
                h.wq.k, n_, k_);
    dequantize_int(h.wq, w_.data());
    return;
  }
  if (spec_.fp8()) {
    dequantize_weight(h.q, w_.data());
    input_scale_ = h.q.input_scale;
    return;
  }
  size_t off = 0;
  for (const TensorRef* t : h.dense) {
    const size_t n = size_t(t->numel());
    IGNIS_CHECK(off + n <= w_.size(), "cpu model: {}: parts hold more than ({}, {}) values", name_, n_, k_);
    to_f32(t->dtype, t->data, w_.data() + off, n);
    off += n;
  }
  IGNIS_CHECK(off == w_.size(), "cpu model: {}: parts hold {} values, expected ({}, {})", name_, off, n_, k_);
}

Linear::Linear(std::string name, std::vector<float> w, int64_t n, int64_t k, std::vector<float> bias)
    : name_(std::move(name)), n_(n), k_(k), full_k_(k), w_(std::move(w)), bias_(std::move(bias)) {
  spec_.weight = DType::F32;
  IGNIS_CHECK(int64_t(w_.size()) == n * k, "cpu model: {}: {} weights for ({}, {})", name_, w_.size(), n, k);
}

void Linear::forward(float* y, const float* x, int m) const {
  const float* in = x;
  if (spec_.act != ActScale::None) {
    xq_.resize(size_t(m) * size_t(k_));
    std::memcpy(xq_.data(), x, xq_.size() * sizeof(float));
    if (row_amax_reduce_ && (spec_.act == ActScale::DynamicToken || spec_.act == ActScale::DynamicGroup)) {
      // A row-parallel shard: the amax of each (row, group of the whole input) over this shard's
      // columns, reduced over the ranks, gives exactly the scales of the unsharded projection.
      const int64_t g = spec_.act == ActScale::DynamicToken ? full_k_ : int64_t(spec_.act_group);
      IGNIS_CHECK(g > 0, "fake_quant_activations: group size {} must be positive", g);
      const int64_t G = (full_k_ + g - 1) / g;
      std::vector<float> amax(size_t(m) * size_t(G), 0.0f);
      for (int r = 0; r < m; ++r)
        for (int64_t c = 0; c < k_; ++c) {
          float& a = amax[size_t(r) * size_t(G) + size_t((col0_ + c) / g)];
          a = std::max(a, std::fabs(xq_[size_t(r) * size_t(k_) + size_t(c)]));  // NaN ignored, as abs_max
        }
      row_amax_reduce_(amax.data(), int(amax.size()));
      for (int r = 0; r < m; ++r)
        for (int64_t c = 0; c < k_; ++c) {
          const float s = dynamic_scale(amax[size_t(r) * size_t(G) + size_t((col0_ + c) / g)]);
          float& v = xq_[size_t(r) * size_t(k_) + size_t(c)];
          v = e4m3_round(v * (1.0f / s)) * s;
        }
    } else {
      fake_quant_activations(xq_.data(), m, k_, spec_, input_scale_);
    }
    in = xq_.data();
  }
  linear(y, in, w_.data(), bias_.empty() ? nullptr : bias_.data(), m, int(n_), int(k_));
}

Linear Linear::select_rows(const std::vector<std::pair<int64_t, int64_t>>& ranges, const std::string& what) const {
  Linear out = *this;
  out.name_ = name_ + " " + what;
  out.w_.clear();
  out.bias_.clear();
  out.xq_.clear();
  out.n_ = 0;
  for (const auto& [b, e] : ranges) {
    IGNIS_CHECK(0 <= b && b <= e && e <= n_, "cpu model: {}: rows [{}, {}) outside [0, {})", name_, b, e, n_);
    out.w_.insert(out.w_.end(), w_.begin() + b * k_, w_.begin() + e * k_);
    if (!bias_.empty()) out.bias_.insert(out.bias_.end(), bias_.begin() + b, bias_.begin() + e);
    out.n_ += e - b;
  }
  return out;
}

Linear Linear::select_cols(int64_t b, int64_t e, bool keep_bias, const std::string& what) const {
  IGNIS_CHECK(0 <= b && b < e && e <= k_, "cpu model: {}: columns [{}, {}) outside [0, {})", name_, b, e, k_);
  Linear out = *this;
  out.name_ = name_ + " " + what;
  out.k_ = e - b;
  out.col0_ = col0_ + b;
  out.w_.resize(size_t(n_ * out.k_));
  out.xq_.clear();
  for (int64_t r = 0; r < n_; ++r)
    std::memcpy(out.w_.data() + r * out.k_, w_.data() + r * k_ + b, sizeof(float) * size_t(out.k_));
  if (!keep_bias) out.bias_.clear();
  return out;
}

}  // namespace ignis::cpu
