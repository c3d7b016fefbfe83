// The FP8 linear path against host references (core/dtype.h's e4m3 conversions): the producers
// with FP8 outputs (quantize_rows_fp8, add_rmsnorm, silu_mul; dynamic per row / per 128-group and
// static scales), the FP8 GEMV (m = 1..8, odd n / k, both scalings; with its producer fused in; with RoPE in its epilogue) and cuBLASLt's FP8 GEMM
// (channel and block scales, m in {5, 64, 300, 2048}, tuning), CUDA graph capture of both products.
// The Fp8Static tests (argument errors, layouts, cache codes) need no GPU.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/gemm.h"
#include "cuda/launch_env.h"
#include "gpu_test_util.h"
#include "kernels/fp8.h"
#include "kernels/fp8_gemv.h"
#include "kernels/fp8_quantize.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope_kv.h"
#include "rope_epilogue_util.h"
#include "kernels/swiglu.h"

namespace ignis {
namespace {

using kernels::Fp8Out;
using kernels::Fp8Scaling;
using test::HostTensor;

// ---------------------------------------------------------------- host reference of the quantizer

float host_dynamic_scale(float amax) { return std::max(amax / 448.0f, 1.0f / (448.0f * 512.0f)); }

struct HostFp8 {
  std::vector<uint8_t> codes;  // (rows, cols)
  std::vector<float> scales;   // (rows) or (groups, ld)
  int groups = 1, ld = 0;
};

// v (rows, cols): the values the producer writes to its dtype output (already rounded).
HostFp8 host_quantize(const std::vector<float>& v, int rows, int cols, int group, int scale_ld, const float* st) {
  HostFp8 h;
  h.codes.resize(size_t(rows) * cols);
  h.groups = group ? (cols + group - 1) / group : 1;
  h.ld = group && scale_ld ? scale_ld : rows;
  h.scales.assign(size_t(h.groups) * h.ld, NAN);
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < h.groups; ++g) {
      const int j0 = group ? g * group : 0, j1 = group ? std::min(cols, j0 + group) : cols;
      float s;
      if (st) {
        s = *st;
      } else {
        float a = 0.0f;
        for (int j = j0; j < j1; ++j) a = std::max(a, std::fabs(v[size_t(r) * cols + j]));
        s = host_dynamic_scale(a);
      }
      const float inv = 1.0f / s;
      for (int j = j0; j < j1; ++j) h.codes[size_t(r) * cols + j] = f32_to_e4m3(v[size_t(r) * cols + j] * inv);
      h.scales[size_t(g) * h.ld + r] = s;
    }
  return h;
}

struct Mode {
  int group;      // 0 or 128
  bool stat;      // static scale
  int extra_ld;   // group mode: scale_ld = rows + extra_ld (0: scale_ld 0, i.e. rows)
  const char* name;
};
const Mode kModes[] = {{0, false, 0, "dynamic/row"},
                       {kernels::kFp8Group, false, 0, "dynamic/group"},
                       {kernels::kFp8Group, false, 3, "dynamic/group ld+3"},
                       {0, true, 0, "static/row"},
                       {kernels::kFp8Group, true, 0, "static/group"}};
constexpr float kStaticScale = 0.004f;  // values up to ~300 saturate, small ones are subnormal codes

// A poisoned device FP8 output (0xff: NaN codes and NaN scales, so every unwritten entry shows).
struct DevFp8 {
  cuda::DeviceBuffer data, scale, st;
  Fp8Out q;
  int rows, cols;
  DevFp8(int rows_, int cols_, const Mode& m) : rows(rows_), cols(cols_) {
    const int groups = m.group ? (cols + m.group - 1) / m.group : 1;
    const int scale_ld = m.group && m.extra_ld ? rows + m.extra_ld : 0;
    const int ld = scale_ld ? scale_ld : rows;
    data = cuda::DeviceBuffer(size_t(rows) * cols, "fp8 codes");
    scale = cuda::DeviceBuffer(size_t(groups) * ld * 4, "fp8 scales");
    test::poison(data);
    test::poison(scale);
    if (m.stat) st = test::to_device(&kStaticScale, 4);
    q = Fp8Out{data.as<uint8_t>(), scale.as<float>(), m.stat ? st.as<float>() : nullptr, m.group, scale_ld};
  }
  HostFp8 reference(const std::vector<float>& v) const {
    return host_quantize(v, rows, cols, q.group, q.scale_ld, q.static_scale ? &kStaticScale : nullptr);
  }
};

std::vector<uint8_t> device_bytes(const cuda::DeviceBuffer& b, size_t n) {
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint8_t> r(n);
  IGNIS_CUDA_CHECK(cudaMemcpy(r.data(), b.get(), n, cudaMemcpyDeviceToHost));
  return r;
}

// The device's codes and the scales of every (row, group) equal the host's, bit for bit.
void expect_fp8(const DevFp8& d, const HostFp8& h, const std::string& what) {
  const std::vector<uint8_t> codes = device_bytes(d.data, h.codes.size());
  size_t bad = 0;
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] != h.codes[i] && ++bad <= 8)
      std::fprintf(stderr, "  %s code [%zu] (row %zu col %zu): got 0x%02x want 0x%02x\n", what.c_str(), i,
                   i / d.cols, i % d.cols, codes[i], h.codes[i]);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << codes.size() << " codes differ";
  const std::vector<float> sc = test::from_device(d.scale, DType::F32, h.scales.size());
  size_t bad_s = 0;
  for (int g = 0; g < h.groups; ++g)
    for (int r = 0; r < d.rows; ++r) {
      const size_t i = size_t(g) * h.ld + r;
      if (!(sc[i] == h.scales[i]) && ++bad_s <= 8)
        std::fprintf(stderr, "  %s scale (row %d group %d): got %.9g want %.9g\n", what.c_str(), r, g, sc[i],
                     h.scales[i]);
    }
  EXPECT_EQ(bad_s, 0u) << what << ": " << bad_s << " scales differ";
}

