// Every CUDA kernel against a host fp32 reference on fresh random inputs, bf16 / fp16 / f32.
#include <algorithm>
#include <numeric>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "cuda/cuda_model.h"
#include "cuda/device_sampler.h"
#include "cuda/gemm.h"
#include "cuda/gemm_cache.h"
#include "gpu_test_util.h"
#include "kernels/argmax.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/fill.h"
#include "kernels/gemv.h"
#include "kernels/kv_compact.h"
#include "kernels/sampling.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope_kv.h"
#include "kernels/swiglu.h"
#include "model/cpu/paged_attention.h"
#include "model/cpu/rope.h"

namespace ignis {
namespace {

using test::HostTensor;
const DType kTypes[] = {DType::BF16, DType::F16, DType::F32};

TEST(GpuKernels, Embedding) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(1);
  for (DType t : kTypes) {
    const int V = 1000, H = 96, n = 37;
    HostTensor table = test::random_tensor(rng, t, size_t(V) * H);
    std::vector<int32_t> tok(n);
    for (auto& x : tok) x = int32_t(rng() % V);
    auto dt = test::to_device(table), dtok = test::to_device(tok);
    cuda::DeviceBuffer out(size_t(n) * H * 4, "out");
    test::poison(out);
    kernels::embedding(t, dtok.as<int32_t>(), n, dt.get(), V, H, out.as<float>(), nullptr);
    std::vector<float> want(size_t(n) * H);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < H; ++j) want[size_t(i) * H + j] = table.f[size_t(tok[i]) * H + j];
    test::rel_error(test::from_device(out, DType::F32, want.size()), want, std::string("embedding ") + test::dname(t),
                    0.0);
  }
}

TEST(GpuKernels, AddRmsNorm) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(2);
  // f16/bf16: 64-8192 one 8-value vector per thread, 12288 two; 100 (not a multiple of 8) and f32 the strided kernel
  for (DType t : kTypes)
    for (int H : {64, 100, 4096, 5120, 12288}) {
      const int n = 13;
      const float eps = 1e-5f;
      std::vector<float> res = test::random_vec(rng, size_t(n) * H, -2, 2);
      HostTensor add = test::random_tensor(rng, t, size_t(n) * H), w = test::random_tensor(rng, t, H, 0.5f, 1.5f);
      HostTensor bias = test::random_tensor(rng, t, H, -0.1f, 0.1f);
      // 0: add, 1: add + bias, 2: no add, gathered rows, 3: add, gathered rows (the final norm)
      for (int mode = 0; mode < 4; ++mode) {
        const bool gathered = mode >= 2, with_add = mode != 2;
        auto dres = test::to_device(res), dadd = test::to_device(add), dw = test::to_device(w),
             db = test::to_device(bias);
        std::vector<int32_t> rows = {5, 0, 12, 7};
        auto drows = test::to_device(rows);
        const int nout = gathered ? int(rows.size()) : n;
        cuda::DeviceBuffer out(size_t(nout) * H * dtype_size(t), "out");
        test::poison(out);
        kernels::add_rmsnorm(t, dres.as<float>(), with_add ? dadd.get() : nullptr, mode == 1 ? db.get() : nullptr,
                             dw.get(), out.get(), gathered ? drows.as<int32_t>() : nullptr, nout, H, eps, nullptr);
        std::vector<float> want(size_t(nout) * H), want_res = res;
        for (int i = 0; i < nout; ++i) {
          const int r = gathered ? rows[i] : i;
          double ss = 0;
          for (int j = 0; j < H; ++j) {
            float v = res[size_t(r) * H + j];
            if (with_add) v += add.f[size_t(r) * H + j] + (mode == 1 ? bias.f[j] : 0.0f);
            want_res[size_t(r) * H + j] = v;
            ss += double(v) * v;
          }
          const float inv = float(1.0 / std::sqrt(ss / H + eps));
          for (int j = 0; j < H; ++j) want[size_t(i) * H + j] = w.f[j] * want_res[size_t(r) * H + j] * inv;
        }
        const std::string what = "add_rmsnorm mode " + std::to_string(mode) + " H " + std::to_string(H) + " " +
                                 test::dname(t);
        test::rel_error(test::from_device(out, t, want.size()), want, what, test::tolerance(t));
        test::rel_error(test::from_device(dres, DType::F32, res.size()), want_res, what + " residual",
                        t == DType::F32 ? 1e-6 : test::tolerance(t));
      }
    }
}

