// Reference ops of src/model/cpu against hand-written formulas.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <random>

#include "core/error.h"
#include "model/cpu/embedding.h"
#include "model/cpu/matmul.h"
#include "model/cpu/paged_attention.h"
#include "model/cpu/parallel.h"
#include "model/cpu/rmsnorm.h"
#include "model/cpu/rope.h"
#include "model/cpu/swiglu.h"

namespace ignis::cpu {
namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Rope, DefaultFrequenciesAreInversePowersOfTheta) {
  auto f = rope_inv_freq(8, 10000.0f, RopeScaling{});
  ASSERT_EQ(f.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(f[i], std::pow(10000.0, -2.0 * i / 8), 1e-7 * std::fabs(f[i]) + 1e-12);
}

TEST(Rope, LinearScalingDividesEveryFrequency) {
  RopeScaling s;
  s.type = RopeScaling::Type::Linear;
  s.factor = 4.0f;
  auto base = rope_inv_freq(16, 10000.0f, RopeScaling{});
  auto lin = rope_inv_freq(16, 10000.0f, s);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(lin[i], base[i] / 4.0f);
}

TEST(Rope, Llama3ScalingKeepsHighDividesLowAndInterpolatesTheBandBetween) {
  RopeScaling s;
  s.type = RopeScaling::Type::Llama3;
  s.factor = 8.0f;
  s.low_freq_factor = 1.0f;
  s.high_freq_factor = 4.0f;
  s.original_max_position_embeddings = 32;  // wavelength bands: < 8 high, 8..32 medium, > 32 low
  auto base = rope_inv_freq(16, 10000.0f, RopeScaling{});
  auto f = rope_inv_freq(16, 10000.0f, s);
  int high = 0, medium = 0, low = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    double wl = 2 * M_PI / base[i];
    if (wl < 8) {
      EXPECT_EQ(f[i], base[i]);
      ++high;
    } else if (wl > 32) {
      EXPECT_FLOAT_EQ(f[i], base[i] / 8.0f);
      ++low;
    } else {
      double smooth = (32.0 / wl - 1.0) / (4.0 - 1.0);
      EXPECT_NEAR(f[i], (1 - smooth) * base[i] / 8.0 + smooth * base[i], 1e-6 * base[i]);
      EXPECT_LT(f[i], base[i]);
      EXPECT_GT(f[i], base[i] / 8.0f);
      ++medium;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(low, 0);
}

TEST(Rope, RotatesHalfPairsByPositionTimesFrequency) {
  const int hd = 8, heads = 2, n = 3;
  auto inv = rope_inv_freq(hd, 100.0f, RopeScaling{});
  auto x = randn(size_t(n) * heads * hd, 1), y = x;
  std::vector<int32_t> pos = {0, 5, 1000};
  rope_apply(y.data(), pos.data(), n, heads, hd, inv.data());
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        size_t b = (size_t(t) * heads + h) * hd;
        double a = double(float(pos[t]) * inv[i]);
        double x0 = x[b + i], x1 = x[b + i + hd / 2];
        EXPECT_NEAR(y[b + i], x0 * std::cos(a) - x1 * std::sin(a), 1e-5);
        EXPECT_NEAR(y[b + i + hd / 2], x1 * std::cos(a) + x0 * std::sin(a), 1e-5);
      }
  // Position 0 is the identity.
  for (int i = 0; i < heads * hd; ++i) EXPECT_EQ(y[i], x[i]);
}

TEST(RmsNorm, MatchesFormulaAndFusedResidualAdd) {
  const int rows = 3, dim = 10;
  auto x = randn(rows * dim, 2), w = randn(dim, 3), r = randn(rows * dim, 4);
  std::vector<float> out(rows * dim);
  rmsnorm(out.data(), x.data(), w.data(), rows, dim, 1e-5f);
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) ss += x[i * dim + j] * x[i * dim + j];
    for (int j = 0; j < dim; ++j)
      EXPECT_NEAR(out[i * dim + j], w[j] * x[i * dim + j] / std::sqrt(ss / dim + 1e-5), 1e-5);
  }
  auto res = r;
  std::vector<float> out2(rows * dim), sum(rows * dim);
  for (int i = 0; i < rows * dim; ++i) sum[i] = r[i] + x[i];
  add_rmsnorm(out2.data(), res.data(), x.data(), w.data(), rows, dim, 1e-5f);
  rmsnorm(out.data(), sum.data(), w.data(), rows, dim, 1e-5f);
  EXPECT_EQ(res, sum);
  EXPECT_EQ(out2, out);
}

