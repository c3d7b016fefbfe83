// ignis_gemm_bench: the prefill GEMMs of the Llama-3.1-8B shape (bf16, fp32 accumulation) through
// cuBLASLt, for several token counts M: the heuristic's first algorithm (what ignis uses untuned),
// the fastest of its first 16 candidates at that M (10 runs each), and the algorithm the engine's
// quick tuning keeps (Gemm::tune with its settings, CudaModel::tune_gemms), re-timed. Prints a table
// and per-M layer totals; every rate also as a percentage of the 8192^3 GEMM rate measured first
// in the same run.
// Then the FP8 (e4m3, W8A8) rows for the same shapes (--fp8 0 skips them, --bf16 0 the bf16 table):
// the FP8 GEMV at M = 1 (channel and block scales) next to the bf16 GEMV, in GB/s of weights read and
// as a percentage of the device copy bandwidth measured in the same process; and cuBLASLt FP8
// (channel scales: heuristic and tuned; block scales: heuristic) next to bf16 at M = 8..8192, in
// TFLOP/s and as a percentage of an 8192^3 FP8 GEMM measured in the same process. The weights of the
// GEMV and of the M <= 256 products rotate over copies that together exceed the 60 MB L2 several
// times, so they stream from DRAM as in a decode step.
// Then (--int 1) the integer weight-only products at M = 1..256 (4 and 8 bits, group 128, zero points):
// the GEMV (kernels/int_gemv.h, M <= 64), the mixed-input wgmma GEMM (kernels/int_gemm.h) and the
// dequantize-then-cuBLASLt path, next to the bf16 product the engine would run (the bf16 GEMV where it
// takes M, else cuBLASLt), in us, GB/s of bytes read (codes, scales, x, y) by the fastest integer path
// and % of the copy bandwidth, and the speed-up of each integer path over bf16; weights rotate over
// copies beyond the L2 as above.
// Then (--dense-gemv 1) the dense bf16 products of 1-64 rows: the tensor-core GEMV (kernels/gemv.h
// gemv_mma), the warp-per-row GEMV (1-4 rows) and cuBLASLt (heuristic), in us, with the tensor-core
// GEMV's GB/s as % of the copy bandwidth; the four projections and the lm_head (128256 x 4096).
//   ignis_gemm_bench [--m 2048,4096,...] [--fp8-m 8,16,...] [--iters N] [--bf16 0|1] [--fp8 0|1] [--int 0|1]
//                    [--dense-gemv 0|1]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "cuda/bandwidth.h"
#include "kernels/fp8_gemv.h"
#include "kernels/gemv.h"
#include "kernels/int_gemm.h"
#include "kernels/int_gemv.h"

using namespace ignis;

namespace {

struct Shape {
  const char* name;
  int n, k;
};
constexpr Shape kShapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};

double tflops(int m, const Shape& s, double ms) { return 2.0 * m * double(s.n) * s.k / (ms * 1e-3) / 1e12; }

// Random e4m3 codes (uniform values in [-r, r] quantized; a repeated 4M pattern), no NaN.
void fill_fp8(cuda::DeviceBuffer& b, float r, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-r, r);
  std::vector<uint8_t> pat(size_t(1) << 22);
  for (auto& x : pat) x = f32_to_e4m3(d(rng));
  for (size_t off = 0; off < b.bytes(); off += pat.size()) {
    const size_t k = std::min(pat.size(), b.bytes() - off);
    IGNIS_CUDA_CHECK(cudaMemcpy(b.as<uint8_t>() + off, pat.data(), k, cudaMemcpyHostToDevice));
  }
}

