// GPU (label gpu): the integer weight-only kernels (kernels/int_gemv.h) against host references built
// from quant/int_quant.h's IntLinear: dequantize_int_weights exactly (the rounding of value(r, c)),
// gemv_int within one output rounding of the fp64 product, for 4 and 8 bits, bf16 and fp16
// activations, zero points and symmetric codes, group 128 / 256 / per channel, every column-tile
// count (m 1 .. 64), row counts that are not multiples of the tile, and under graph capture; gemm_int
// (kernels/int_gemm.h, the mixed-input wgmma GEMM) the same way at 1 .. 256 rows, with and without
// split-k, one shared workspace across calls, run to run bit-identical.
#include <algorithm>
#include <cstring>
#include <string>

#include "cuda/int_weights.h"
#include "gpu_test_util.h"
#include "kernels/int_gemm.h"
#include "kernels/int_gemv.h"
#include "kernels/rope_kv.h"
#include "rope_epilogue_util.h"

namespace ignis::test {
namespace {

struct IntCase {
  int bits, m, n, k, group;
  bool zero_point;
  DType act;
};

std::string case_name(const IntCase& c) {
  return "int" + std::to_string(c.bits) + " m" + std::to_string(c.m) + " n" + std::to_string(c.n) + " k" +
         std::to_string(c.k) + " g" + std::to_string(c.group) + (c.zero_point ? " zp " : " sym ") + dname(c.act);
}

IntLinear random_int(std::mt19937_64& rng, const IntCase& c) {
  LinearSpec spec;
  spec.bits = c.bits;
  spec.group = c.group == c.k ? 0 : c.group;
  spec.zero_point = c.zero_point;
  std::vector<float> w = random_vec(rng, size_t(c.n) * c.k, -0.5f, 0.5f);
  return quantize_weight_int(w.data(), c.n, c.k, spec);
}

std::vector<float> reference(const IntLinear& q, const HostTensor& x, int m) {
  std::vector<float> y(size_t(m) * q.n);
  std::vector<double> wrow(size_t(q.k));
  for (int64_t r = 0; r < q.n; ++r) {
    for (int64_t c = 0; c < q.k; ++c) wrow[size_t(c)] = q.value(r, c);
    for (int b = 0; b < m; ++b) {
      double s = 0;
      for (int64_t c = 0; c < q.k; ++c) s += wrow[size_t(c)] * x.f[size_t(b) * q.k + c];
      y[size_t(b) * q.n + r] = float(s);
    }
  }
  return y;
}

std::vector<float> rounded(std::vector<float> v, DType t) {
  HostTensor h = make_tensor(t, v);
  return h.f;
}

// One case on the device: random weights in the kernels' layout, random x, y's reference.
struct DeviceCase {
  DeviceCase(std::mt19937_64& rng, const IntCase& c)
      : q(random_int(rng, c)), d(cuda::int_gemv_weights(q)), x(random_tensor(rng, c.act, size_t(c.m) * c.k)),
        dq(to_device(d.q)), dm(to_device(d.meta)), dx(to_device(x)), want(rounded(reference(q, x, c.m), c.act)) {}
  const uint32_t* codes() const { return dq.as<uint32_t>(); }
  const uint32_t* meta() const { return dm.as<uint32_t>(); }
  IntLinear q;
  cuda::IntGemvWeights d;
  HostTensor x;
  cuda::DeviceBuffer dq, dm, dx;
  std::vector<float> want;
};

TEST(GpuIntGemv, DequantizeIsExact) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(3);
  for (IntCase c : {IntCase{4, 1, 40, 512, 128, true, DType::BF16}, IntCase{4, 1, 24, 256, 256, false, DType::F16},
                    IntCase{8, 1, 40, 384, 128, true, DType::BF16}, IntCase{8, 1, 17, 192, 64, false, DType::F16}}) {
    SCOPED_TRACE(case_name(c));
    const IntLinear q = random_int(rng, c);
    std::string why;
    ASSERT_TRUE(cuda::int_gemv_fits(q, c.act, &why)) << why;
    const cuda::IntGemvWeights d = cuda::int_gemv_weights(q);
    auto dq = to_device(d.q), dm = to_device(d.meta);
    cuda::DeviceBuffer w(size_t(c.n) * c.k * 2, "w");
    poison(w);
    kernels::dequantize_int_weights(c.act, dq.as<uint32_t>(), dm.as<uint32_t>(), w.get(), c.n, c.k, c.bits, d.group,
                                    nullptr);
    const std::vector<float> got = from_device(w, c.act, size_t(c.n) * c.k);
    std::vector<float> want(got.size());
    dequantize_int(q, want.data());
    want = rounded(want, c.act);
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != want[i] && bad++ < 5) ADD_FAILURE() << "w[" << i << "] got " << got[i] << " want " << want[i];
    EXPECT_EQ(bad, 0);
  }
}