TEST(GpuKernels, SiluMul) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(3);
  struct Shape { int n, I; };  // I % 8 == 0: 16-byte vector path; 1003: scalar path
  for (DType t : kTypes)
    for (Shape sh : {Shape{11, 1000}, Shape{5, 1003}, Shape{300, 14336 / 8}}) {
    const int n = sh.n, I = sh.I;
    HostTensor gu = test::random_tensor(rng, t, size_t(n) * 2 * I, -4, 4);
    auto dgu = test::to_device(gu);
    cuda::DeviceBuffer out(size_t(n) * I * dtype_size(t), "out");
    test::poison(out);
    kernels::silu_mul(t, dgu.get(), out.get(), n, I, nullptr);
    std::vector<float> want(size_t(n) * I);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < I; ++j) {
        const float g = gu.f[size_t(i) * 2 * I + j], u = gu.f[size_t(i) * 2 * I + I + j];
        want[size_t(i) * I + j] = g / (1.0f + std::exp(-g)) * u;
      }
    test::rel_error(test::from_device(out, t, want.size()), want,
                    "silu_mul " + std::to_string(n) + "x" + std::to_string(I) + " " + test::dname(t),
                    test::tolerance(t));
  }
}

TEST(GpuKernels, RopeAndKvWrite) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(4);
  RopeScaling llama3;
  llama3.type = RopeScaling::Type::Llama3;
  llama3.factor = 8;
  llama3.original_max_position_embeddings = 64;
  RopeScaling linear;
  linear.type = RopeScaling::Type::Linear;
  linear.factor = 4;
  struct Case { int hd, nh, nkv; RopeScaling sc; bool bias; };
  // head_dim % 16 == 0 takes the vectorized kernel for f16/bf16; 40 (and f32) the per-element one
  const Case cases[] = {{128, 32, 8, llama3, false}, {64, 8, 8, linear, true}, {16, 4, 1, RopeScaling{}, true},
                        {40, 4, 2, linear, true}};
  for (DType t : kTypes)
    for (const Case& c : cases) {
      const int n = 9, bs = 16, nblocks = 8, Q = c.nh * c.hd, KV = c.nkv * c.hd, W = Q + 2 * KV;
      HostTensor qkv = test::random_tensor(rng, t, size_t(n) * W), bias = test::random_tensor(rng, t, W, -0.5f, 0.5f);
      std::vector<int32_t> pos(n), slot(n);
      for (int i = 0; i < n; ++i) {
        pos[i] = int32_t(rng() % 5000);
        slot[i] = i == 3 ? -1 : int32_t(((i * 5) % nblocks) * bs + i % bs);
      }
      std::vector<float> inv = cpu::rope_inv_freq(c.hd, 10000.0f, c.sc);
      auto dqkv = test::to_device(qkv), db = test::to_device(bias), dpos = test::to_device(pos),
           dslot = test::to_device(slot), dinv = test::to_device(inv);
      const size_t cache_n = size_t(nblocks) * bs * KV;
      cuda::DeviceBuffer kc(cache_n * dtype_size(t), "k"), vc(cache_n * dtype_size(t), "v");
      IGNIS_CUDA_CHECK(cudaMemset(kc.get(), 0, kc.bytes()));
      IGNIS_CUDA_CHECK(cudaMemset(vc.get(), 0, vc.bytes()));
      kernels::RopeKvArgs a;
      a.dtype = t;
      a.qkv = dqkv.get();
      a.bias = c.bias ? db.get() : nullptr;
      a.positions = dpos.as<int32_t>();
      a.slot_mapping = dslot.as<int32_t>();
      a.inv_freq = dinv.as<float>();
      a.k_cache = kc.get();
      a.v_cache = vc.get();
      a.n = n;
      a.num_heads = c.nh;
      a.num_kv_heads = c.nkv;
      a.head_dim = c.hd;
      kernels::rope_qkv_write_kv(a, nullptr);
      // reference
      std::vector<float> x = qkv.f;
      if (c.bias)
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < W; ++j) x[size_t(i) * W + j] += bias.f[j];
      std::vector<float> q(size_t(n) * Q), k(size_t(n) * KV);
      for (int i = 0; i < n; ++i) {
        std::copy_n(&x[size_t(i) * W], Q, &q[size_t(i) * Q]);
        std::copy_n(&x[size_t(i) * W + Q], KV, &k[size_t(i) * KV]);
      }
      cpu::rope_apply(q.data(), pos.data(), n, c.nh, c.hd, inv.data());
      cpu::rope_apply(k.data(), pos.data(), n, c.nkv, c.hd, inv.data());
      std::vector<float> got_qkv = test::from_device(dqkv, t, qkv.n());
      std::vector<float> got_q(size_t(n) * Q);
      for (int i = 0; i < n; ++i) std::copy_n(&got_qkv[size_t(i) * W], Q, &got_q[size_t(i) * Q]);
      const std::string what = std::string(test::dname(t)) + " hd " + std::to_string(c.hd);
      test::rel_error(got_q, q, "rope q " + what, test::tolerance(t));
      std::vector<float> want_k(cache_n, 0.0f), want_v(cache_n, 0.0f);
      for (int i = 0; i < n; ++i) {
        if (slot[i] < 0) continue;
        for (int j = 0; j < KV; ++j) {
          want_k[size_t(slot[i]) * KV + j] = k[size_t(i) * KV + j];
          want_v[size_t(slot[i]) * KV + j] = x[size_t(i) * W + Q + KV + j];
        }
      }
      test::rel_error(test::from_device(kc, t, cache_n), want_k, "rope k cache " + what, test::tolerance(t));
      test::rel_error(test::from_device(vc, t, cache_n), want_v, "v cache " + what, test::tolerance(t));
    }
}