// n floats uniform in [lo, hi] on the device.
cuda::DeviceBuffer device_floats(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(std::max<size_t>(n, 4));
  for (auto& x : v) x = d(rng);
  cuda::DeviceBuffer b(v.size() * 4, "bench floats");
  IGNIS_CUDA_CHECK(cudaMemcpy(b.get(), v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  return b;
}

// Mean ms of f(i) over `iters` calls on `s` (after 3 warm-up calls), i = the call's index.
template <class F>
double time_on(cudaStream_t s, int iters, F&& f) {
  for (int i = 0; i < 3; ++i) f(i);
  cudaEvent_t e0, e1;
  IGNIS_CUDA_CHECK(cudaEventCreate(&e0));
  IGNIS_CUDA_CHECK(cudaEventCreate(&e1));
  IGNIS_CUDA_CHECK(cudaEventRecord(e0, s));
  for (int i = 0; i < iters; ++i) f(i);
  IGNIS_CUDA_CHECK(cudaEventRecord(e1, s));
  IGNIS_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  IGNIS_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  IGNIS_CUDA_CHECK(cudaEventDestroy(e0));
  IGNIS_CUDA_CHECK(cudaEventDestroy(e1));
  return double(ms) / iters;
}

// Copies of a weight matrix of `bytes` that together hold at least 512 MB (about 8x the L2).
int weight_copies(size_t bytes) { return int(std::max<size_t>(2, ((size_t(512) << 20) + bytes - 1) / bytes)); }

// cuBLASLt FP8 (channel scales) 8192^3, TFLOP/s.
double fp8_gemm_tflops(cuda::Gemm& gemm, int iters) {
  constexpr int n = 8192;
  cuda::DeviceBuffer x(size_t(n) * n, "fp8 x"), w(size_t(n) * n, "fp8 w"), y(size_t(n) * n * 2, "fp8 y");
  fill_fp8(x, 200.0f, 4);
  fill_fp8(w, 200.0f, 5);
  cuda::DeviceBuffer sx = device_floats(n, 0.5f, 1.5f, 6), sw = device_floats(n, 0.5f, 1.5f, 7);
  const double ms = time_on(nullptr, iters, [&](int) {
    gemm.matmul_fp8(x.get(), sx.as<float>(), w.get(), sw.as<float>(), y.get(), DType::BF16, n, n, n,
                    kernels::Fp8Scaling::Channel, nullptr);
  });
  return 2.0 * n * n * double(n) / (ms * 1e-3) / 1e12;
}

// FP8 GEMV at m = 1 (channel / block scales) and the bf16 GEMV, per shape: GB/s and % of copy bw.
void bench_gemv(double copy_gbs, int iters) {
  constexpr int m = 1;
  cudaStream_t st;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  std::printf("%-8s %2s %-14s %10s %10s %8s\n", "shape", "M", "kernel", "us", "GB/s", "%copy");
  for (const auto& s : kShapes) {
    const size_t wbytes = size_t(s.n) * s.k;
    const int copies8 = weight_copies(wbytes), copies16 = weight_copies(2 * wbytes);
    cuda::DeviceBuffer w8(wbytes * copies8, "fp8 weights"), x8(size_t(m) * s.k, "fp8 x"),
        y(size_t(m) * s.n * 2, "y");
    fill_fp8(w8, 200.0f, 11);
    fill_fp8(x8, 200.0f, 12);
    const int groups = (s.k + 127) / 128;
    cuda::DeviceBuffer sxc = device_floats(m, 0.5f, 1.5f, 13), swc = device_floats(s.n, 0.5f, 1.5f, 14);
    cuda::DeviceBuffer sxb = device_floats(size_t(groups) * m, 0.5f, 1.5f, 15),
                       swb = device_floats(size_t((s.n + 127) / 128) * kernels::fp8_block_scale_ld(s.k), 0.5f, 1.5f,
                                           16);
    for (auto sc : {kernels::Fp8Scaling::Channel, kernels::Fp8Scaling::Block}) {
      const bool block = sc == kernels::Fp8Scaling::Block;
      const double ms = time_on(st, iters, [&](int i) {
        kernels::gemv_fp8(DType::BF16, x8.get(), (block ? sxb : sxc).as<float>(),
                          w8.as<uint8_t>() + size_t(i % copies8) * wbytes, (block ? swb : swc).as<float>(), y.get(),
                          m, s.n, s.k, sc, st, true);
      });
      const double gbs = double(wbytes + size_t(m) * s.k + size_t(m) * s.n * 2) / (ms * 1e-3) / 1e9;
      std::printf("%-8s %2d %-14s %10.2f %10.1f %8.1f\n", s.name, m, block ? "fp8-block" : "fp8-channel",
                  ms * 1e3, gbs, 100.0 * gbs / copy_gbs);
    }
    cuda::DeviceBuffer w16(2 * wbytes * copies16, "bf16 weights"), x16(size_t(m) * s.k * 2, "bf16 x");
    bench::fill_bf16(w16, 0.05f, 17);
    bench::fill_bf16(x16, 1.0f, 18);
    const double ms = time_on(st, iters, [&](int i) {
      kernels::gemv(DType::BF16, DType::BF16, x16.get(), w16.as<uint8_t>() + size_t(i % copies16) * 2 * wbytes,
                    y.get(), m, s.n, s.k, st, true);
    });
    const double gbs = double(2 * wbytes + size_t(m) * s.k * 2 + size_t(m) * s.n * 2) / (ms * 1e-3) / 1e9;
    std::printf("%-8s %2d %-14s %10.2f %10.1f %8.1f\n", s.name, m, "bf16", ms * 1e3, gbs, 100.0 * gbs / copy_gbs);
    std::fflush(stdout);
  }
  IGNIS_CUDA_CHECK(cudaStreamDestroy(st));
}

// Dense bf16 at 1-64 rows: gemv_mma / gemv / cuBLASLt (see the header).
void bench_dense_gemv(double copy_gbs, int iters) {
  cudaStream_t st;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cuda::Gemm gemm;
  constexpr int kMaxM = 64;
  std::printf("%-8s %3s %9s %9s %9s %8s %7s\n", "shape", "M", "mma_us", "gemv_us", "blas_us", "%copy", "vs_best");
  std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
  shapes.push_back({"lm_head", 128256, 4096});
  for (const auto& s : shapes) {
    const size_t nk = size_t(s.n) * s.k;
    const int copies = weight_copies(2 * nk);
    cuda::DeviceBuffer w(2 * nk * copies, "bf16 weights"), x(size_t(kMaxM) * s.k * 2, "x"), y(size_t(kMaxM) * s.n * 2, "y");
    bench::fill_bf16(w, 0.05f, 51);
    bench::fill_bf16(x, 1.0f, 52);
    auto wat = [&](int i) { return w.as<uint8_t>() + size_t(i % copies) * 2 * nk; };
    for (int m : {1, 2, 4, 8, 9, 16, 17, 32, 64}) {
      const double mma = time_on(st, iters, [&](int i) {
        kernels::gemv_mma(DType::BF16, DType::BF16, x.get(), wat(i), y.get(), m, s.n, s.k, st, true);
      });
      const double gv = m <= kernels::kGemvMaxM ? time_on(st, iters, [&](int i) {
        kernels::gemv(DType::BF16, DType::BF16, x.get(), wat(i), y.get(), m, s.n, s.k, st, true);
      })
                                                : 0.0;
      const double bl = time_on(st, iters, [&](int i) {
        gemm.matmul(DType::BF16, DType::BF16, x.get(), wat(i), y.get(), m, s.n, s.k, st);
      });
      const double gbs = double(2 * nk + size_t(m) * (s.k + s.n) * 2) / (mma * 1e-3) / 1e9;
      const double best = gv > 0 ? std::min(gv, bl) : bl;
      std::printf("%-8s %3d %9.2f %9.2f %9.2f %8.1f %7.2f\n", s.name, m, mma * 1e3, gv * 1e3, bl * 1e3,
                  100.0 * gbs / copy_gbs, best / mma);
      std::fflush(stdout);
    }
  }
  IGNIS_CUDA_CHECK(cudaStreamDestroy(st));
}

// cuBLASLt FP8 (channel: heuristic and tuned; block: heuristic) and bf16 (heuristic) at each M.
// Integer products (4 / 8 bits, group 128, zero points) at m = 1..256 against the bf16 product.
void bench_int(double copy_gbs, int iters) {
  cudaStream_t st;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cuda::Gemm gemm;
  int dev = 0, sms = 0;
  IGNIS_CUDA_CHECK(cudaGetDevice(&dev));
  IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  std::printf("%-8s %3s %-6s %9s %9s %9s %9s %8s %6s %6s %6s\n", "shape", "M", "kernel", "gemv_us", "gemm_us",
              "deq_us", "bf16_us", "%copy", "gemv", "gemm", "deq");
  std::mt19937_64 rng(31);
  constexpr int kMs[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  constexpr int kMaxM = 256;
  for (const auto& s : kShapes) {
    constexpr int kGroup = 128;
    const size_t nk = size_t(s.n) * s.k;
    const int copies16 = weight_copies(2 * nk);
    cuda::DeviceBuffer w16(2 * nk * copies16, "bf16 weights"), x(size_t(kMaxM) * s.k * 2, "x"),
        y(size_t(kMaxM) * s.n * 2, "y"), deq(2 * nk, "dequantized weights");
    bench::fill_bf16(w16, 0.05f, 41);
    bench::fill_bf16(x, 1.0f, 42);
    for (int bits : {4, 8}) {
      const size_t qbytes = nk * bits / 8, mbytes = nk / kGroup * 4;
      const int copies = weight_copies(qbytes + mbytes);
      std::vector<uint32_t> hq((qbytes + mbytes) / 4 * copies);
      for (auto& v : hq) v = uint32_t(rng());
      for (int c = 0; c < copies; ++c) {  // meta: fp16 scale around 0.01, zero code in range
        uint32_t* m = hq.data() + (qbytes + mbytes) / 4 * c + qbytes / 4;
        for (size_t i = 0; i < mbytes / 4; ++i)
          m[i] = uint32_t(f32_to_f16(0.005f + 0.01f * float(rng() % 1000) / 1000.0f)) |
                 uint32_t(rng() % (1u << bits)) << 16;
      }
      cuda::DeviceBuffer dq(hq.size() * 4, "int weights");
      IGNIS_CUDA_CHECK(cudaMemcpy(dq.get(), hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
      const size_t ws_floats = kernels::gemm_int_workspace_floats(kMaxM, s.n, s.k, bits, sms);
      cuda::DeviceBuffer ws(std::max<size_t>(ws_floats, 1) * 4, "gemm_int workspace");
      IGNIS_CUDA_CHECK(cudaMemset(ws.get(), 0, std::max<size_t>(ws_floats, 1) * 4));
      auto qat = [&](int i) { return dq.as<uint32_t>() + (qbytes + mbytes) / 4 * size_t(i % copies); };
      for (int m : kMs) {
        const double none = 0.0;
        const double gv = kernels::gemv_int_supported(DType::BF16, bits, m, s.k, kGroup)
                              ? time_on(st, iters, [&](int i) {
                                  kernels::gemv_int(DType::BF16, x.get(), qat(i), qat(i) + qbytes / 4, y.get(), m, s.n,
                                                    s.k, bits, kGroup, st, true);
                                })
                              : none;
        const double gm = kernels::gemm_int_supported(DType::BF16, bits, m, s.k, kGroup)
                              ? time_on(st, iters, [&](int i) {
                                  kernels::gemm_int(DType::BF16, x.get(), qat(i), qat(i) + qbytes / 4, y.get(), m, s.n,
                                                    s.k, bits, kGroup, ws.as<float>(), ws_floats, sms, st, true);
                                })
                              : none;
        const double dg = m >= 16 ? time_on(st, iters, [&](int i) {
          kernels::dequantize_int_weights(DType::BF16, qat(i), qat(i) + qbytes / 4, deq.get(), s.n, s.k, bits, kGroup,
                                          st);
          gemm.matmul(DType::BF16, DType::BF16, x.get(), deq.get(), y.get(), m, s.n, s.k, st);
        })
                                  : none;
        const double b16 = time_on(st, iters, [&](int i) {
          const void* w = w16.as<uint8_t>() + size_t(i % copies16) * 2 * nk;
          if (kernels::gemv_supported(DType::BF16, DType::BF16, x.get(), w, m, s.k))
            kernels::gemv(DType::BF16, DType::BF16, x.get(), w, y.get(), m, s.n, s.k, st, true);
          else
            gemm.matmul(DType::BF16, DType::BF16, x.get(), w, y.get(), m, s.n, s.k, st);
        });
        double best = 1e30;
        for (double t : {gv, gm, dg})
          if (t > 0) best = std::min(best, t);
        const double gbs = double(qbytes + mbytes + size_t(m) * (s.k + s.n) * 2) / (best * 1e-3) / 1e9;
        auto ratio = [&](double t) { return t > 0 ? b16 / t : 0.0; };
        std::printf("%-8s %3d int%-3d %9.2f %9.2f %9.2f %9.2f %8.1f %6.2f %6.2f %6.2f\n", s.name, m, bits, gv * 1e3,
                    gm * 1e3, dg * 1e3, b16 * 1e3, 100.0 * gbs / copy_gbs, ratio(gv), ratio(gm), ratio(dg));
        std::fflush(stdout);
      }
    }
  }
  IGNIS_CUDA_CHECK(cudaStreamDestroy(st));
}

void bench_fp8_gemm(const std::vector<int>& ms_list, double fp8_peak, double bf16_peak, int iters) {
  int max_m = 0;
  for (int m : ms_list) max_m = std::max(max_m, m);
  std::printf("%-8s %6s %12s %12s %12s %12s %8s %8s %8s %8s\n", "shape", "M", "fp8ch_ms", "fp8ch_tuned", "fp8blk_ms",
              "bf16_ms", "ch%fp8", "tuned%", "blk%fp8", "bf16%");
  cuda::Gemm plain, tuned;
  for (const auto& s : kShapes) {
    const size_t wbytes = size_t(s.n) * s.k;
    const int copies = weight_copies(2 * wbytes);  // the bf16 weights' count; FP8 uses as many
    cuda::DeviceBuffer w8(wbytes * copies, "fp8 weights"), w16(2 * wbytes * copies, "bf16 weights");
    cuda::DeviceBuffer x8(size_t(max_m) * s.k, "fp8 x"), x16(size_t(max_m) * s.k * 2, "bf16 x"),
        y(size_t(max_m) * s.n * 2, "y");
    fill_fp8(w8, 200.0f, 21);
    fill_fp8(x8, 200.0f, 22);
    bench::fill_bf16(w16, 0.05f, 23);
    bench::fill_bf16(x16, 1.0f, 24);
    const int groups = (s.k + 127) / 128;
    cuda::DeviceBuffer sxc = device_floats(max_m, 0.5f, 1.5f, 25), swc = device_floats(s.n, 0.5f, 1.5f, 26);
    cuda::DeviceBuffer sxb = device_floats(size_t(groups) * max_m, 0.5f, 1.5f, 27),
                       swb = device_floats(size_t((s.n + 127) / 128) * kernels::fp8_block_scale_ld(s.k), 0.5f, 1.5f,
                                           28);
    for (int m : ms_list) {
      const bool rotate = m <= 256;  // bandwidth-bound: weights from DRAM, not L2
      auto w8_at = [&](int i) { return w8.as<uint8_t>() + size_t(rotate ? i % copies : 0) * wbytes; };
      auto w16_at = [&](int i) { return w16.as<uint8_t>() + size_t(rotate ? i % copies : 0) * 2 * wbytes; };
      auto fp8 = [&](cuda::Gemm& g, kernels::Fp8Scaling sc, int i) {
        const bool block = sc == kernels::Fp8Scaling::Block;
        g.matmul_fp8(x8.get(), (block ? sxb : sxc).as<float>(), w8_at(i), (block ? swb : swc).as<float>(), y.get(),
                     DType::BF16, m, s.n, s.k, sc, nullptr);
      };
      const double ch = time_on(nullptr, iters, [&](int i) { fp8(plain, kernels::Fp8Scaling::Channel, i); });
      tuned.tune(cuda::GemmType{DType::F8_E4M3, DType::BF16, kernels::Fp8Scaling::Channel},
                 cuda::GemmOperands{x8.get(), w8.get(), y.get(), sxc.as<float>(), swc.as<float>()}, m, s.n, s.k,
                 cuda::kGemmTuneAlgos, cuda::kGemmTuneIters, nullptr);
      const double ch_t = time_on(nullptr, iters, [&](int i) { fp8(tuned, kernels::Fp8Scaling::Channel, i); });
      const double blk = time_on(nullptr, iters, [&](int i) { fp8(plain, kernels::Fp8Scaling::Block, i); });
      const double bf = time_on(nullptr, iters, [&](int i) {
        plain.matmul(DType::BF16, DType::BF16, x16.get(), w16_at(i), y.get(), m, s.n, s.k, nullptr);
      });
      std::printf("%-8s %6d %12.4f %12.4f %12.4f %12.4f %8.1f %8.1f %8.1f %8.1f\n", s.name, m, ch, ch_t, blk, bf,
                  100.0 * tflops(m, s, ch) / fp8_peak, 100.0 * tflops(m, s, ch_t) / fp8_peak,
                  100.0 * tflops(m, s, blk) / fp8_peak, 100.0 * tflops(m, s, bf) / bf16_peak);
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ms_list = {64, 256, 1024, 2048, 4096, 7585, 8192};
  std::vector<int> fp8_ms = {8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  int iters = 10;
  bool run_bf16 = true, run_fp8 = true, run_int = false, run_dense_gemv = false;
  auto parse_list = [](const char* arg) {
    std::vector<int> v;
    std::stringstream ss(arg);
    for (std::string t; std::getline(ss, t, ',');) v.push_back(std::atoi(t.c_str()));
    return v;
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--m")) {
      ms_list = parse_list(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--fp8-m")) {
      fp8_ms = parse_list(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--iters")) {
      iters = std::atoi(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--bf16")) {
      run_bf16 = std::atoi(argv[i + 1]) != 0;
    } else if (!std::strcmp(argv[i], "--fp8")) {
      run_fp8 = std::atoi(argv[i + 1]) != 0;
    } else if (!std::strcmp(argv[i], "--int")) {
      run_int = std::atoi(argv[i + 1]) != 0;
    } else if (!std::strcmp(argv[i], "--dense-gemv")) {
      run_dense_gemv = std::atoi(argv[i + 1]) != 0;
    }
  }
  try {
    const double peak = bench::gemm_tflops(20);
    std::printf("gemm_bf16_tflops %.1f\n", peak);
    if (run_dense_gemv) {
      const double copy_gbs = cuda::measure_copy_bandwidth_gbs();
      std::printf("copy_bandwidth_gbs %.1f\n", copy_gbs);
      bench_dense_gemv(copy_gbs, std::max(iters, 50));
    }
    if (run_int) {
      const double copy_gbs = cuda::measure_copy_bandwidth_gbs();
      std::printf("copy_bandwidth_gbs %.1f\n", copy_gbs);
      bench_int(copy_gbs, std::max(iters, 50));
    }
    if (run_fp8) {
      const double copy_gbs = cuda::measure_copy_bandwidth_gbs();
      std::printf("copy_bandwidth_gbs %.1f\n", copy_gbs);
      cuda::Gemm g8;
      const double fp8_peak = fp8_gemm_tflops(g8, 20);
      std::printf("gemm_fp8_tflops %.1f (cuBLASLt, channel scales, 8192^3)\n", fp8_peak);
      bench_gemv(copy_gbs, std::max(iters, 50));
      bench_fp8_gemm(fp8_ms, fp8_peak, peak, iters);
    }
    if (!run_bf16) return 0;
    int max_m = 0, max_n = 0, max_k = 0;
    for (int m : ms_list) max_m = std::max(max_m, m);
    for (const auto& s : kShapes) max_n = std::max(max_n, s.n), max_k = std::max(max_k, s.k);
    cuda::DeviceBuffer x(size_t(max_m) * max_k * 2, "x"), w(size_t(max_n) * max_k * 2, "w"),
        y(size_t(max_m) * max_n * 2, "y");
    bench::fill_bf16(x, 1.0f, 1);
    bench::fill_bf16(w, 0.05f, 2);
    cuda::Gemm plain, tuned;
    std::printf("%-8s %6s %10s %10s %10s %8s %8s %8s\n", "shape", "M", "heur_ms", "best_ms", "tuned_ms", "heur%",
                "best%", "tuned%");
    for (int m : ms_list) {
      double sum_h = 0, sum_b = 0, sum_t = 0, flop = 0;
      for (const auto& s : kShapes) {
        auto times = plain.time_algos(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), m, s.n, s.k, 16, iters,
                                      nullptr);
        const double h = bench::time_ms(iters, [&] {
          plain.matmul(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), m, s.n, s.k, nullptr);
        });
        tuned.tune(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), m, s.n, s.k, cuda::kGemmTuneAlgos,
                   cuda::kGemmTuneIters, nullptr);
        const double t = bench::time_ms(iters, [&] {
          tuned.matmul(DType::BF16, DType::BF16, x.get(), w.get(), y.get(), m, s.n, s.k, nullptr);
        });
        const double b = times.empty() ? h : std::min<double>(h, times[0].ms);
        std::printf("%-8s %6d %10.4f %10.4f %10.4f %8.1f %8.1f %8.1f\n", s.name, m, h, b, t,
                    100.0 * tflops(m, s, h) / peak, 100.0 * tflops(m, s, b) / peak, 100.0 * tflops(m, s, t) / peak);
        sum_h += h, sum_b += b, sum_t += t, flop += 2.0 * m * double(s.n) * s.k;
      }
      std::printf("layer_m%d heur %.4f ms (%.1f TFLOP/s), best %.4f (%.1f), tuned %.4f (%.1f)\n", m, sum_h,
                  flop / sum_h / 1e9, sum_b, flop / sum_b / 1e9, sum_t, flop / sum_t / 1e9);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