TEST(GpuIntGemv, MatchesTheHostProduct) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(11);
  std::vector<IntCase> cases;
  for (int bits : {4, 8})
    for (int m : {1, 3, 8, 9, 16, 17, 32, 33, 64})
      cases.push_back({bits, m, 72, 1024, 128, m % 2 == 1, m % 3 == 0 ? DType::F16 : DType::BF16});
  cases.push_back({4, 2, 40, 512, 512, true, DType::BF16});   // one group per row
  cases.push_back({4, 5, 33, 768, 256, false, DType::BF16});  // n not a multiple of 16
  cases.push_back({8, 4, 16, 192, 64, true, DType::F16});     // 8-bit units of 64, group 64
  cases.push_back({4, 1, 16, 128, 128, true, DType::BF16});   // fewer units than warps
  cases.push_back({4, 7, 4096, 4096, 128, true, DType::BF16});
  // many 16-row tiles, the last one partial
  cases.push_back({4, 3, 8200, 1024, 128, true, DType::BF16});
  cases.push_back({8, 8, 4500, 512, 128, false, DType::F16});
  for (const IntCase& c : cases) {
    SCOPED_TRACE(case_name(c));
    ASSERT_TRUE(kernels::gemv_int_supported(c.act, c.bits, c.m, c.k, c.group));
    const DeviceCase dc(rng, c);
    cuda::DeviceBuffer y(size_t(c.m) * c.n * 2, "y");
    poison(y);
    kernels::gemv_int(c.act, dc.dx.get(), dc.codes(), dc.meta(), y.get(), c.m, c.n, c.k, c.bits, dc.d.group, nullptr,
                      c.m % 2 == 0);
    rel_error(from_device(y, c.act, size_t(c.m) * c.n), dc.want, case_name(c), 1e-3);
  }
}

int device_sms() {
  int dev = 0, n = 0;
  IGNIS_CUDA_CHECK(cudaGetDevice(&dev));
  IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  return n;
}