TEST(Swiglu, SiluOfGateTimesUp) {
  auto gu = randn(2 * 2 * 5, 5);
  std::vector<float> out(2 * 5);
  swiglu(out.data(), gu.data(), 2, 5);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j) {
      double g = gu[i * 10 + j], u = gu[i * 10 + 5 + j];
      EXPECT_NEAR(out[i * 5 + j], g / (1 + std::exp(-g)) * u, 1e-6);
    }
}

TEST(Linear, IsXTimesWTransposedPlusBias) {
  const int m = 3, n = 7, k = 5;
  auto x = randn(m * k, 6), w = randn(n * k, 7), b = randn(n, 8);
  std::vector<float> y(m * n);
  linear(y.data(), x.data(), w.data(), b.data(), m, n, k);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = b[j];
      for (int t = 0; t < k; ++t) s += double(x[i * k + t]) * w[j * k + t];
      EXPECT_NEAR(y[i * n + j], s, 1e-5);
    }
}

// Products above the threading threshold are split over output columns (gemv at m = 1, gemm
// otherwise), odd column counts included; from a thread of a concurrent caller too.
TEST(Linear, SplitProductsMatchTheFormula) {
  auto check = [](int m, int n, int k, uint64_t seed) {
    auto x = randn(size_t(m) * k, seed), w = randn(size_t(n) * k, seed + 1), b = randn(n, seed + 2);
    std::vector<float> y(size_t(m) * n);
    linear(y.data(), x.data(), w.data(), b.data(), m, n, k);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = b[j];
        for (int t = 0; t < k; ++t) s += double(x[size_t(i) * k + t]) * w[size_t(j) * k + t];
        ASSERT_NEAR(y[size_t(i) * n + j], s, 1e-3) << m << "x" << n << "x" << k << " at " << i << "," << j;
      }
  };
  check(1, 1001, 192, 10);
  check(5, 777, 96, 20);
  std::thread other([&] { check(3, 515, 160, 30); });
  check(2, 1200, 128, 40);
  other.join();
}

// Every index once, on the pool or (for a call made inside a chunk or beside another call) on
// threads of its own; an exception reaches the caller.
TEST(ParallelFor, CoversEveryIndexOnceNestedAndConcurrent) {
  auto cover = [](int64_t n, int64_t grain) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (int64_t i = 0; i < n; ++i)
      if (hits[size_t(i)] != 1) return false;
    return true;
  };
  for (int64_t n : {1, 2, 3, 17, 1000}) EXPECT_TRUE(cover(n, 1)) << n;
  std::atomic<int> nested_ok{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) nested_ok += cover(50, 1);
  });
  EXPECT_EQ(nested_ok.load(), 8);
  std::atomic<bool> other_ok{true};
  std::thread other([&] {
    for (int r = 0; r < 50; ++r) other_ok = other_ok && cover(300, 7);
  });
  for (int r = 0; r < 50; ++r) EXPECT_TRUE(cover(300, 7));
  other.join();
  EXPECT_TRUE(other_ok.load());
  EXPECT_THROW(parallel_for(64, 1, [](int64_t b, int64_t) {
                 if (b > 0) throw std::runtime_error("chunk");
               }),
               std::runtime_error);
  EXPECT_TRUE(cover(100, 1)) << "the pool keeps working after an exception";
}

