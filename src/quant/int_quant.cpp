// Integer weight-only projections: the internal layout's checks, dequantization, fusion, round to
// nearest, and the readers / writer of the published layouts (quant/int_quant.h).
#include "quant/int_quant.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "core/error.h"

namespace ignis {

namespace {

// AWQ gemm: column 8w + j of a packed word sits in nibble kAwqNibble[j] (AutoAWQ packs nibble i with
// column order_map[i], order_map = 0,2,4,6,1,3,5,7; this is its inverse).
constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};

void check_spec(const LinearSpec& s, int64_t n, int64_t k, const std::string& what) {
  IGNIS_CHECK(s.bits == 4 || s.bits == 8, "{}: {}-bit integer weights are not supported (4 or 8)", what, s.bits);
  IGNIS_CHECK(n > 0 && k > 0, "{}: bad shape ({}, {})", what, n, k);
  const int64_t g = s.group_size(k);
  IGNIS_CHECK(g > 0 && k % g == 0, "{}: group size {} does not divide the input dimension {}", what, g, k);
  IGNIS_CHECK(k % (32 / s.bits) == 0, "{}: the input dimension {} is not a multiple of {} ({}-bit codes per int32)",
              what, k, 32 / s.bits, s.bits);
}

IntLinear empty_like(const LinearSpec& spec, int64_t n, int64_t k) {
  IntLinear q;
  q.spec = spec;
  q.n = n;
  q.k = k;
  q.qweight.assign(size_t(n * (k / q.pack())), 0u);
  q.scale.assign(size_t(n * q.groups()), 0.0f);
  return q;
}

void set_code(IntLinear& q, int64_t row, int64_t col, uint32_t v) {
  q.qweight[size_t(row * q.words_per_row() + col / q.pack())] |= v << ((col % q.pack()) * q.spec.bits);
}

void read_g_idx(IntLinear& q, const int32_t* g_idx) {
  if (!g_idx) return;
  q.g_idx.assign(g_idx, g_idx + q.k);
}

float f16_round(float x) { return f16_to_f32(f32_to_f16(x)); }

// Quantizes rows [r0, r1) of q from fp32 rows `w` (row r at w + (r - r0) * k).
void quantize_rows(IntLinear& q, const float* w, int64_t r0, int64_t r1, const float* in_scale) {
  const int bits = q.spec.bits;
  const int64_t k = q.k, g = q.group_len(), G = q.groups();
  const int qmax = (1 << bits) - 1, half = 1 << (bits - 1);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = r0; r < r1; ++r) {
    const float* src = w + (r - r0) * k;
    for (int64_t c = 0; c < k; ++c) row[size_t(c)] = in_scale ? src[c] * in_scale[c] : src[c];
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* x = row.data() + gi * g;
      float mn = INFINITY, mx = -INFINITY;
      for (int64_t i = 0; i < g; ++i) mn = std::min(mn, x[i]), mx = std::max(mx, x[i]);
      if (q.spec.zero_point) {
        const float s = f16_round(std::max(mx - mn, 1e-5f) / float(qmax));
        const float z = std::clamp(std::nearbyint(-mn / s), 0.0f, float(qmax));
        q.scale[size_t(r * G + gi)] = s;
        q.zero[size_t(r * G + gi)] = uint8_t(z);
        for (int64_t i = 0; i < g; ++i)
          set_code(q, r, gi * g + i, uint32_t(std::clamp(std::nearbyint(x[i] / s) + z, 0.0f, float(qmax))));
      } else {
        const float amax = std::max(std::fabs(mn), std::fabs(mx));
        const float s = f16_round(std::max(amax, 1e-5f) / float(half - 1));
        q.scale[size_t(r * G + gi)] = s;
        for (int64_t i = 0; i < g; ++i)
          set_code(q, r, gi * g + i,
                   uint32_t(int(std::clamp(std::nearbyint(x[i] / s), -float(half), float(half - 1))) + half));
      }
    }
  }
}

unsigned worker_count(int64_t n) {
  unsigned t = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 32));
  return unsigned(std::min<int64_t>(t, std::max<int64_t>(1, n / 16)));
}

}  // namespace