// y (m, n) = x (m, k) . w (n, k)^T in double over the exact values of the inputs.
std::vector<float> host_linear(const HostTensor& x, const HostTensor& w, int m, int n, int k) {
  std::vector<float> y(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int kk = 0; kk < k; ++kk) acc += double(x.f[size_t(i) * k + kk]) * w.f[size_t(j) * k + kk];
      y[size_t(i) * n + j] = float(acc);
    }
  return y;
}

TEST(GpuKernels, Gemm) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(5);
  cuda::Gemm gemm;
  struct Shape { int m, n, k; };
  for (DType t : kTypes)
    for (Shape s : {Shape{1, 4096, 512}, Shape{7, 300, 96}, Shape{129, 1000, 640}})
      for (DType out_t : {t, DType::F32}) {
        HostTensor x = test::random_tensor(rng, t, size_t(s.m) * s.k), w = test::random_tensor(rng, t, size_t(s.n) * s.k);
        auto dx = test::to_device(x), dw = test::to_device(w);
        cuda::DeviceBuffer y(size_t(s.m) * s.n * dtype_size(out_t), "y");
        test::poison(y);
        gemm.matmul(t, out_t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, nullptr);
        const std::vector<float> want = host_linear(x, w, s.m, s.n, s.k);
        const double tol = out_t == DType::F32 ? (t == DType::F32 ? 1e-5 : 1e-4) : test::tolerance(t);
        test::rel_error(test::from_device(y, out_t, want.size()), want,
                        "gemm " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " " +
                            test::dname(t) + "->" + test::dname(out_t),
                        tol);
      }
  // Tuning: candidates come back fastest first, the kept algorithm is no slower than the
  // heuristic's choice, and matmul with it still computes the product.
  cuda::Gemm tuned;
  for (DType t : {DType::BF16, DType::F16}) {
    const Shape s{300, 512, 256};
    HostTensor x = test::random_tensor(rng, t, size_t(s.m) * s.k), w = test::random_tensor(rng, t, size_t(s.n) * s.k);
    auto dx = test::to_device(x), dw = test::to_device(w);
    cuda::DeviceBuffer y(size_t(s.m) * s.n * dtype_size(t), "y");
    auto times = tuned.time_algos(t, t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, 8, 1, nullptr);
    ASSERT_FALSE(times.empty());
    for (size_t i = 1; i < times.size(); ++i) EXPECT_LE(times[i - 1].ms, times[i].ms);
    auto [heur, kept] = tuned.tune(t, t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, 8, 2, nullptr);
    EXPECT_GT(heur, 0.0f);
    EXPECT_LE(kept, heur);
    test::poison(y);
    tuned.matmul(t, t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, nullptr);
    test::rel_error(test::from_device(y, t, size_t(s.m) * s.n), host_linear(x, w, s.m, s.n, s.k),
                    std::string("tuned gemm ") + test::dname(t), test::tolerance(t));
  }
}

