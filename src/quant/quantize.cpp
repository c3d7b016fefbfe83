// Host FP8 weight quantization / dequantization and activation fake-quantization.
#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "quant/e4m3.h"

namespace ignis {

namespace detail {
E4m3Table::E4m3Table() {
  for (int i = 0; i < 256; ++i) v[i] = e4m3_to_f32(uint8_t(i));
}
const E4m3Table kE4m3Table;
}  // namespace detail

namespace {

// Runs fn(begin, end) over [0, n) in chunks on up to hardware_concurrency threads; small work
// stays on the caller's thread. Exceptions are rethrown on the caller's thread.
template <typename Fn>
void parallel_rows(int64_t n, int64_t work_per_item, Fn fn) {
  const int64_t kMinWork = int64_t(1) << 18;
  int64_t threads = std::max<int64_t>(1, std::min<int64_t>(std::thread::hardware_concurrency(), 64));
  threads = std::min<int64_t>(threads, std::max<int64_t>(1, n * std::max<int64_t>(1, work_per_item) / kMinWork));
  threads = std::min(threads, n);
  if (threads <= 1) {
    fn(int64_t(0), n);
    return;
  }
  const int64_t per = (n + threads - 1) / threads;
  std::exception_ptr err;
  std::mutex mu;
  auto run = [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      if (!err) err = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) {
    int64_t b = t * per, e = std::min(n, b + per);
    if (b < e) pool.emplace_back(run, b, e);
  }
  run(0, std::min(n, per));
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
}

// amax 0 (or so small that amax / 448 underflows to 0) -> 1: the codes are all 0 either way.
float weight_scale_from_amax(float amax) {
  const float s = amax / kE4M3Max;
  return s > 0.0f && std::isfinite(s) ? s : 1.0f;
}

void check_weight_spec(const LinearSpec& spec, int64_t n, int64_t k) {
  IGNIS_CHECK(spec.fp8(), "quantize_weight_fp8: spec is not FP8 ({})", spec.describe());
  IGNIS_CHECK(n > 0 && k > 0, "quantize_weight_fp8: bad shape ({}, {})", n, k);
  IGNIS_CHECK(spec.wscale != WeightScale::None, "quantize_weight_fp8: FP8 weights need a scale scheme");
  IGNIS_CHECK(spec.wscale != WeightScale::Block || (spec.block_n > 0 && spec.block_k > 0),
              "quantize_weight_fp8: bad block {}x{}", spec.block_n, spec.block_k);
}

// Rows [r0, r1) of `w` (dtype t, k columns) as fp32 into dst.
void rows_f32(DType t, const void* w, int64_t k, int64_t r0, int64_t r1, float* dst) {
  const size_t es = dtype_size(t);
  to_f32(t, static_cast<const uint8_t*>(w) + size_t(r0) * size_t(k) * es, dst, size_t((r1 - r0) * k));
}

void quantize_rows(const float* rows, int64_t nrows, int64_t k, const float* row_scale_inv, bool per_row,
                   float inv, uint8_t* out) {
  for (int64_t r = 0; r < nrows; ++r) {
    const float s = per_row ? row_scale_inv[r] : inv;
    const float* x = rows + r * k;
    uint8_t* o = out + r * k;
    for (int64_t j = 0; j < k; ++j) o[j] = e4m3_encode(x[j] * s);
  }
}

// The common implementation: `get(r0, r1, buf)` fills fp32 rows [r0, r1) into buf (or returns a
// pointer to them).
template <typename GetRows>
QuantizedLinear quantize_impl(int64_t n, int64_t k, const LinearSpec& spec, GetRows get) {
  check_weight_spec(spec, n, k);
  QuantizedLinear q;
  q.spec = spec;
  q.n = n;
  q.k = k;
  q.data.resize(size_t(n) * size_t(k));
  const int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 16) / k);  // ~256 KB of fp32 per step
  if (spec.wscale == WeightScale::Tensor) {
    std::vector<float> part_amax(size_t((n + chunk_rows - 1) / chunk_rows), 0.0f);
    parallel_rows((n + chunk_rows - 1) / chunk_rows, chunk_rows * k, [&](int64_t c0, int64_t c1) {
      std::vector<float> buf;
      for (int64_t c = c0; c < c1; ++c) {
        int64_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
        const float* x = get(r0, r1, buf);
        part_amax[size_t(c)] = abs_max(x, (r1 - r0) * k);
      }
    });
    float amax = 0.0f;
    for (float a : part_amax) amax = std::max(amax, a);
    const float s = weight_scale_from_amax(amax), inv = 1.0f / s;
    q.scale = {s};
    parallel_rows((n + chunk_rows - 1) / chunk_rows, chunk_rows * k, [&](int64_t c0, int64_t c1) {
      std::vector<float> buf;
      for (int64_t c = c0; c < c1; ++c) {
        int64_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
        quantize_rows(get(r0, r1, buf), r1 - r0, k, nullptr, false, inv, q.data.data() + r0 * k);
      }
    });
  } else if (spec.wscale == WeightScale::Channel) {
    q.scale.resize(size_t(n));
    parallel_rows((n + chunk_rows - 1) / chunk_rows, chunk_rows * k, [&](int64_t c0, int64_t c1) {
      std::vector<float> buf, inv;
      for (int64_t c = c0; c < c1; ++c) {
        int64_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
        const float* x = get(r0, r1, buf);
        inv.resize(size_t(r1 - r0));
        for (int64_t r = r0; r < r1; ++r) {
          float s = weight_scale_from_amax(abs_max(x + (r - r0) * k, k));
          q.scale[size_t(r)] = s;
          inv[size_t(r - r0)] = 1.0f / s;
        }
        quantize_rows(x, r1 - r0, k, inv.data(), true, 0.0f, q.data.data() + r0 * k);
      }
    });
  } else {  // Block
    const int64_t bn = spec.block_n, bk = spec.block_k;
    const int64_t nb = (n + bn - 1) / bn, kb = (k + bk - 1) / bk;
    q.scale.resize(size_t(nb * kb));
    parallel_rows(nb, bn * k, [&](int64_t b0, int64_t b1) {
      std::vector<float> buf;
      for (int64_t b = b0; b < b1; ++b) {
        int64_t r0 = b * bn, r1 = std::min(n, r0 + bn);
        const float* x = get(r0, r1, buf);
        for (int64_t cb = 0; cb < kb; ++cb) {
          const int64_t j0 = cb * bk, j1 = std::min(k, j0 + bk);
          float amax = 0.0f;
          for (int64_t r = 0; r < r1 - r0; ++r) amax = std::max(amax, abs_max(x + r * k + j0, j1 - j0));
          const float s = weight_scale_from_amax(amax), inv = 1.0f / s;
          q.scale[size_t(b * kb + cb)] = s;
          for (int64_t r = 0; r < r1 - r0; ++r)
            for (int64_t j = j0; j < j1; ++j) q.data[size_t((r0 + r) * k + j)] = e4m3_encode(x[r * k + j] * inv);
        }
      }
    });
  }
  return q;
}

}  // namespace