// Rows whose magnitudes span 1e-4 (the minimum-scale clamp) to 1e2 (saturation under kStaticScale).
std::vector<float> spread_rows(std::mt19937_64& rng, int rows, int cols, int ld, float r0 = 3.0f) {
  std::vector<float> v = test::random_vec(rng, size_t(rows) * ld, -r0, r0);
  for (int r = 0; r < rows; ++r) {
    const float f = std::pow(10.0f, float(r % 7) - 4.0f);
    for (int j = 0; j < ld; ++j) v[size_t(r) * ld + j] *= f;
  }
  return v;
}

std::string shape_name(const char* op, int a, int b, DType t, const Mode& m) {
  return std::string(op) + " " + std::to_string(a) + "x" + std::to_string(b) + " " + test::dname(t) + " " + m.name;
}

// ------------------------------------------------------------------------------- the producers

TEST(GpuFp8, QuantizeRows) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(21);
  struct Shape { int m, k, ld; };
  // k % 8 == 0: registers (1, 2 and 4 vectors per thread; 1000 and 20000: a partial last group);
  // k = 77 / ld = 101: the strided kernel.
  const Shape shapes[] = {{1, 4096, 4096}, {3, 1000, 1000}, {4, 14336, 14336}, {2, 20000, 20008},
                          {300, 4096, 4096}, {2048, 512, 512}, {5, 77, 80}, {2, 96, 101}};
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (const Shape& s : shapes)
      for (const Mode& mode : kModes) {
        const HostTensor x = test::make_tensor(t, spread_rows(rng, s.m, s.k, int(s.ld)));
        auto dx = test::to_device(x);
        DevFp8 d(s.m, s.k, mode);
        kernels::quantize_rows_fp8(t, dx.get(), s.ld, s.m, s.k, d.q, nullptr);
        std::vector<float> v(size_t(s.m) * s.k);
        for (int r = 0; r < s.m; ++r)
          for (int j = 0; j < s.k; ++j) v[size_t(r) * s.k + j] = x.f[size_t(r) * s.ld + j];
        expect_fp8(d, d.reference(v), shape_name("quantize_rows_fp8", s.m, s.k, t, mode));
      }
}

// add_rmsnorm with both outputs: the FP8 codes are the host quantization of the dtype output the
// kernel wrote (exact), the dtype output matches the fp32 reference; with the FP8 output alone the
// codes and scales are the same again.
TEST(GpuFp8, AddRmsNormFp8) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(22);
  const float eps = 1e-5f;
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (int H : {64, 100, 4096, 5000, 12288})  // 100 (and f32): the strided kernel; 12288: 2 vectors per thread
      for (int n : {1, 13, 300})
        for (const Mode& mode : kModes) {
          if (n == 300 && H != 4096) continue;  // many rows: one hidden size is enough
          const bool gathered = n == 13 && H == 4096;  // the final norm: rows gathered
          const std::vector<int32_t> rows = {5, 0, 12, 7};
          const int nout = gathered ? int(rows.size()) : n;
          const std::vector<float> res = test::random_vec(rng, size_t(n) * H, -2, 2);
          const HostTensor add = test::random_tensor(rng, t, size_t(n) * H);
          const HostTensor w = test::random_tensor(rng, t, H, 0.5f, 1.5f);
          auto dadd = test::to_device(add), dw = test::to_device(w), drows = test::to_device(rows);
          const std::string what = shape_name("add_rmsnorm", nout, H, t, mode);
          // both outputs
          auto dres = test::to_device(res);
          cuda::DeviceBuffer out(size_t(nout) * H * dtype_size(t), "out");
          test::poison(out);
          DevFp8 both(nout, H, mode);
          kernels::add_rmsnorm(t, dres.as<float>(), dadd.get(), nullptr, dw.get(), out.get(),
                               gathered ? drows.as<int32_t>() : nullptr, nout, H, eps, nullptr, both.q);
          const std::vector<float> got = test::from_device(out, t, size_t(nout) * H);
          std::vector<float> want(got.size());
          for (int i = 0; i < nout; ++i) {
            const int r = gathered ? rows[i] : i;
            double ss = 0;
            std::vector<float> x(H);
            for (int j = 0; j < H; ++j) {
              x[j] = res[size_t(r) * H + j] + add.f[size_t(r) * H + j];
              ss += double(x[j]) * x[j];
            }
            const float inv = float(1.0 / std::sqrt(ss / H + eps));
            for (int j = 0; j < H; ++j) want[size_t(i) * H + j] = w.f[j] * x[j] * inv;
          }
          test::rel_error(got, want, what + " dtype output", test::tolerance(t));
          expect_fp8(both, both.reference(got), what + " (with the dtype output)");
          std::vector<float> want_res = res;  // the residual stream gets the addend of the rows it normalizes
          for (int i = 0; i < nout; ++i) {
            const int r = gathered ? rows[i] : i;
            for (int j = 0; j < H; ++j) want_res[size_t(r) * H + j] += add.f[size_t(r) * H + j];
          }
          test::rel_error(test::from_device(dres, DType::F32, res.size()), want_res, what + " residual", 1e-7);
          // the FP8 output alone (fresh residual: the add updates it in place)
          auto dres2 = test::to_device(res);
          DevFp8 alone(nout, H, mode);
          kernels::add_rmsnorm(t, dres2.as<float>(), dadd.get(), nullptr, dw.get(), nullptr,
                               gathered ? drows.as<int32_t>() : nullptr, nout, H, eps, nullptr, alone.q);
          expect_fp8(alone, both.reference(got), what + " (FP8 output alone)");
        }
}

