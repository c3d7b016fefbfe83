#include "model/cpu/linear.h"

#include <cstring>

#include "core/error.h"
#include "model/cpu/matmul.h"
#include "quant/int_quant.h"
#include "quant/quantize.h"

namespace ignis::cpu {

Linear::Linear(const HostLinear& h, std::vector<float> bias)
    : name_(h.name), spec_(h.spec), n_(h.n), k_(h.k), bias_(std::move(bias)) {
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
    : name_(std::move(name)), n_(n), k_(k), w_(std::move(w)), bias_(std::move(bias)) {
  spec_.weight = DType::F32;
  IGNIS_CHECK(int64_t(w_.size()) == n * k, "cpu model: {}: {} weights for ({}, {})", name_, w_.size(), n, k);
}

void Linear::forward(float* y, const float* x, int m) const {
  const float* in = x;
  if (spec_.act != ActScale::None) {
    xq_.resize(size_t(m) * size_t(k_));
    std::memcpy(xq_.data(), x, xq_.size() * sizeof(float));
    fake_quant_activations(xq_.data(), m, k_, spec_, input_scale_);
    in = xq_.data();
  }
  linear(y, in, w_.data(), bias_.empty() ? nullptr : bias_.data(), m, int(n_), int(k_));
}

}  // namespace ignis::cpu