void check_int_linear(const IntLinear& q, const std::string& what) {
  check_spec(q.spec, q.n, q.k, what);
  const int64_t G = q.groups();
  IGNIS_CHECK(q.qweight.size() == size_t(q.n * q.words_per_row()), "{}: {} packed words for ({}, {}) {}-bit codes",
              what, q.qweight.size(), q.n, q.k, q.spec.bits);
  IGNIS_CHECK(q.scale.size() == size_t(q.n * G), "{}: {} scales for {} rows x {} groups", what, q.scale.size(), q.n, G);
  IGNIS_CHECK(q.zero.empty() || q.zero.size() == size_t(q.n * G), "{}: {} zero points for {} rows x {} groups", what,
              q.zero.size(), q.n, G);
  for (size_t i = 0; i < q.scale.size(); ++i)
    IGNIS_CHECK(std::isfinite(q.scale[i]), "{}: scale [{}] = {} is not finite", what, i, q.scale[i]);
  for (size_t i = 0; i < q.zero.size(); ++i)
    IGNIS_CHECK(q.zero[i] < (1u << q.spec.bits), "{}: zero point [{}] = {} does not fit in {} bits", what, i,
                int(q.zero[i]), q.spec.bits);
  if (q.g_idx.empty()) return;
  IGNIS_CHECK(q.g_idx.size() == size_t(q.k), "{}: g_idx has {} entries for {} input columns", what, q.g_idx.size(),
              q.k);
  std::vector<int64_t> count(size_t(G), 0);
  for (size_t c = 0; c < q.g_idx.size(); ++c) {
    const int32_t g = q.g_idx[c];
    IGNIS_CHECK(g >= 0 && g < G, "{}: g_idx [{}] = {} is not a group (0 .. {})", what, c, g, G - 1);
    ++count[size_t(g)];
  }
  for (int64_t g = 0; g < G; ++g)
    IGNIS_CHECK(count[size_t(g)] == q.group_len(), "{}: g_idx is not a permutation of groups: group {} has {} "
                "columns, expected {}", what, g, count[size_t(g)], q.group_len());
}

void drop_trivial_g_idx(IntLinear& q) {
  if (q.g_idx.empty()) return;
  const int64_t g = q.group_len();
  for (int64_t c = 0; c < q.k; ++c)
    if (q.g_idx[size_t(c)] != c / g) return;
  q.g_idx.clear();
  q.spec.act_order = false;
}

void dequantize_int(const IntLinear& q, float* out) {
  for (int64_t r = 0; r < q.n; ++r)
    for (int64_t c = 0; c < q.k; ++c) out[r * q.k + c] = q.value(r, c);
}

IntLinear fuse_int(std::vector<IntLinear> parts, const std::string& name) {
  IGNIS_CHECK(!parts.empty(), "{}: no parts", name);
  if (parts.size() == 1) return std::move(parts[0]);
  IntLinear f;
  f.spec = parts[0].spec;
  f.k = parts[0].k;
  bool zeros = false;
  for (auto& p : parts) {
    IGNIS_CHECK(p.k == f.k && p.spec.bits == f.spec.bits && p.group_len() == parts[0].group_len(),
                "{}: the fused parts differ in k, bits or group size", name);
    IGNIS_CHECK(p.g_idx == parts[0].g_idx, "{}: the fused parts have different act-order g_idx (they share one input; "
                "a checkpoint quantized from one Hessian has one g_idx)", name);
    zeros = zeros || !p.zero.empty();
    f.n += p.n;
  }
  f.g_idx = parts[0].g_idx;
  f.spec.zero_point = zeros;
  for (auto& p : parts) {
    f.qweight.insert(f.qweight.end(), p.qweight.begin(), p.qweight.end());
    f.scale.insert(f.scale.end(), p.scale.begin(), p.scale.end());
    if (!zeros) continue;
    if (p.zero.empty()) f.zero.insert(f.zero.end(), p.scale.size(), uint8_t(1 << (p.spec.bits - 1)));
    else f.zero.insert(f.zero.end(), p.zero.begin(), p.zero.end());
  }
  return f;
}