TEST(GpuFp8, SiluMulFp8) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(23);
  struct Shape { int n, I; };
  // I % 8 == 0: the row in registers (1, 2, 4 vectors per thread); 1003 and f32: the strided kernel
  const Shape shapes[] = {{1, 14336}, {3, 1000}, {2, 28672}, {5, 1003}, {300, 1792}, {4, 96}};
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (const Shape& s : shapes)
      for (const Mode& mode : kModes) {
        const HostTensor gu = test::random_tensor(rng, t, size_t(s.n) * 2 * s.I, -4, 4);
        auto dgu = test::to_device(gu);
        const std::string what = shape_name("silu_mul", s.n, s.I, t, mode);
        cuda::DeviceBuffer out(size_t(s.n) * s.I * dtype_size(t), "out");
        test::poison(out);
        DevFp8 both(s.n, s.I, mode);
        kernels::silu_mul(t, dgu.get(), out.get(), s.n, s.I, nullptr, both.q);
        const std::vector<float> got = test::from_device(out, t, size_t(s.n) * s.I);
        std::vector<float> want(got.size());
        for (int i = 0; i < s.n; ++i)
          for (int j = 0; j < s.I; ++j) {
            const float g = gu.f[size_t(i) * 2 * s.I + j], u = gu.f[size_t(i) * 2 * s.I + s.I + j];
            want[size_t(i) * s.I + j] = g / (1.0f + std::exp(-g)) * u;
          }
        test::rel_error(got, want, what + " dtype output", test::tolerance(t));
        expect_fp8(both, both.reference(got), what + " (with the dtype output)");
        DevFp8 alone(s.n, s.I, mode);
        kernels::silu_mul(t, dgu.get(), nullptr, s.n, s.I, nullptr, alone.q);
        expect_fp8(alone, both.reference(got), what + " (FP8 output alone)");
      }
}

// ----------------------------------------------------------------------------- the W8A8 products

struct Product {
  int m, n, k;
  Fp8Scaling scaling;
  std::vector<uint8_t> x, w;   // (m, k), (n, k) e4m3 codes
  std::vector<float> sx, sw;   // kernels/fp8.h layouts
};

Product random_product(std::mt19937_64& rng, int m, int n, int k, Fp8Scaling sc) {
  Product p{m, n, k, sc, {}, {}, {}, {}};
  std::uniform_real_distribution<float> ux(-200.0f, 200.0f), us(0.5f, 1.5f);
  p.x.resize(size_t(m) * k);
  for (auto& c : p.x) c = f32_to_e4m3(ux(rng));
  p.w.resize(size_t(n) * k);
  for (auto& c : p.w) {  // any code but the two NaNs: zeros, subnormals and +-448 included
    do c = uint8_t(rng() & 0xff);
    while ((c & 0x7f) == 0x7f);
  }
  const int groups = (k + kernels::kFp8Group - 1) / kernels::kFp8Group;
  if (sc == Fp8Scaling::Channel) {
    p.sx.resize(m);
    p.sw.resize(n);
  } else {
    p.sx.resize(size_t(groups) * m);
    p.sw.assign(size_t((n + 127) / 128) * kernels::fp8_block_scale_ld(k), NAN);  // padding: never read
  }
  for (auto& s : p.sx) s = us(rng) / 32.0f;
  for (size_t i = 0; i < p.sw.size(); ++i)
    if (sc == Fp8Scaling::Channel || int(i % kernels::fp8_block_scale_ld(k)) < groups) p.sw[i] = us(rng) / 512.0f;
  return p;
}