// The small-batch GEMV against a double-precision host product: every m it takes, k with and
// without a tail after the unrolled loop, n not a multiple of the rows per block, both output types.
TEST(GpuKernels, Gemv) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(6);
  struct Shape { int m, n, k; };
  for (DType t : {DType::BF16, DType::F16})
    for (Shape s : {Shape{1, 4096, 512}, Shape{1, 37, 8}, Shape{2, 1001, 1032}, Shape{3, 515, 4096 + 256 + 8},
                    Shape{4, 333, 14336}, Shape{1, 128256 / 16, 4096}})
      for (DType out_t : {t, DType::F32}) {
        HostTensor x = test::random_tensor(rng, t, size_t(s.m) * s.k), w = test::random_tensor(rng, t, size_t(s.n) * s.k);
        auto dx = test::to_device(x), dw = test::to_device(w);
        cuda::DeviceBuffer y(size_t(s.m) * s.n * dtype_size(out_t), "y");
        test::poison(y);
        ASSERT_TRUE(kernels::gemv_supported(t, out_t, dx.get(), dw.get(), s.m, s.k));
        kernels::gemv(t, out_t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, nullptr);
        const std::vector<float> want = host_linear(x, w, s.m, s.n, s.k);
        const double tol = out_t == DType::F32 ? 1e-5 : test::tolerance(t);
        test::rel_error(test::from_device(y, out_t, want.size()), want,
                        "gemv " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " " +
                            test::dname(t) + "->" + test::dname(out_t),
                        tol);
      }
  // What it refuses (the caller falls back to cuBLASLt).
  cuda::DeviceBuffer a(4096 * 2, "a");
  EXPECT_FALSE(kernels::gemv_supported(DType::BF16, DType::BF16, a.get(), a.get(), 5, 64));
  EXPECT_FALSE(kernels::gemv_supported(DType::BF16, DType::BF16, a.get(), a.get(), 1, 60));
  EXPECT_FALSE(kernels::gemv_supported(DType::F32, DType::F32, a.get(), a.get(), 1, 64));
  EXPECT_FALSE(kernels::gemv_supported(DType::BF16, DType::BF16, a.as<char>() + 2, a.get(), 1, 64));
}