IntLinear quantize_weight_int(const float* w, int64_t n, int64_t k, const LinearSpec& spec, const float* in_scale) {
  check_spec(spec, n, k, "quantize_weight_int");
  IntLinear q = empty_like(spec, n, k);
  if (spec.zero_point) q.zero.assign(size_t(n * q.groups()), 0);
  q.spec.act_order = false;
  quantize_rows(q, w, 0, n, in_scale);
  return q;
}

IntLinear quantize_weight_int(DType dtype, const void* w, int64_t n, int64_t k, const LinearSpec& spec) {
  check_spec(spec, n, k, "quantize_weight_int");
  IGNIS_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
              "quantize_weight_int: dtype {} is not supported", dtype_name(dtype));
  IntLinear q = empty_like(spec, n, k);
  if (spec.zero_point) q.zero.assign(size_t(n * q.groups()), 0);
  q.spec.act_order = false;
  const unsigned nt = worker_count(n);
  const int64_t per = (n + nt - 1) / nt;
  const size_t es = dtype_size(dtype);
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> buf(size_t(std::min<int64_t>(16, r1 - r0) * k));
    for (int64_t r = r0; r < r1; r += 16) {
      const int64_t e = std::min(r1, r + 16);
      to_f32(dtype, static_cast<const uint8_t*>(w) + size_t(r * k) * es, buf.data(), size_t((e - r) * k));
      quantize_rows(q, buf.data(), r, e, nullptr);  // rows of one thread: disjoint words
    }
  };
  std::vector<std::thread> th;
  for (unsigned t = 1; t < nt; ++t)
    if (int64_t(t) * per < n) th.emplace_back(work, int64_t(t) * per, std::min(n, int64_t(t + 1) * per));
  work(0, std::min(n, per));
  for (auto& t : th) t.join();
  return q;
}

IntLinear unpack_awq(const int32_t* qweight, const int32_t* qzeros, const float* scales, int64_t n, int64_t k,
                     const LinearSpec& spec) {
  check_spec(spec, n, k, "awq");
  IGNIS_CHECK(spec.bits == 4 && n % 8 == 0, "awq: 4-bit codes and n % 8 == 0 expected (bits {}, n {})", spec.bits, n);
  IntLinear q = empty_like(spec, n, k);
  const int64_t G = q.groups(), g = q.group_len(), nw = n / 8;
  q.zero.assign(size_t(n * G), 0);
  for (int64_t c = 0; c < k; ++c)
    for (int64_t w = 0; w < nw; ++w) {
      const uint32_t word = uint32_t(qweight[c * nw + w]);
      for (int j = 0; j < 8; ++j) set_code(q, w * 8 + j, c, (word >> (4 * kAwqNibble[j])) & 0xfu);
    }
  for (int64_t gi = 0; gi < G; ++gi) {
    for (int64_t w = 0; w < nw; ++w) {
      const uint32_t word = uint32_t(qzeros[gi * nw + w]);
      for (int j = 0; j < 8; ++j) q.zero[size_t((w * 8 + j) * G + gi)] = uint8_t((word >> (4 * kAwqNibble[j])) & 0xfu);
    }
    for (int64_t r = 0; r < n; ++r) q.scale[size_t(r * G + gi)] = scales[gi * n + r];
  }
  (void)g;
  return q;
}