TEST(Embedding, GathersRowsAndRejectsBadIds) {
  auto table = randn(6 * 3, 9);
  std::vector<int32_t> ids = {5, 0, 5};
  std::vector<float> out(9);
  embedding(out.data(), table.data(), ids.data(), 3, 6, 3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(out[i * 3 + j], table[ids[i] * 3 + j]);
  ids[1] = 6;
  EXPECT_THROW(embedding(out.data(), table.data(), ids.data(), 3, 6, 3), Error);
}

// Paged attention for two sequences (GQA 4:1 and windowed) against a dense computation.
TEST(PagedAttention, MatchesDenseSoftmaxWithGqaWindowAndPaging) {
  for (int window : {0, 3}) {
    const int heads = 4, kvh = 1, hd = 8, bs = 2;
    PagedCacheShape shape{10, bs, kvh, hd};
    std::vector<float> kc(size_t(10) * bs * kvh * hd, NAN), vc = kc;  // NaN: unwritten slots must not be read
    // seq 0: 3 cached + 2 new (positions 0..4), blocks {7, 1, 4}; seq 1: 0 cached + 3 new, blocks {0, 9}.
    std::vector<int32_t> t0 = {7, 1, 4}, t1 = {0, 9};
    const int len[2] = {5, 3}, cached[2] = {3, 0};
    std::vector<std::vector<float>> K, Vv;
    for (int s = 0; s < 2; ++s) {
      K.push_back(randn(size_t(len[s]) * kvh * hd, 10 + s));
      Vv.push_back(randn(size_t(len[s]) * kvh * hd, 20 + s));
      const auto& tab = s == 0 ? t0 : t1;
      paged_kv_write(kc.data(), vc.data(), shape, K[s].data(), Vv[s].data(), tab.data(), int(tab.size()), 0, len[s]);
    }
    auto q = randn(size_t(5) * heads * hd, 30);  // 2 new tokens of seq 0, then 3 of seq 1
    std::vector<AttnSeq> seqs = {{0, 2, 3, t0.data(), 3}, {2, 3, 0, t1.data(), 2}};
    AttnParams p{heads, window, 1.0f / std::sqrt(float(hd))};
    std::vector<float> out(q.size());
    paged_attention(out.data(), q.data(), kc.data(), vc.data(), shape, seqs.data(), 2, p);
    for (int s = 0; s < 2; ++s)
      for (int t = 0; t < seqs[s].num_tokens; ++t) {
        int pos = cached[s] + t;
        for (int h = 0; h < heads; ++h) {
          const float* qv = q.data() + (size_t(seqs[s].token_offset + t) * heads + h) * hd;
          std::vector<double> w;
          double mx = -1e300, sum = 0;
          int lo = window ? std::max(0, pos - window + 1) : 0;
          for (int j = lo; j <= pos; ++j) {
            double d = 0;
            for (int e = 0; e < hd; ++e) d += double(qv[e]) * K[s][size_t(j) * hd + e];
            w.push_back(d * p.scale);
            mx = std::max(mx, w.back());
          }
          for (auto& x : w) sum += (x = std::exp(x - mx));
          for (int e = 0; e < hd; ++e) {
            double acc = 0;
            for (int j = lo; j <= pos; ++j) acc += w[j - lo] / sum * Vv[s][size_t(j) * hd + e];
            EXPECT_NEAR(out[(size_t(seqs[s].token_offset + t) * heads + h) * hd + e], acc, 1e-5)
                << "window " << window << " seq " << s << " tok " << t << " head " << h;
          }
        }
      }
  }
}

TEST(PagedAttention, RejectsBlockTablesThatDoNotCoverTheContext) {
  PagedCacheShape shape{2, 4, 1, 4};
  std::vector<float> kc(2 * 4 * 4, 0.0f), vc = kc, q(4 * 6, 0.0f), out(q.size());
  std::vector<int32_t> tab = {1};
  std::vector<AttnSeq> seqs = {{0, 6, 0, tab.data(), 1}};  // 6 positions need 2 blocks
  EXPECT_THROW(paged_attention(out.data(), q.data(), kc.data(), vc.data(), shape, seqs.data(), 1, {1, 0, 1.0f}),
               Error);
  tab = {5};
  std::vector<float> k(4, 1.0f);
  EXPECT_THROW(paged_kv_write(kc.data(), vc.data(), shape, k.data(), k.data(), tab.data(), 1, 0, 1), Error);
}

}  // namespace
}  // namespace ignis::cpu