float abs_max(const float* x, int64_t n) {
  float m = 0.0f;  // std::max(m, NaN) keeps m: NaN is ignored
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

int64_t num_weight_scales(const LinearSpec& spec, int64_t n, int64_t k) {
  switch (spec.wscale) {
    case WeightScale::None: return 0;
    case WeightScale::Tensor: return 1;
    case WeightScale::Channel: return n;
    case WeightScale::Block: return ((n + spec.block_n - 1) / spec.block_n) * ((k + spec.block_k - 1) / spec.block_k);
  }
  return 0;
}

float QuantizedLinear::scale_at(int64_t row, int64_t col) const {
  switch (spec.wscale) {
    case WeightScale::None: return 1.0f;
    case WeightScale::Tensor: return scale[0];
    case WeightScale::Channel: return scale[size_t(row)];
    case WeightScale::Block: {
      const int64_t kb = (k + spec.block_k - 1) / spec.block_k;
      return scale[size_t((row / spec.block_n) * kb + col / spec.block_k)];
    }
  }
  return 1.0f;
}

QuantizedLinear quantize_weight_fp8(const float* w, int64_t n, int64_t k, const LinearSpec& spec) {
  return quantize_impl(n, k, spec, [&](int64_t r0, int64_t, std::vector<float>&) { return w + r0 * k; });
}

QuantizedLinear quantize_weight_fp8(DType dtype, const void* w, int64_t n, int64_t k, const LinearSpec& spec) {
  IGNIS_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
              "quantize_weight_fp8: source dtype {} is not F32, F16 or BF16", dtype_name(dtype));
  if (dtype == DType::F32) return quantize_weight_fp8(static_cast<const float*>(w), n, k, spec);
  return quantize_impl(n, k, spec, [&](int64_t r0, int64_t r1, std::vector<float>& buf) {
    buf.resize(size_t((r1 - r0) * k));
    rows_f32(dtype, w, k, r0, r1, buf.data());
    return static_cast<const float*>(buf.data());
  });
}

void dequantize_weight(const QuantizedLinear& q, float* out) {
  IGNIS_CHECK(q.data.size() == size_t(q.n * q.k), "dequantize_weight: {} codes for ({}, {})", q.data.size(), q.n, q.k);
  IGNIS_CHECK(int64_t(q.scale.size()) == num_weight_scales(q.spec, q.n, q.k),
              "dequantize_weight: {} scales, the spec needs {}", q.scale.size(), num_weight_scales(q.spec, q.n, q.k));
  parallel_rows(q.n, q.k, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* c = q.data.data() + r * q.k;
      float* o = out + r * q.k;
      if (q.spec.wscale == WeightScale::Block) {
        for (int64_t j = 0; j < q.k; ++j) o[j] = e4m3_decode(c[j]) * q.scale_at(r, j);
      } else {
        const float s = q.scale_at(r, 0);
        for (int64_t j = 0; j < q.k; ++j) o[j] = e4m3_decode(c[j]) * s;
      }
    }
  });
}

void fake_quant_activations(float* x, int64_t m, int64_t k, const LinearSpec& spec, float input_scale) {
  auto apply = [](float* v, int64_t n, float s) {
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) v[i] = e4m3_round(v[i] * inv) * s;
  };
  switch (spec.act) {
    case ActScale::None:
      return;
    case ActScale::StaticTensor:
      IGNIS_CHECK(input_scale > 0.0f && std::isfinite(input_scale),
                  "fake_quant_activations: static input scale {} must be positive and finite", input_scale);
      for (int64_t r = 0; r < m; ++r) apply(x + r * k, k, input_scale);
      return;
    case ActScale::DynamicToken:
      for (int64_t r = 0; r < m; ++r) apply(x + r * k, k, dynamic_scale(abs_max(x + r * k, k)));
      return;
    case ActScale::DynamicGroup: {
      const int64_t g = spec.act_group;
      IGNIS_CHECK(g > 0, "fake_quant_activations: group size {} must be positive", g);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < k; j += g) {
          float* v = x + r * k + j;
          const int64_t len = std::min(g, k - j);
          apply(v, len, dynamic_scale(abs_max(v, len)));
        }
      return;
    }
  }
}

}  // namespace ignis