// The tensor-core GEMV for dense weights against a double-precision host product (m 1-64: one, two,
// four and eight column tiles; n not a multiple of the 16-channel tile; k = 32 .. 14336), and its row
// invariance: each row of a launch of m rows is the same bits as that row alone (batch_invariant).
TEST(GpuKernels, GemvMma) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(16);
  struct Shape { int m, n, k; };
  for (DType t : {DType::BF16, DType::F16})
    for (Shape s : {Shape{1, 4096, 512}, Shape{1, 37, 32}, Shape{9, 1001, 1056}, Shape{16, 515, 4096},
                    Shape{5, 333, 14336}, Shape{33, 130, 256}, Shape{64, 48, 320}})
      for (DType out_t : {t, DType::F32}) {
        const std::string what = "gemv_mma " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                                 std::to_string(s.k) + " " + test::dname(t) + "->" + test::dname(out_t);
        HostTensor x = test::random_tensor(rng, t, size_t(s.m) * s.k), w = test::random_tensor(rng, t, size_t(s.n) * s.k);
        auto dx = test::to_device(x), dw = test::to_device(w);
        const size_t osz = dtype_size(out_t);
        cuda::DeviceBuffer y(size_t(s.m) * s.n * osz, "y"), y1(size_t(s.n) * osz, "y1");
        test::poison(y);
        ASSERT_TRUE(kernels::gemv_mma_supported(t, out_t, dx.get(), dw.get(), s.m, s.k)) << what;
        kernels::gemv_mma(t, out_t, dx.get(), dw.get(), y.get(), s.m, s.n, s.k, nullptr);
        const std::vector<float> want = host_linear(x, w, s.m, s.n, s.k);
        const double tol = out_t == DType::F32 ? 1e-5 : test::tolerance(t);
        test::rel_error(test::from_device(y, out_t, want.size()), want, what, tol);
        std::vector<char> all(size_t(s.m) * s.n * osz), one(size_t(s.n) * osz);
        IGNIS_CUDA_CHECK(cudaMemcpy(all.data(), y.get(), all.size(), cudaMemcpyDeviceToHost));
        for (int r : {0, s.m / 2, s.m - 1}) {
          kernels::gemv_mma(t, out_t, dx.as<char>() + size_t(r) * s.k * dtype_size(t), dw.get(), y1.get(), 1, s.n, s.k,
                            nullptr);
          IGNIS_CUDA_CHECK(cudaMemcpy(one.data(), y1.get(), one.size(), cudaMemcpyDeviceToHost));
          EXPECT_EQ(std::memcmp(one.data(), all.data() + size_t(r) * s.n * osz, one.size()), 0)
              << what << ": row " << r << " alone differs from the launch of " << s.m << " rows";
        }
      }
  cuda::DeviceBuffer a(4096 * 2, "a");
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::BF16, DType::BF16, a.get(), a.get(), 65, 64));
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::BF16, DType::BF16, a.get(), a.get(), 0, 64));
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::BF16, DType::BF16, a.get(), a.get(), 1, 48));
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::F32, DType::F32, a.get(), a.get(), 1, 64));
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::BF16, DType::F16, a.get(), a.get(), 1, 64));
  EXPECT_FALSE(kernels::gemv_mma_supported(DType::BF16, DType::BF16, a.as<char>() + 2, a.get(), 1, 64));
}

TEST(GpuKernels, ArgmaxLogprob) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(6);
  const int rows = 6;
  // 16-byte loads / a row length that is not a multiple of 4 / rows not 16-byte aligned (offset base)
  for (auto [V, off] : {std::pair{128256, 0}, std::pair{1001, 0}, std::pair{128256, 1}}) {
    std::vector<float> logits = test::random_vec(rng, size_t(rows) * V, -10, 10);
    logits[size_t(1) * V + 77] = 50.0f;  // ties: the smallest index wins
    logits[size_t(1) * V + 99] = 50.0f;
    logits[size_t(2) * V + 5] = NAN;     // NaN never chosen
    logits[size_t(3) * V + 600] = -INFINITY;
    for (int j = 0; j < V; ++j) logits[size_t(4) * V + j] = -INFINITY;  // nothing possible: token 0, -inf
    std::vector<float> padded(size_t(off), 0.0f);
    padded.insert(padded.end(), logits.begin(), logits.end());
    auto dl = test::to_device(padded);
    cuda::DeviceBuffer tok(rows * 4, "tok"), lp(rows * 4, "lp");
    kernels::argmax_logprob(dl.as<float>() + off, rows, V, tok.as<int32_t>(), lp.as<float>(), nullptr);
    std::vector<int32_t> got_tok(rows);
    std::vector<float> got_lp = test::from_device(lp, DType::F32, rows);
    IGNIS_CUDA_CHECK(cudaMemcpy(got_tok.data(), tok.get(), rows * 4, cudaMemcpyDeviceToHost));
    for (int r = 0; r < rows; ++r) {
      const float* x = &logits[size_t(r) * V];
      if (r == 4) {
        EXPECT_EQ(got_tok[r], 0);
        EXPECT_TRUE(std::isinf(got_lp[r]) && got_lp[r] < 0) << got_lp[r];
        continue;
      }
      int best = -1;
      for (int j = 0; j < V; ++j)
        if (!std::isnan(x[j]) && (best < 0 || x[j] > x[best])) best = j;
      double se = 0;
      for (int j = 0; j < V; ++j)
        if (!std::isnan(x[j])) se += std::exp(double(x[j]) - x[best]);
      EXPECT_EQ(got_tok[r], best) << "row " << r << " V " << V;
      EXPECT_NEAR(got_lp[r], -std::log(se), 1e-4) << "row " << r << " V " << V;
    }
    EXPECT_EQ(got_tok[1], 77);
  }
}