// y (m, n) in double from the same codes and scales.
std::vector<double> host_product(const Product& p) {
  float dec[256];
  for (int c = 0; c < 256; ++c) dec[c] = e4m3_to_f32(uint8_t(c));
  const int groups = (p.k + 127) / 128, ldw = kernels::fp8_block_scale_ld(p.k);
  std::vector<double> y(size_t(p.m) * p.n);
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) {
      const uint8_t* xr = &p.x[size_t(i) * p.k];
      const uint8_t* wr = &p.w[size_t(j) * p.k];
      double acc = 0;
      if (p.scaling == Fp8Scaling::Channel) {
        for (int l = 0; l < p.k; ++l) acc += double(dec[xr[l]]) * dec[wr[l]];
        acc *= double(p.sx[i]) * p.sw[j];
      } else {
        for (int b = 0; b < groups; ++b) {
          double part = 0;
          for (int l = b * 128; l < std::min(p.k, b * 128 + 128); ++l) part += double(dec[xr[l]]) * dec[wr[l]];
          acc += part * p.sx[size_t(b) * p.m + i] * p.sw[size_t(j / 128) * ldw + b];
        }
      }
      y[size_t(i) * p.n + j] = acc;
    }
  return y;
}

// The reference rounded to `out` (the product is rounded once), as floats.
std::vector<float> rounded(const std::vector<double>& y, DType out) {
  std::vector<float> r(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const float f = float(y[i]);
    r[i] = out == DType::BF16 ? bf16_to_f32(f32_to_bf16(f)) : (out == DType::F16 ? f16_to_f32(f32_to_f16(f)) : f);
  }
  return r;
}

struct DevProduct {
  cuda::DeviceBuffer x, w, sx, sw, y;
  size_t x_offset = 0;
  DevProduct(const Product& p, DType out, size_t x_off = 0) : x_offset(x_off) {
    std::vector<uint8_t> xs(x_off + p.x.size() + 16, 0);
    std::copy(p.x.begin(), p.x.end(), xs.begin() + x_off);
    x = test::to_device(xs);
    w = test::to_device(p.w);
    sx = test::to_device(p.sx);
    sw = test::to_device(p.sw);
    y = cuda::DeviceBuffer(size_t(p.m) * p.n * dtype_size(out), "y");
    test::poison(y);
  }
  const void* xp() const { return x.as<uint8_t>() + x_offset; }
};

std::string product_name(const char* op, const Product& p, DType out) {
  return std::string(op) + " " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" + std::to_string(p.k) +
         (p.scaling == Fp8Scaling::Block ? " block" : " channel") + " ->" + test::dname(out);
}

constexpr double kProductTol = 1e-3;  // the same math in fp32 (accumulation order) and one rounding
const DType kOutTypes[] = {DType::BF16, DType::F32, DType::F16};

TEST(GpuFp8, Gemv) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(24);
  struct Shape { int m, n, k; size_t x_off; };
  std::vector<Shape> shapes;
  for (int m = 1; m <= kernels::kFp8GemvMaxM; ++m) shapes.push_back({m, 37, 64, 0});  // n: a partial tile
  for (int m : {1, 2, 4, 8}) shapes.push_back({m, 4096, 4096, 0});
  // tails: k % 64 == 16 (1040) and == 48 (4144), long k (14336), the q/k/v shape; k % 16 != 0 and an
  // unaligned x take the CUDA-core kernel
  const Shape more[] = {{2, 1001, 1040, 0}, {3, 515, 4144, 0}, {4, 333, 14336, 0}, {1, 6144, 4096, 0},
                        {3, 64, 77, 0},     {5, 50, 1000, 0},  {2, 100, 4096, 1}, {8, 129, 200, 0}};
  shapes.insert(shapes.end(), std::begin(more), std::end(more));
  int case_no = 0;
  for (const Shape& s : shapes)
    for (Fp8Scaling sc : {Fp8Scaling::Channel, Fp8Scaling::Block}) {
      const DType out = kOutTypes[case_no++ % 3];
      const Product p = random_product(rng, s.m, s.n, s.k, sc);
      DevProduct d(p, out, s.x_off);
      ASSERT_TRUE(kernels::gemv_fp8_supported(out, s.m));
      kernels::gemv_fp8(out, d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), s.m, s.n, s.k, sc,
                        nullptr, true);
      test::rel_error(test::from_device(d.y, out, size_t(s.m) * s.n), rounded(host_product(p), out),
                      product_name("gemv_fp8", p, out), kProductTol);
    }
}