TEST(GpuIntGemm, MatchesTheHostProduct) {
  IGNIS_SKIP_WITHOUT_GPU();
  if (!kernels::gemm_int_supported(DType::BF16, 4, 64, 1024, 128)) GTEST_SKIP() << "no sm_90a device";
  std::mt19937_64 rng(13);
  std::vector<IntCase> cases;
  for (int m : {1, 17, 32, 33, 64, 65, 130, 256})  // both x tiles (32, 64 rows), several tiles of x
    cases.push_back({4, m, 200, 2048, 128, m % 2 == 1, m % 3 == 0 ? DType::F16 : DType::BF16});
  for (int m : {24, 64}) cases.push_back({8, m, 136, 1024, 64, m == 24, DType::BF16});  // 8-bit units of 64
  cases.push_back({4, 48, 1000, 1024, 256, true, DType::BF16});   // many row tiles, n % 128 != 0
  cases.push_back({4, 40, 64, 512, 512, false, DType::F16});      // one group per row, a partial row tile
  cases.push_back({4, 64, 4096, 4096, 128, true, DType::BF16});   // an 8B-sized projection
  cases.push_back({8, 96, 512, 4096, 128, true, DType::BF16});
  const int sms = device_sms();
  size_t ws_floats = 0;
  for (const IntCase& c : cases) ws_floats = std::max(ws_floats, kernels::gemm_int_workspace_floats(c.m, c.n, c.k, c.bits, sms));
  ASSERT_GT(ws_floats, 0u);  // some case splits k
  cuda::DeviceBuffer ws(ws_floats * 4, "gemm_int workspace");
  IGNIS_CUDA_CHECK(cudaMemset(ws.get(), 0, ws_floats * 4));
  for (const IntCase& c : cases) {
    SCOPED_TRACE(case_name(c));
    ASSERT_TRUE(kernels::gemm_int_supported(c.act, c.bits, c.m, c.k, c.group));
    const DeviceCase dc(rng, c);
    cuda::DeviceBuffer y(size_t(c.m) * c.n * 2, "y"), y2(size_t(c.m) * c.n * 2, "y2");
    poison(y);
    auto run = [&](cuda::DeviceBuffer& out, bool pdl) {
      kernels::gemm_int(c.act, dc.dx.get(), dc.codes(), dc.meta(), out.get(), c.m, c.n, c.k, c.bits, dc.d.group,
                        ws.as<float>(), ws_floats, sms, nullptr, pdl);
    };
    run(y, c.m % 2 == 0);
    const std::vector<float> got = from_device(y, c.act, size_t(c.m) * c.n);
    rel_error(got, dc.want, case_name(c), 1e-3);
    run(y2, true);
    EXPECT_EQ(got, from_device(y2, c.act, size_t(c.m) * c.n)) << "run to run";
  }
  // the workspace is left zero (the tile counters are reset by the last block of each tile)
  std::vector<uint32_t> counters(1024);
  IGNIS_CUDA_CHECK(cudaMemcpy(counters.data(), ws.get(), counters.size() * 4, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::count(counters.begin(), counters.end(), 0u), 1024);
  // a workspace that is too small is refused with a clear error
  const IntCase c{4, 8, 128, 4096, 128, true, DType::BF16};
  ASSERT_GT(kernels::gemm_int_workspace_floats(c.m, c.n, c.k, c.bits, sms), 0u);
  EXPECT_THROW(kernels::gemm_int(c.act, nullptr, nullptr, nullptr, nullptr, c.m, c.n, c.k, c.bits, c.group, nullptr, 0,
                                 sms, nullptr, false),
               Error);
}

TEST(GpuIntGemv, GraphCaptureReplays) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(5);
  const IntCase c{4, 4, 256, 2048, 128, true, DType::BF16};
  const IntLinear q = random_int(rng, c);
  const cuda::IntGemvWeights d = cuda::int_gemv_weights(q);
  const HostTensor x = random_tensor(rng, c.act, size_t(c.m) * c.k);
  auto dq = to_device(d.q), dm = to_device(d.meta), dx = to_device(x);
  cuda::DeviceBuffer y(size_t(c.m) * c.n * 2, "y");
  cudaStream_t s;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaGraph_t g;
  cudaGraphExec_t ge;
  IGNIS_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  kernels::gemv_int(c.act, dx.get(), dq.as<uint32_t>(), dm.as<uint32_t>(), y.get(), c.m, c.n, c.k, c.bits, d.group, s,
                    true);
  IGNIS_CUDA_CHECK(cudaStreamEndCapture(s, &g));
  IGNIS_CUDA_CHECK(cudaGraphInstantiate(&ge, g, 0));
  poison(y);
  IGNIS_CUDA_CHECK(cudaGraphLaunch(ge, s));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(s));
  rel_error(from_device(y, c.act, size_t(c.m) * c.n), rounded(reference(q, x, c.m), c.act), "graph", 1e-3);
  IGNIS_CUDA_CHECK(cudaGraphExecDestroy(ge));
  IGNIS_CUDA_CHECK(cudaGraphDestroy(g));
  IGNIS_CUDA_CHECK(cudaStreamDestroy(s));
}