// Random fill used for the GEMM tuning inputs: in range, deterministic per seed, not degenerate.
TEST(GpuKernels, FillUniform) {
  IGNIS_SKIP_WITHOUT_GPU();
  const size_t n = 100003;  // not a multiple of the block size
  for (DType t : kTypes) {
    cuda::DeviceBuffer a(n * dtype_size(t), "a"), b(n * dtype_size(t), "b"), c(n * dtype_size(t), "c");
    kernels::fill_uniform(t, a.get(), n, 0.5f, 7, nullptr);
    kernels::fill_uniform(t, b.get(), n, 0.5f, 7, nullptr);
    kernels::fill_uniform(t, c.get(), n, 0.5f, 8, nullptr);
    const std::vector<float> va = test::from_device(a, t, n), vb = test::from_device(b, t, n),
                             vc = test::from_device(c, t, n);
    double sum = 0, sq = 0;
    size_t same_as_other_seed = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(va[i] >= -0.5f && va[i] <= 0.5f) << i << " " << va[i];
      ASSERT_EQ(va[i], vb[i]) << i;
      same_as_other_seed += va[i] == vc[i];
      sum += va[i];
      sq += double(va[i]) * va[i];
    }
    EXPECT_NEAR(sum / n, 0.0, 0.01) << test::dname(t);
    EXPECT_NEAR(sq / n, 0.25 / 3.0, 0.005) << test::dname(t);  // variance of U(-0.5, 0.5)
    EXPECT_LT(same_as_other_seed, n / 50) << test::dname(t);
  }
}

// Tree verification's KV compaction: the rows copied in order, as the CPU backend's loop of
// memmoves (a later pair overwrites a row an earlier one read; a pair onto itself is a no-op),
// on every plane, for 16-byte rows (vector path) and odd-sized ones (byte path); other rows intact.
TEST(GpuKernels, KvCopyRowsMatchesAHostLoop) {
  IGNIS_SKIP_WITHOUT_GPU();
  const int planes = 6, rows = 40;
  // The accepted path {1, 2, 4} of a tree after 4 cached tokens, slots 5 + node -> 5 + depth, plus
  // a row copied onto itself and one across blocks.
  const std::vector<int64_t> src = {6, 7, 9, 12, 33}, dst = {5, 6, 7, 12, 20};
  for (size_t row_bytes : {size_t(2048), size_t(6)}) {
    const size_t plane = size_t(rows) * row_bytes, total = plane * planes;
    std::vector<uint8_t> h(total);
    std::mt19937 rng(3);
    for (auto& b : h) b = uint8_t(rng());
    std::vector<uint8_t> want = h;
    for (int p = 0; p < planes; ++p)
      for (size_t i = 0; i < src.size(); ++i)
        std::memmove(want.data() + p * plane + size_t(dst[i]) * row_bytes, want.data() + p * plane + size_t(src[i]) * row_bytes,
                     row_bytes);
    cuda::DeviceBuffer d(total, "kv"), idx(2 * src.size() * sizeof(int64_t), "rows");
    IGNIS_CUDA_CHECK(cudaMemcpy(d.get(), h.data(), total, cudaMemcpyHostToDevice));
    std::vector<int64_t> both = src;
    both.insert(both.end(), dst.begin(), dst.end());
    IGNIS_CUDA_CHECK(cudaMemcpy(idx.get(), both.data(), both.size() * sizeof(int64_t), cudaMemcpyHostToDevice));
    kernels::kv_copy_rows(d.get(), plane, planes, row_bytes, idx.as<int64_t>(), idx.as<int64_t>() + src.size(),
                          int(src.size()), nullptr);
    std::vector<uint8_t> got(total);
    IGNIS_CUDA_CHECK(cudaMemcpy(got.data(), d.get(), total, cudaMemcpyDeviceToHost));
    ASSERT_EQ(got, want) << "row_bytes " << row_bytes;
  }
}