// Captured in a CUDA graph (with PDL) and replayed: the same result as eager.
TEST(GpuFp8, GemvGraph) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(25);
  cudaStream_t s;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (Fp8Scaling sc : {Fp8Scaling::Channel, Fp8Scaling::Block}) {
    const Product p = random_product(rng, 3, 4096, 4096, sc);
    DevProduct d(p, DType::BF16);
    cudaGraph_t g;
    cudaGraphExec_t ge;
    IGNIS_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    kernels::gemv_fp8(DType::BF16, d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), p.m, p.n, p.k,
                      sc, s, true);
    IGNIS_CUDA_CHECK(cudaStreamEndCapture(s, &g));
    IGNIS_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
    for (int rep = 0; rep < 2; ++rep) {
      test::poison(d.y);
      IGNIS_CUDA_CHECK(cudaDeviceSynchronize());  // the poison (legacy stream) before the non-blocking stream
      IGNIS_CUDA_CHECK(cudaGraphLaunch(ge, s));
      IGNIS_CUDA_CHECK(cudaStreamSynchronize(s));
      test::rel_error(test::from_device(d.y, DType::BF16, size_t(p.m) * p.n), rounded(host_product(p), DType::BF16),
                      product_name("gemv_fp8 graph", p, DType::BF16), kProductTol);
    }
    IGNIS_CUDA_CHECK(cudaGraphExecDestroy(ge));
    IGNIS_CUDA_CHECK(cudaGraphDestroy(g));
  }
  IGNIS_CUDA_CHECK(cudaStreamDestroy(s));
}

// Byte-equal dtype outputs (2-byte elements), the first differences printed.
void expect_same_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i + 1 < got.size(); i += 2)
    if ((got[i] != want[i] || got[i + 1] != want[i + 1]) && ++bad <= 4)
      std::fprintf(stderr, "  %s: element %zu differs\n", what.c_str(), i / 2);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() / 2 << " outputs differ";
}

// The GEMV quantizing its own input rows (gemv_fp8_fused, Rows): the same bits as quantize_rows_fp8
// followed by gemv_fp8, for dynamic and static scales, both half dtypes, 1..kFp8FusedMaxM rows, partial
// tiles and k tails, a row stride above k; eager with and without PDL and replayed from a CUDA graph.
TEST(GpuFp8, FusedGemvEqualsProducerThenGemv) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(27);
  struct Case { int m, n, k, ld_extra; };
  const Case cases[] = {{1, 4096, 4096, 0}, {2, 37, 1040, 8}, {3, 515, 4144, 0}, {4, 333, 2048, 24}};
  int case_no = 0;
  for (DType t : {DType::BF16, DType::F16})
    for (const Case& c : cases)
      for (bool stat : {false, true}) {
        const int64_t ld = c.k + c.ld_extra;
        const std::string what = "fused rows " + std::to_string(c.m) + "x" + std::to_string(c.n) + "x" +
                                 std::to_string(c.k) + " " + test::dname(t) + (stat ? " static" : " dynamic");
        const HostTensor src = test::make_tensor(t, spread_rows(rng, c.m, int(ld), int(ld), 3.0f));
        auto dsrc = test::to_device(src);
        const Product w = random_product(rng, c.m, c.n, c.k, Fp8Scaling::Channel);
        auto dw = test::to_device(w.w), dsw = test::to_device(w.sw);
        cuda::DeviceBuffer st_scale = test::to_device(&kStaticScale, 4);
        // the producer kernel, then the GEMV on its codes
        const Mode mode{0, stat, 0, stat ? "static/row" : "dynamic/row"};
        DevFp8 q(c.m, c.k, mode);
        kernels::quantize_rows_fp8(t, dsrc.get(), ld, c.m, c.k, q.q, nullptr);
        const size_t ybytes = size_t(c.m) * c.n * dtype_size(t);
        cuda::DeviceBuffer want(ybytes, "y (producer + gemv_fp8)"), got(ybytes, "y (fused)");
        test::poison(want);
        kernels::gemv_fp8(t, q.data.get(), q.scale.as<float>(), dw.get(), dsw.as<float>(), want.get(), c.m, c.n, c.k,
                          Fp8Scaling::Channel, nullptr, false);
        const std::vector<uint8_t> ref = device_bytes(want, ybytes);
        kernels::Fp8FusedX fx;
        fx.src = dsrc.get();
        fx.ld = ld;
        fx.static_scale = stat ? st_scale.as<float>() : nullptr;
        ASSERT_TRUE(kernels::gemv_fp8_fused_supported(t, fx, dw.get(), c.m, c.k)) << what;
        const bool pdl = case_no++ % 2 == 0;
        test::poison(got);
        kernels::gemv_fp8_fused(t, fx, dw.get(), dsw.as<float>(), got.get(), c.m, c.n, c.k, nullptr, pdl);
        expect_same_bytes(device_bytes(got, ybytes), ref, what + (pdl ? " (eager, PDL)" : " (eager)"));
        if (c.m == 1 || c.m == 3) {
          test::replay_in_graph(
              [&](cudaStream_t st) {
                kernels::gemv_fp8_fused(t, fx, dw.get(), dsw.as<float>(), got.get(), c.m, c.n, c.k, st, true);
              },
              &got);
          expect_same_bytes(device_bytes(got, ybytes), ref, what + " (graph)");
        }
      }
}