// The q/k/v GEMV with RoPE and the K/V write in its epilogue (gemv_int_rope): q (the only columns of qkv it
// writes) and both caches have the bits of gemv_int followed by rope_qkv_write_kv, for 4 and 8 bits, bf16 /
// fp16, a dtype and an FP8 cache, with and without the bias, head_dim 128 and 64, 1-8 rows at random
// positions, a token that writes no cache (slot -1); eager with and without PDL, and from a CUDA graph.
TEST(GpuIntGemv, RopeEpilogueEqualsGemvThenRope) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(13);
  struct Case { int bits, m, nh, nkv, hd, k, group; bool bias; DType act; };
  const Case cases[] = {{4, 1, 32, 8, 128, 4096, 128, false, DType::BF16}, {8, 3, 8, 8, 64, 1024, 64, true, DType::F16},
                        {4, 8, 4, 2, 128, 512, 128, true, DType::F16},     {8, 2, 12, 2, 64, 2048, 128, false, DType::BF16}};
  int case_no = 0;
  for (const Case& c : cases)
    for (bool fp8_kv : {false, true}) {
      const DType t = c.act;
      const std::string what = "int" + std::to_string(c.bits) + " rope gemv " + std::to_string(c.m) + " rows " +
                               std::to_string(c.nh) + "/" + std::to_string(c.nkv) + " heads of " +
                               std::to_string(c.hd) + (c.bias ? " bias " : " ") + dname(t) +
                               (fp8_kv ? " fp8 cache" : " dtype cache");
      RopeEpilogueCase rc(rng, t, fp8_kv ? DType::F8_E4M3 : t, c.m, c.nh, c.nkv, c.hd, c.bias);
      const IntLinear q = random_int(rng, IntCase{c.bits, c.m, rc.W, c.k, c.group, c.bits == 4, t});
      const cuda::IntGemvWeights d = cuda::int_gemv_weights(q);
      const HostTensor x = random_tensor(rng, t, size_t(c.m) * c.k, -4, 4);
      auto dq = to_device(d.q), dm = to_device(d.meta), dx = to_device(x);
      kernels::gemv_int(t, dx.get(), dq.as<uint32_t>(), dm.as<uint32_t>(), rc.ref.qkv, c.m, rc.W, c.k, c.bits, d.group,
                        nullptr, false);
      rc.run_reference();
      ASSERT_TRUE(kernels::gemv_int_rope_supported(rc.fused, c.bits, c.k, d.group)) << what;
      auto run = [&](cudaStream_t st, bool pdl) {
        kernels::gemv_int_rope(rc.fused, dx.get(), dq.as<uint32_t>(), dm.as<uint32_t>(), c.k, c.bits, d.group, st, pdl);
      };
      const bool pdl = case_no++ % 2 == 0;
      rc.poison_outputs();
      run(nullptr, pdl);
      rc.expect_same(what + (pdl ? " (eager, PDL)" : " (eager)"));
      if (c.m == 1 || c.m == 3) {
        rc.poison_outputs();
        replay_in_graph([&](cudaStream_t st) { run(st, true); }, nullptr);
        rc.expect_same(what + " (graph)");
      }
    }
}

TEST(IntGemmStatic, SplitsAndWorkspace) {  // host only: runs without a device
  // 8B shapes on 132 SMs: the wide gate_up projection fills the GPU without splitting at 64 rows and
  // more; the 4096-wide ones split k at small batches, and a workspace holds the largest split's partials.
  const size_t o = kernels::gemm_int_workspace_floats(256, 4096, 4096, 4, 132);
  EXPECT_GT(o, size_t(2) * 64 * 4096);           // at least two splits of 64 rows
  EXPECT_LT(o, size_t(16) * 256 * 4096 + 1024);  // never more than 16 splits of every row
  EXPECT_GE(kernels::gemm_int_workspace_floats(256, 4096, 14336, 8, 132), o);
  EXPECT_EQ(kernels::gemm_int_workspace_floats(64, 4096, 256, 4, 132), 0u);  // two units of k: nothing to split
  // unsupported without a Hopper device, a dtype or a layout the GEMV would not take either
  EXPECT_FALSE(kernels::gemm_int_supported(DType::F32, 4, 64, 4096, 128));
  EXPECT_FALSE(kernels::gemm_int_supported(DType::BF16, 4, 64, 4096, 64));
  EXPECT_FALSE(kernels::gemm_int_supported(DType::BF16, 4, 0, 4096, 128));
}