IntLinear unpack_gptq(const int32_t* qweight, const int32_t* qzeros, const float* scales, const int32_t* g_idx,
                      int64_t n, int64_t k, const LinearSpec& spec) {
  check_spec(spec, n, k, "gptq");
  const int pack = 32 / spec.bits;
  IGNIS_CHECK(n % pack == 0, "gptq: n {} is not a multiple of {}", n, pack);
  IntLinear q = empty_like(spec, n, k);
  const int64_t G = q.groups(), nz = n / pack;
  const uint32_t mask = (1u << spec.bits) - 1u;
  for (int64_t wr = 0; wr < k / pack; ++wr)
    for (int64_t r = 0; r < n; ++r) {
      // word (wr, r) holds columns wr*pack .. wr*pack+pack-1 of output row r, lowest bits first: exactly the
      // internal word (r, wr)
      q.qweight[size_t(r * q.words_per_row() + wr)] = uint32_t(qweight[wr * n + r]);
    }
  q.zero.assign(size_t(n * G), 0);
  const int off = spec.gptq_v2 ? 0 : 1;
  for (int64_t gi = 0; gi < G; ++gi) {
    for (int64_t w = 0; w < nz; ++w) {
      const uint32_t word = uint32_t(qzeros[gi * nz + w]);
      for (int j = 0; j < pack; ++j) {
        // the -1 offset wraps in the packed bits (a stored 15 is zero 0 - 1 for 4 bits: AutoGPTQ adds 1 and
        // masks)
        const uint32_t z = (((word >> (spec.bits * j)) & mask) + uint32_t(off)) & mask;
        q.zero[size_t((w * pack + j) * G + gi)] = uint8_t(z);
      }
    }
    for (int64_t r = 0; r < n; ++r) q.scale[size_t(r * G + gi)] = scales[gi * n + r];
  }
  read_g_idx(q, g_idx);
  return q;
}

IntLinear unpack_compressed(const int32_t* packed, const float* scale, const int32_t* zero_point, const int32_t* g_idx,
                            int64_t n, int64_t k, const LinearSpec& spec) {
  check_spec(spec, n, k, "compressed-tensors");
  IntLinear q = empty_like(spec, n, k);
  const int64_t G = q.groups();
  const int pack = q.pack();
  const uint32_t mask = (1u << spec.bits) - 1u;
  for (size_t i = 0; i < q.qweight.size(); ++i) q.qweight[i] = uint32_t(packed[i]);  // [n, k/pack]: the same words
  for (int64_t i = 0; i < n * G; ++i) q.scale[size_t(i)] = scale[i];
  if (zero_point) {
    q.zero.assign(size_t(n * G), 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t gi = 0; gi < G; ++gi) {
        const uint32_t word = uint32_t(zero_point[(r / pack) * G + gi]);
        q.zero[size_t(r * G + gi)] = uint8_t((word >> ((r % pack) * spec.bits)) & mask);
      }
  }
  read_g_idx(q, g_idx);
  return q;
}

AwqTensors pack_awq(const IntLinear& q) {
  check_int_linear(q, "pack_awq");
  IGNIS_CHECK(q.spec.bits == 4 && !q.zero.empty() && q.g_idx.empty() && q.n % 8 == 0,
              "pack_awq: AWQ gemm needs 4-bit codes with zero points, no g_idx and n % 8 == 0");
  AwqTensors t;
  const int64_t G = q.groups(), nw = q.n / 8;
  t.qweight.assign(size_t(q.k * nw), 0);
  t.qzeros.assign(size_t(G * nw), 0);
  t.scales.assign(size_t(G * q.n), 0);
  for (int64_t c = 0; c < q.k; ++c)
    for (int64_t w = 0; w < nw; ++w) {
      uint32_t word = 0;
      for (int j = 0; j < 8; ++j) word |= uint32_t(q.code(w * 8 + j, c)) << (4 * kAwqNibble[j]);
      t.qweight[size_t(c * nw + w)] = int32_t(word);
    }
  for (int64_t gi = 0; gi < G; ++gi) {
    for (int64_t w = 0; w < nw; ++w) {
      uint32_t word = 0;
      for (int j = 0; j < 8; ++j) word |= uint32_t(q.zero_at(w * 8 + j, gi)) << (4 * kAwqNibble[j]);
      t.qzeros[size_t(gi * nw + w)] = int32_t(word);
    }
    for (int64_t r = 0; r < q.n; ++r) {
      const float s = q.scale_at(r, gi);
      const uint16_t h = f32_to_f16(s);
      IGNIS_CHECK(f16_to_f32(h) == s, "pack_awq: scale {} of row {} group {} is not an fp16 value", s, r, gi);
      t.scales[size_t(gi * q.n + r)] = h;
    }
  }
  return t;
}

}  // namespace ignis