// The q/k/v GEMV with RoPE and the K/V write in its epilogue (gemv_fp8_rope): q (the only columns of qkv it
// writes) and both caches have the bits of gemv_fp8 followed by rope_qkv_write_kv, for a bf16 / fp16 and an
// FP8 cache, with and without the q/k/v bias, head_dim 128 and 64, grouped and plain attention, 1-8 rows
// at random positions, a token that writes no cache (slot -1); eager with and without PDL, and from a
// CUDA graph.
TEST(GpuFp8, RopeGemvEqualsGemvThenRope) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(29);
  struct Case { int m, nh, nkv, hd, k; bool bias; };
  const Case cases[] = {{1, 32, 8, 128, 4096, false}, {3, 8, 8, 64, 1040, true}, {8, 4, 2, 128, 512, true},
                        {2, 12, 2, 64, 2048, false}};
  int case_no = 0;
  for (DType t : {DType::BF16, DType::F16})
    for (const Case& c : cases)
      for (DType kv : {t, DType::F8_E4M3}) {
        const std::string what = "rope gemv " + std::to_string(c.m) + " rows " + std::to_string(c.nh) + "/" +
                                 std::to_string(c.nkv) + " heads of " + std::to_string(c.hd) + " k " +
                                 std::to_string(c.k) + (c.bias ? " bias " : " ") + test::dname(t) +
                                 (kv == DType::F8_E4M3 ? " fp8 cache" : " dtype cache");
        test::RopeEpilogueCase rc(rng, t, kv, c.m, c.nh, c.nkv, c.hd, c.bias);
        Product p = random_product(rng, c.m, rc.W, c.k, Fp8Scaling::Channel);
        for (float& sc : p.sw) sc /= 16.0f;
        auto dx = test::to_device(p.x), dsx = test::to_device(p.sx), dw = test::to_device(p.w),
             dsw = test::to_device(p.sw);
        kernels::gemv_fp8(t, dx.get(), dsx.as<float>(), dw.get(), dsw.as<float>(), rc.ref.qkv, c.m, rc.W, c.k,
                          Fp8Scaling::Channel, nullptr, false);
        rc.run_reference();
        ASSERT_TRUE(kernels::gemv_fp8_rope_supported(rc.fused, dx.get(), dw.get(), c.k)) << what;
        const bool pdl = case_no++ % 2 == 0;
        rc.poison_outputs();
        kernels::gemv_fp8_rope(rc.fused, dx.get(), dsx.as<float>(), dw.get(), dsw.as<float>(), c.k, nullptr, pdl);
        rc.expect_same(what + (pdl ? " (eager, PDL)" : " (eager)"));
        if (c.m == 1 || c.m == 3) {
          rc.poison_outputs();
          test::replay_in_graph(
              [&](cudaStream_t st) {
                kernels::gemv_fp8_rope(rc.fused, dx.get(), dsx.as<float>(), dw.get(), dsw.as<float>(), c.k, st, true);
              },
              nullptr);  // poison_outputs() above
          rc.expect_same(what + " (graph)");
        }
      }
}

// cuBLASLt's scale modes are Hopper's (compute capability 9.0).
#define IGNIS_SKIP_WITHOUT_FP8_CUBLASLT()                                                                  \
  do {                                                                                                     \
    IGNIS_SKIP_WITHOUT_GPU();                                                                              \
    cudaDeviceProp prop{};                                                                                 \
    IGNIS_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));                                                   \
    if (prop.major != 9) GTEST_SKIP() << "cuBLASLt outer-vector / block FP8 scaling needs compute capability 9.0"; \
  } while (0)

struct GemmShape { int m, n, k; };
// m = 5 and 300 run on m rounded up to 16 (the plan's padded buffers); n = 1040 and k = 1040 / 2064 /
// 4144: partial 128-blocks
const GemmShape kGemmShapes[] = {{5, 4096, 4096}, {64, 1040, 2064}, {300, 512, 1040}, {2048, 256, 512}};

TEST(GpuFp8, CublasLtGemm) {
  IGNIS_SKIP_WITHOUT_FP8_CUBLASLT();
  std::mt19937_64 rng(26);
  cuda::Gemm gemm;
  int case_no = 0;
  for (const GemmShape& s : kGemmShapes)
    for (Fp8Scaling sc : {Fp8Scaling::Channel, Fp8Scaling::Block}) {
      const DType out = kOutTypes[case_no++ % 3];
      const Product p = random_product(rng, s.m, s.n, s.k, sc);
      DevProduct d(p, out);
      gemm.matmul_fp8(d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), out, s.m, s.n, s.k, sc,
                      nullptr);
      const std::vector<float> want = rounded(host_product(p), out);
      test::rel_error(test::from_device(d.y, out, want.size()), want, product_name("cuBLASLt fp8", p, out),
                      kProductTol);
      // a second call reuses the plan (and, for m = 5 / 300, its padded buffers)
      test::poison(d.y);
      gemm.matmul_fp8(d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), out, s.m, s.n, s.k, sc,
                      nullptr);
      test::rel_error(test::from_device(d.y, out, want.size()), want, product_name("cuBLASLt fp8 again", p, out),
                      kProductTol);
    }
}