TEST(IntGemvStatic, LayoutAndSupport) {  // host only: runs without a device
  EXPECT_TRUE(kernels::gemv_int_supported(DType::BF16, 4, 1, 4096, 128));
  EXPECT_TRUE(kernels::gemv_int_supported(DType::F16, 8, kernels::kIntGemvMaxM, 4096, 64));
  EXPECT_FALSE(kernels::gemv_int_supported(DType::BF16, 4, kernels::kIntGemvMaxM + 1, 4096, 128));
  EXPECT_FALSE(kernels::gemv_int_supported(DType::BF16, 4, 1, 4096, 64));  // 4-bit units are 128 columns
  EXPECT_FALSE(kernels::gemv_int_supported(DType::F32, 4, 1, 4096, 128));
  EXPECT_FALSE(kernels::gemv_int_supported(DType::BF16, 3, 1, 4096, 128));
  kernels::RopeKvArgs ra;
  ra.dtype = DType::BF16;
  ra.n = 8;
  ra.num_heads = 32;
  ra.num_kv_heads = 8;
  ra.head_dim = 128;
  EXPECT_TRUE(kernels::gemv_int_rope_supported(ra, 4, 4096, 128));
  EXPECT_FALSE(kernels::gemv_int_rope_supported(ra, 4, 4096, 64)) << "4-bit units are 128 columns";
  ra.n = 9;
  EXPECT_FALSE(kernels::gemv_int_rope_supported(ra, 4, 4096, 128)) << "one column tile";
  ra.n = 1;
  ra.head_dim = 72;
  EXPECT_FALSE(kernels::gemv_int_rope_supported(ra, 8, 4096, 128)) << "head_dim % 16";
  EXPECT_THROW(kernels::gemv_int_rope(ra, nullptr, nullptr, nullptr, 4096, 8, 128, nullptr, true), Error);
  // nibble interleave: natural codes 0..7 of a word land at positions [c0, c2, c4, c6, c1, c3, c5, c7]
  IntLinear q;
  q.spec.bits = 4;
  q.spec.group = 128;
  q.spec.zero_point = true;
  q.n = 1;
  q.k = 128;
  q.qweight.assign(16, 0u);
  q.qweight[0] = 0x76543210u;
  q.scale.assign(1, 0.5f);
  q.zero.assign(1, 3);
  std::string why;
  ASSERT_TRUE(cuda::int_gemv_fits(q, DType::BF16, &why)) << why;
  const cuda::IntGemvWeights d = cuda::int_gemv_weights(q);
  EXPECT_EQ(d.q[0], 0x75316420u);
  ASSERT_EQ(d.meta.size(), 1u);
  EXPECT_EQ(d.meta[0], uint32_t(f32_to_f16(0.5f)) | 3u << 16);
  // what stops the layout: act order, a scale fp16 cannot hold
  IntLinear a = q;
  a.g_idx.assign(128, 0);
  EXPECT_FALSE(cuda::int_gemv_fits(a, DType::BF16, &why));
  EXPECT_NE(why.find("g_idx"), std::string::npos) << why;
  IntLinear b = q;
  b.scale[0] = 0.1f + 1e-7f;
  EXPECT_FALSE(cuda::int_gemv_fits(b, DType::BF16, &why));
  EXPECT_NE(why.find("fp16"), std::string::npos) << why;
}

}  // namespace
}  // namespace ignis::test