// Which steps CudaModel samples on the device (pure host logic: no GPU needed).
TEST(CudaModelStatic, DeviceSamplerChoosesPath) {
  SamplingParams greedy, temp, many_top, pen;
  greedy.temperature = 0.0f;
  temp.temperature = 0.7f;
  many_top.temperature = 0.0f;
  many_top.logprobs = kernels::kMaxTopLogprobs + 1;
  pen.temperature = 0.0f;
  pen.repetition_penalty = 1.1f;
  auto rows = [](std::initializer_list<const SamplingParams*> ps) {
    std::vector<RowSampling> r;
    for (const SamplingParams* p : ps) r.push_back(RowSampling{p});
    return r;
  };
  EXPECT_TRUE(cuda::DeviceSampler::plain_greedy(rows({&greedy, nullptr})));
  EXPECT_FALSE(cuda::DeviceSampler::plain_greedy(rows({&greedy, &temp})));
  EXPECT_FALSE(cuda::DeviceSampler::plain_greedy(rows({&pen})));
  EXPECT_TRUE(cuda::DeviceSampler::fits_device(rows({&greedy, &temp, &pen}), 128256));
  EXPECT_FALSE(cuda::DeviceSampler::fits_device(rows({&greedy, &many_top}), 128256));
  EXPECT_TRUE(cuda::DeviceSampler::fits_device(rows({&temp}), kernels::kMaxSampleVocab));
  EXPECT_FALSE(cuda::DeviceSampler::fits_device(rows({&temp}), kernels::kMaxSampleVocab + 1));
}

// The penalty list the sampling kernel gets (pure host logic): repetition covers the prompt and the
// output, frequency / presence only the output; counts are output occurrences.
TEST(CudaModelStatic, PenaltyList) {
  const std::vector<int32_t> prompt = {5, 3, 5, 9}, output = {3, 7, 3, 3};
  RowSampling r;
  SamplingParams p;
  p.temperature = 0.0f;
  r.params = &p;
  r.prompt_ids = prompt.data();
  r.n_prompt = prompt.size();
  r.output_ids = output.data();
  r.n_output = output.size();
  using L = std::vector<std::pair<int32_t, int32_t>>;
  L got;
  cuda::DeviceSampler::penalty_list(r, 10, got);
  EXPECT_TRUE(got.empty()) << "no penalty, no list";
  p.frequency_penalty = 0.5f;
  cuda::DeviceSampler::penalty_list(r, 10, got);
  EXPECT_EQ(got, (L{{3, 3}, {7, 1}}));
  p.repetition_penalty = 1.2f;
  cuda::DeviceSampler::penalty_list(r, 10, got);
  EXPECT_EQ(got, (L{{3, 3}, {5, 0}, {7, 1}, {9, 0}}));
  EXPECT_THROW(cuda::DeviceSampler::penalty_list(r, 8, got), Error);  // id 9 outside a vocab of 8
}

TEST(CudaModelStatic, KvBlocksFromMemory) {
  // no GPU needed: pure arithmetic
  EXPECT_EQ(cuda::CudaModel::kv_blocks_from_memory(size_t(10) << 30, 0.9, 4 << 20), int((10ll << 30) * 0.9 / (4 << 20)));
  EXPECT_EQ(cuda::CudaModel::kv_blocks_from_memory(100, 0.5, 1000), 0);
  EXPECT_THROW(cuda::CudaModel::kv_blocks_from_memory(100, 0.0, 10), Error);
  EXPECT_THROW(cuda::CudaModel::kv_blocks_from_memory(100, 1.5, 10), Error);
}