// time_algos / tune / algo / use_algo on FP8 shapes: the tuned choice still computes the product.
TEST(GpuFp8, CublasLtGemmTuning) {
  IGNIS_SKIP_WITHOUT_FP8_CUBLASLT();
  std::mt19937_64 rng(27);
  cuda::Gemm gemm;
  for (Fp8Scaling sc : {Fp8Scaling::Channel, Fp8Scaling::Block})
    for (int m : {5, 64}) {
      const Product p = random_product(rng, m, 1024, 2048, sc);
      DevProduct d(p, DType::BF16);
      const cuda::GemmType type{DType::F8_E4M3, DType::BF16, sc};
      const cuda::GemmOperands ops{d.xp(), d.w.get(), d.y.get(), d.sx.as<float>(), d.sw.as<float>()};
      auto times = gemm.time_algos(type, ops, m, p.n, p.k, 8, 1, nullptr);
      ASSERT_FALSE(times.empty()) << product_name("time_algos", p, DType::BF16);
      for (size_t i = 1; i < times.size(); ++i) EXPECT_LE(times[i - 1].ms, times[i].ms);
      auto [heur, kept] = gemm.tune(type, ops, m, p.n, p.k, 8, 2, nullptr);
      EXPECT_GT(heur, 0.0f);
      EXPECT_LE(kept, heur);
      EXPECT_TRUE(gemm.use_algo(type, m, p.n, p.k, gemm.algo(type, m, p.n, p.k)));
      test::poison(d.y);
      gemm.matmul_fp8(d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), DType::BF16, m, p.n, p.k, sc,
                      nullptr);
      test::rel_error(test::from_device(d.y, DType::BF16, size_t(m) * p.n), rounded(host_product(p), DType::BF16),
                      product_name("tuned cuBLASLt fp8", p, DType::BF16), kProductTol);
    }
}

// After its first (eager) call, matmul_fp8 is captured in a CUDA graph and replayed, padded (m = 5)
// and direct (m = 64).
TEST(GpuFp8, CublasLtGemmGraph) {
  IGNIS_SKIP_WITHOUT_FP8_CUBLASLT();
  std::mt19937_64 rng(28);
  cuda::Gemm gemm;
  cudaStream_t s;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (Fp8Scaling sc : {Fp8Scaling::Channel, Fp8Scaling::Block})
    for (int m : {5, 64}) {
      const Product p = random_product(rng, m, 2048, 1024, sc);
      DevProduct d(p, DType::BF16);
      auto call = [&] {
        gemm.matmul_fp8(d.xp(), d.sx.as<float>(), d.w.get(), d.sw.as<float>(), d.y.get(), DType::BF16, m, p.n, p.k,
                        sc, s);
      };
      call();
      IGNIS_CUDA_CHECK(cudaStreamSynchronize(s));
      cudaGraph_t g;
      cudaGraphExec_t ge;
      IGNIS_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
      call();
      IGNIS_CUDA_CHECK(cudaStreamEndCapture(s, &g));
      IGNIS_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
      test::poison(d.y);
      IGNIS_CUDA_CHECK(cudaDeviceSynchronize());  // the poison (legacy stream) before the non-blocking stream
      IGNIS_CUDA_CHECK(cudaGraphLaunch(ge, s));
      IGNIS_CUDA_CHECK(cudaStreamSynchronize(s));
      test::rel_error(test::from_device(d.y, DType::BF16, size_t(m) * p.n), rounded(host_product(p), DType::BF16),
                      product_name("cuBLASLt fp8 graph", p, DType::BF16), kProductTol);
      IGNIS_CUDA_CHECK(cudaGraphExecDestroy(ge));
      IGNIS_CUDA_CHECK(cudaGraphDestroy(g));
    }
  IGNIS_CUDA_CHECK(cudaStreamDestroy(s));
}

// ------------------------------------------------------------------- host only (no GPU needed)

TEST(Fp8Static, BlockScaleLayout) {
  EXPECT_EQ(kernels::fp8_block_scale_ld(4096), 32);
  EXPECT_EQ(kernels::fp8_block_scale_ld(14336), 112);
  EXPECT_EQ(kernels::fp8_block_scale_ld(1040), 12);  // 9 blocks, padded to 12
  EXPECT_EQ(kernels::fp8_block_scale_ld(128), 4);
  EXPECT_EQ(kernels::fp8_block_scale_ld(1), 4);
}

TEST(Fp8Static, GemmCacheCodes) {
  using cuda::GemmType;
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    const GemmType d{t, DType::F32};
    EXPECT_EQ(d.cache_code(), int(t)) << "dense codes unchanged: old cache files stay valid";
    EXPECT_EQ(GemmType::from_cache_code(d.cache_code(), int(DType::F32)), d);
  }
  const GemmType ch{DType::F8_E4M3, DType::BF16, Fp8Scaling::Channel};
  const GemmType bl{DType::F8_E4M3, DType::BF16, Fp8Scaling::Block};
  EXPECT_NE(ch.cache_code(), bl.cache_code());
  EXPECT_NE(ch.cache_code(), int(DType::F8_E4M3));
  EXPECT_EQ(GemmType::from_cache_code(ch.cache_code(), int(DType::BF16)), ch);
  EXPECT_EQ(GemmType::from_cache_code(bl.cache_code(), int(DType::BF16)), bl);
}