// The tuning cache's text format and location (pure host: no GPU needed).
TEST(GemmCache, FormatParseAndLocation) {
  using cuda::GemmCacheEntry;
  const std::string key = "NVIDIA H100 80GB HBM3-cc90-cublasLt130100-ws32MB";
  std::vector<GemmCacheEntry> e(2);
  e[0] = {int(DType::BF16), int(DType::BF16), 512, 6144, 4096, {1, 2, 3, 0xffffffffffffffffull, 0, 0, 7, 8}};
  e[1] = {int(DType::BF16), int(DType::F32), 8, 128256, 4096, {0x1234abcd, 0, 0, 0, 0, 0, 0, 42}};
  const std::string text = cuda::format_gemm_cache(key, e);
  EXPECT_EQ(cuda::parse_gemm_cache(text, key), e);
  EXPECT_TRUE(cuda::parse_gemm_cache(text, key + "x").empty()) << "another GPU or library: nothing";
  EXPECT_TRUE(cuda::parse_gemm_cache("", key).empty());
  // malformed lines are skipped, the good ones kept
  const std::string bad = text + "1 2 3\n" + "1 1 8 64 64 zz 0 0 0 0 0 0 0\n" + "1 1 8 64 64 1 2 3 4 5 6 7 8 9\n" +
                          "1 1 0 64 64 1 2 3 4 5 6 7 8\n";
  EXPECT_EQ(cuda::parse_gemm_cache(bad, key), e);
  EXPECT_EQ(cuda::gemm_cache_file_name(key), "NVIDIA_H100_80GB_HBM3-cc90-cublasLt130100-ws32MB");
  EXPECT_EQ(cuda::gemm_cache_file_name("a/b:c"), "a_b_c");
  // location: IGNIS_CACHE_DIR, else XDG_CACHE_HOME/ignis, else HOME/.cache/ignis
  auto saved = [](const char* n) { const char* v = std::getenv(n); return v ? std::optional<std::string>(v) : std::nullopt; };
  const auto ic = saved("IGNIS_CACHE_DIR"), xdg = saved("XDG_CACHE_HOME"), home = saved("HOME");
  ::setenv("IGNIS_CACHE_DIR", "/tmp/ic", 1);
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(cuda::cache_dir(), std::filesystem::path("/tmp/ic"));
  ::unsetenv("IGNIS_CACHE_DIR");
  EXPECT_EQ(cuda::cache_dir(), std::filesystem::path("/tmp/xdg/ignis"));
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/tmp/home", 1);
  EXPECT_EQ(cuda::cache_dir(), std::filesystem::path("/tmp/home/.cache/ignis"));
  auto restore = [](const char* n, const std::optional<std::string>& v) {
    if (v) ::setenv(n, v->c_str(), 1);
    else ::unsetenv(n);
  };
  restore("IGNIS_CACHE_DIR", ic);
  restore("XDG_CACHE_HOME", xdg);
  restore("HOME", home);
}

TEST(CudaModelStatic, GemmRowPadding) {
  // no GPU needed: passes above 256 tokens run their GEMMs on a tuned multiple of 256 rows
  using cuda::CudaModel;
  EXPECT_EQ(CudaModel::padded_gemm_rows(1, 256, 8192), 1);      // decode batches: exact (graph buckets)
  EXPECT_EQ(CudaModel::padded_gemm_rows(8, 256, 8192), 8);
  EXPECT_EQ(CudaModel::padded_gemm_rows(9, 256, 8192), 16);     // small passes: a few tuned counts
  EXPECT_EQ(CudaModel::padded_gemm_rows(64, 256, 8192), 64);
  EXPECT_EQ(CudaModel::padded_gemm_rows(65, 256, 8192), 96);
  EXPECT_EQ(CudaModel::padded_gemm_rows(137, 0, 8192), 160);    // also without prefill padding
  EXPECT_EQ(CudaModel::padded_gemm_rows(250, 256, 8192), 256);
  EXPECT_EQ(CudaModel::padded_gemm_rows(60, 256, 62), 60);      // beyond the buffers: unpadded
  EXPECT_EQ(CudaModel::padded_gemm_rows(300, 0, 8192), 300);    // no prefill padding asked
  EXPECT_EQ(CudaModel::padded_gemm_rows(256, 256, 8192), 256);
  EXPECT_EQ(CudaModel::padded_gemm_rows(257, 256, 8192), 512);
  EXPECT_EQ(CudaModel::padded_gemm_rows(7585, 256, 8192), 7680);
  EXPECT_EQ(CudaModel::padded_gemm_rows(7680, 256, 8192), 7680);
  EXPECT_EQ(CudaModel::padded_gemm_rows(8100, 256, 8192), 8192);
  EXPECT_EQ(CudaModel::padded_gemm_rows(8100, 256, 8150), 8100);  // beyond the buffers: unpadded
}

}  // namespace
}  // namespace ignis