// Bad arguments are refused before anything reaches the GPU.
TEST(Fp8Static, BadArguments) {
  uint8_t* codes = reinterpret_cast<uint8_t*>(uintptr_t(256));  // never dereferenced: the checks come first
  float* scales = reinterpret_cast<float*>(uintptr_t(512));
  const void* x = codes;
  EXPECT_THROW(kernels::quantize_rows_fp8(DType::BF16, x, 64, 2, 64, Fp8Out{codes, scales, nullptr, 64, 0}, nullptr),
               Error) << "group 64";
  EXPECT_THROW(kernels::quantize_rows_fp8(DType::BF16, x, 64, 8, 64, Fp8Out{codes, scales, nullptr, 128, 4}, nullptr),
               Error) << "scale_ld below the rows";
  EXPECT_THROW(kernels::quantize_rows_fp8(DType::BF16, x, 64, 2, 64, Fp8Out{codes, nullptr, nullptr, 0, 0}, nullptr),
               Error) << "no scale pointer";
  EXPECT_THROW(kernels::quantize_rows_fp8(DType::BF16, x, 32, 2, 64, Fp8Out{codes, scales, nullptr, 0, 0}, nullptr),
               Error) << "ld < k";
  EXPECT_THROW(kernels::add_rmsnorm(DType::BF16, scales, nullptr, nullptr, x, nullptr, nullptr, 2, 64, 1e-5f, nullptr),
               Error) << "no output at all";
  EXPECT_THROW(kernels::silu_mul(DType::BF16, x, nullptr, 2, 64, nullptr), Error) << "no output at all";
  EXPECT_TRUE(kernels::gemv_fp8_supported(DType::BF16, 1));
  EXPECT_TRUE(kernels::gemv_fp8_supported(DType::F32, kernels::kFp8GemvMaxM));
  EXPECT_FALSE(kernels::gemv_fp8_supported(DType::BF16, 0));
  EXPECT_FALSE(kernels::gemv_fp8_supported(DType::BF16, kernels::kFp8GemvMaxM + 1));
  EXPECT_FALSE(kernels::gemv_fp8_supported(DType::F8_E4M3, 1));
  EXPECT_THROW(kernels::gemv_fp8(DType::BF16, x, scales, x, scales, codes, 9, 64, 64, Fp8Scaling::Channel, nullptr,
                                 true),
               Error);
  kernels::Fp8FusedX fx;
  fx.src = x;
  fx.ld = 14336;
  EXPECT_TRUE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, 3, 14336));
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, 4, 14336))
      << "4 x 14336 codes are above the shared-memory bound";
  fx.ld = 64;
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, 1, 128)) << "rows shorter than k";
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, kernels::kFp8FusedMaxM + 1, 64));
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::F32, fx, x, 1, 64));
  fx.ld = 72;
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, 1, 72)) << "k % 16";
  fx.ld = 64;
  fx.src = codes + 1;
  EXPECT_FALSE(kernels::gemv_fp8_fused_supported(DType::BF16, fx, x, 1, 64)) << "unaligned source";
  fx.src = x;
  EXPECT_THROW(kernels::gemv_fp8_fused(DType::BF16, fx, x, scales, codes, 5, 64, 64, nullptr, true), Error);
  kernels::RopeKvArgs ra;
  ra.n = 1;
  ra.num_heads = 4;
  ra.num_kv_heads = 2;
  ra.head_dim = 64;
  EXPECT_TRUE(kernels::gemv_fp8_rope_supported(ra, x, x, 256));
  ra.head_dim = 40;
  EXPECT_FALSE(kernels::gemv_fp8_rope_supported(ra, x, x, 256)) << "head_dim % 16";
  ra.head_dim = 64;
  ra.n = kernels::kFp8GemvMaxM + 1;
  EXPECT_FALSE(kernels::gemv_fp8_rope_supported(ra, x, x, 256));
  ra.n = 1;
  ra.kv_dtype = DType::F8_E4M3;
  ra.k_scale = 0.0f;
  EXPECT_FALSE(kernels::gemv_fp8_rope_supported(ra, x, x, 256)) << "FP8 cache without a valid scale";
  EXPECT_THROW(kernels::gemv_fp8_rope(ra, x, scales, x, scales, 256, nullptr, true), Error);
}

// The CLI's PDL default (kernels/ read no environment): on unless IGNIS_PDL=0.
TEST(LaunchEnv, PdlDefault) {
  const char* e = std::getenv("IGNIS_PDL");
  const std::string saved = e ? e : "";
  ::setenv("IGNIS_PDL", "0", 1);
  EXPECT_FALSE(cuda::pdl_default_from_env());
  ::setenv("IGNIS_PDL", "1", 1);
  EXPECT_TRUE(cuda::pdl_default_from_env());
  ::unsetenv("IGNIS_PDL");
  EXPECT_TRUE(cuda::pdl_default_from_env());
  if (e) ::setenv("IGNIS_PDL", saved.c_str(), 1);
}

}  // namespace
}  // namespace ignis
