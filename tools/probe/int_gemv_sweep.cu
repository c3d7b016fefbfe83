// Probe (issue 17 item 4): the integer GEMV's launch shapes (kernels/int_gemv_impl.cuh GemvShape: warps
// per block, units per iteration, blocks per SM, prefetch, early PDL trigger) timed against the first
// shape of each row count (the default until 2026-12-07) on the 8B projections, bf16 activations, 4 and 8 bits, group 128 with zero points, and dense bf16 weights (16 bits: gemv_mma; the 16-row shapes must keep the 1-row warp count, batch invariance), weights rotating
// beyond the L2, back to back with PDL as ignis_gemm_bench does. Each variant's output is compared with
// that first shape's (only the split-k summation order differs). The FP8 GEMV's shapes likewise. Standalone:
//   nvcc -O3 -std=c++20 -arch=sm_90a -I src tools/probe/int_gemv_sweep.cu -o build-gpu/int_gemv_sweep
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp8_gemv_impl.cuh"
#include "kernels/int_gemv_impl.cuh"

namespace ignis {
void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  std::printf("CUDA error %s in %s at %s:%d\n", cudaGetErrorString(err), what, file, line);
  std::exit(1);
}
void throw_kernel_error(const std::string& msg) {
  std::printf("%s\n", msg.c_str());
  std::exit(1);
}
}  // namespace ignis

using namespace ignis::kernels::int_gemv_detail;
namespace fp8d = ignis::kernels::fp8_gemv_detail;
using T = __nv_bfloat16;

namespace {

using Launch = void (*)(const void*, const uint32_t*, const uint32_t*, void*, int, int, int, int, cudaStream_t, bool);
struct Variant {
  const char* name;
  int m;  // rows of x: 8 per column tile of the instantiation
  Launch l4, l8, l16;  // 16: dense bf16 weights (kernels/gemv.h gemv_mma)
};

template <int W, int U, int B, bool P, bool Tr, int Nt = 1>
Variant variant(const char* name) {
  using S = GemvShape<W, U, B, P, Tr>;
  return {name, Nt == 1 ? 1 : 8 * Nt, &launch_gemv_tiles<T, 4, Nt, S>, &launch_gemv_tiles<T, 8, Nt, S>,
          &launch_gemv_tiles<T, 16, Nt, S>};
}

using Fp8Launch = void (*)(const uint8_t*, const float*, const uint8_t*, const float*, T*, int, int, int, cudaStream_t,
                          bool);
struct Fp8Variant {
  const char* name;
  Fp8Launch l;
};
template <int W, int U, int B, bool Tr>
void fp8_launch(const uint8_t* x, const float* sx, const uint8_t* w, const float* sw, T* y, int m, int n, int k,
                cudaStream_t s, bool pdl) {
  fp8d::launch_fp8_tiles<T, false, fp8d::Fp8Shape<W, U, B, Tr>>(fp8d::GlobalX{x, sx}, 0, w, sw, fp8d::RowsY<T>{y}, m, n, k, s, pdl);
}
template <int W, int U, int B, bool Tr>
Fp8Variant fp8_variant(const char* name) {
  return {name, &fp8_launch<W, U, B, Tr>};
}

template <class F> double time_us(cudaStream_t s, int iters, F&& f) {
  for (int i = 0; i < 5; ++i) f(i);
  cudaEvent_t a, b;
  IGNIS_CUDA_CHECK(cudaEventCreate(&a));
  IGNIS_CUDA_CHECK(cudaEventCreate(&b));
  IGNIS_CUDA_CHECK(cudaEventRecord(a, s));
  for (int i = 0; i < iters; ++i) f(i);
  IGNIS_CUDA_CHECK(cudaEventRecord(b, s));
  IGNIS_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  IGNIS_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  return 1e3 * ms / iters;
}

float bf2f(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Largest |out - ref| over the first `count` values, relative to the largest |ref| (0 when ref is 0).
double max_rel_diff(const std::vector<uint16_t>& out, const std::vector<uint16_t>& ref, size_t count) {
  double md = 0, mx = 0;
  for (size_t i = 0; i < count; ++i) {
    md = std::max(md, double(std::fabs(bf2f(out[i]) - bf2f(ref[i]))));
    mx = std::max(mx, double(std::fabs(bf2f(ref[i]))));
  }
  return mx > 0 ? md / mx : 0.0;
}

// One table row: shape, bits, variant, us, GB/s of `bytes` read, % of the copy bandwidth, difference.
void print_row(const char* shape, int bits, const char* name, double us, size_t bytes, double copy_gbs, double diff) {
  const double gbs = double(bytes) / (us * 1e-6) / 1e9;
  std::printf("%-8s %-4d %-18s %9.2f %9.1f %7.1f %9.2e\n", shape, bits, name, us, gbs, 100.0 * gbs / copy_gbs, diff);
  std::fflush(stdout);
}

}  // namespace

// Optional filters (for a profiler run of one kernel): argv[2] a shape name ("all": every shape), argv[3] the
// bits (0: all), argv[4] a substring of the variant names (the shape's default variant runs only if it matches).
int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 100;
  const std::string only_shape = argc > 2 ? argv[2] : "all";
  const int only_bits = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::string only_var = argc > 4 ? argv[4] : "";
  auto wanted = [&](const char* shape, int bits, const char* var) {
    return (only_shape == "all" || only_shape == shape) && (only_bits == 0 || only_bits == bits) &&
           (!*var || std::string(var).find(only_var) != std::string::npos);  // var "": any variant
  };
  cudaStream_t st;
  IGNIS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  // Copy bandwidth (read + write) of 1 GiB in the same process.
  double copy_gbs;
  {
    const size_t bytes = size_t(1) << 30;
    void *a, *b;
    IGNIS_CUDA_CHECK(cudaMalloc(&a, bytes));
    IGNIS_CUDA_CHECK(cudaMalloc(&b, bytes));
    IGNIS_CUDA_CHECK(cudaMemset(a, 1, bytes));
    const double us = time_us(st, 10, [&](int) { IGNIS_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, st)); });
    copy_gbs = 2.0 * bytes / (us * 1e-6) / 1e9;
    cudaFree(a);
    cudaFree(b);
  }
  std::printf("copy %.1f GB/s\n", copy_gbs);
  const Variant vars[] = {
      variant<8, 4, 2, false, false>("w8u4b2 (base)"), variant<8, 4, 2, false, true>("w8u4b2 trig"),
      variant<8, 2, 4, false, false>("w8u2b4"),            variant<8, 2, 4, true, false>("w8u2b4 pf"),
      variant<8, 2, 3, true, false>("w8u2b3 pf"),          variant<8, 4, 2, true, false>("w8u4b2 pf"),
      variant<4, 4, 4, false, false>("w4u4b4"),            variant<4, 2, 8, true, false>("w4u2b8 pf"),
      variant<4, 4, 4, true, false>("w4u4b4 pf"),          variant<16, 2, 2, false, false>("w16u2b2"),
      variant<16, 2, 2, true, false>("w16u2b2 pf"),        variant<16, 1, 2, true, false>("w16u1b2 pf"),
      variant<8, 1, 4, true, false>("w8u1b4 pf"),          variant<8, 2, 4, true, true>("w8u2b4 pf trig"),
      variant<16, 2, 2, true, true>("w16u2b2 pf trig"),    variant<4, 2, 8, true, true>("w4u2b8 pf trig"),
      variant<8, 8, 1, false, true>("w8u8b1 trig"),        variant<8, 8, 2, false, true>("w8u8b2 trig"),
      variant<16, 4, 1, false, true>("w16u4b1 trig"),      variant<16, 2, 2, false, true>("w16u2b2 trig"),
      variant<8, 2, 4, false, true>("w8u2b4 trig"),        variant<4, 8, 4, false, true>("w4u8b4 trig"),
      variant<16, 4, 2, false, true>("w16u4b2 trig"),      variant<8, 4, 3, false, true>("w8u4b3 trig"),
      // 16 rows (dense only): the first is the default (at 1 row: w16u2b2)
      variant<16, 2, 2, false, false, 2>("nt2 w16u2b2 (dflt)"), variant<16, 2, 2, false, true, 2>("nt2 w16u2b2 trig"),
      variant<8, 4, 2, false, true, 2>("nt2 w8u4b2 trig"),
      variant<8, 8, 1, false, true, 2>("nt2 w8u8b1 trig"), variant<16, 4, 1, false, true, 2>("nt2 w16u4b1 trig"),
      // 32 and 64 rows: the first of each set is the default
      variant<8, 2, 1, false, false, 4>("nt4 w8u2b1 (dflt)"), variant<8, 2, 2, false, false, 4>("nt4 w8u2b2"),
      variant<8, 1, 2, true, false, 4>("nt4 w8u1b2 pf"),     variant<4, 2, 2, false, false, 4>("nt4 w4u2b2"),
      variant<16, 1, 1, false, false, 4>("nt4 w16u1b1"),     variant<8, 1, 1, true, false, 4>("nt4 w8u1b1 pf"),
      variant<8, 2, 1, false, false, 8>("nt8 w8u2b1 (dflt)"), variant<8, 1, 1, false, false, 8>("nt8 w8u1b1"),
      variant<8, 1, 1, true, false, 8>("nt8 w8u1b1 pf"),     variant<4, 2, 2, false, false, 8>("nt8 w4u2b2"),
      variant<4, 1, 2, true, false, 8>("nt8 w4u1b2 pf"),     variant<16, 1, 1, false, false, 8>("nt8 w16u1b1"),
  };
  struct Shape { const char* name; int n, k; };
  // gate_up/4, down/4 (16 bits only): dense weights of the int4 shapes' bytes and units per row, i.e. the
  // int4 GEMV's memory pattern without its dequantization.
  const Shape shapes[] = {{"qkv", 6144, 4096},     {"o", 4096, 4096},        {"gate_up", 28672, 4096},
                          {"down", 4096, 14336},   {"lm_head", 128256, 4096}, {"gate_up/4", 28672, 1024},
                          {"down/4", 4096, 3584}};
  std::mt19937_64 rng(7);
  std::printf("%-8s %-4s %-18s %9s %9s %7s %9s\n", "shape", "bits", "variant", "us", "GB/s", "%copy", "maxdiff");
  for (const auto& sh : shapes) {
    constexpr int kGroup = 128, kMaxM = 64;
    const size_t nk = size_t(sh.n) * sh.k;
    void *x, *y, *y0;
    IGNIS_CUDA_CHECK(cudaMalloc(&x, size_t(kMaxM) * sh.k * 2));
    IGNIS_CUDA_CHECK(cudaMalloc(&y, size_t(kMaxM) * sh.n * 2));
    IGNIS_CUDA_CHECK(cudaMalloc(&y0, size_t(kMaxM) * sh.n * 2));
    {
      std::vector<uint16_t> hx(size_t(kMaxM) * sh.k);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (auto& v : hx) {
        const float f = nd(rng);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        v = uint16_t(u >> 16);
      }
      IGNIS_CUDA_CHECK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
    }
    for (int bits : {4, 8, 16}) {
      if (!wanted(sh.name, bits, "")) continue;
      if (bits != 16 && (sh.n > 100000 || std::strchr(sh.name, '/'))) continue;  // the lm_head stays dense; "/" shapes are dense only
      const size_t qbytes = nk * bits / 8, mbytes = bits == 16 ? 0 : nk / kGroup * 4, per = qbytes + mbytes;
      const int copies = int(std::max<size_t>(2, ((size_t(640) << 20) + per - 1) / per));
      std::vector<uint32_t> hq(per / 4 * copies);
      for (auto& v : hq) v = bits == 16 ? (uint32_t(rng()) & 0x807F807Fu) | 0x3C003C00u : uint32_t(rng());  // finite bf16 pairs
      for (int c = 0; c < copies && bits != 16; ++c) {
        uint32_t* mt = hq.data() + per / 4 * c + qbytes / 4;
        for (size_t i = 0; i < mbytes / 4; ++i) {
          const float sc = 0.005f + 0.01f * float(rng() % 1000) / 1000.0f;
          mt[i] = uint32_t(__half_as_ushort(__float2half(sc))) | uint32_t(rng() % (1u << bits)) << 16;
        }
      }
      uint32_t* dq;
      IGNIS_CUDA_CHECK(cudaMalloc(&dq, hq.size() * 4));
      IGNIS_CUDA_CHECK(cudaMemcpy(dq, hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
      std::vector<uint16_t> ref(size_t(kMaxM) * sh.n), out(ref.size());
      for (size_t vi = 0; vi < sizeof(vars) / sizeof(vars[0]); ++vi) {
        const int m = vars[vi].m;
        const bool nt2 = std::strncmp(vars[vi].name, "nt2", 3) == 0;
        if ((bits == 8 && m > 1) || (bits == 16 && m > 1 && !nt2) || (bits != 16 && nt2)) continue;
        const bool first = vi == 0 || vars[vi - 1].m != m;  // the default of this m
        if (!wanted(sh.name, bits, vars[vi].name)) continue;  // (a filtered variant's diff is then against zeros)
        const Launch l = bits == 4 ? vars[vi].l4 : bits == 8 ? vars[vi].l8 : vars[vi].l16;
        l(x, dq, dq + qbytes / 4, first ? y0 : y, m, sh.n, sh.k, kGroup, st, true);
        IGNIS_CUDA_CHECK(cudaStreamSynchronize(st));
        IGNIS_CUDA_CHECK(cudaMemcpy((first ? ref : out).data(), first ? y0 : y, size_t(m) * sh.n * 2,
                                    cudaMemcpyDeviceToHost));
        const double diff = first ? 0.0 : max_rel_diff(out, ref, size_t(m) * sh.n);
        const double us = time_us(st, iters, [&](int i) {
          const uint32_t* q = dq + per / 4 * size_t(i % copies);
          l(x, q, q + qbytes / 4, y, m, sh.n, sh.k, kGroup, st, true);
        });
        print_row(sh.name, bits, vars[vi].name, us, per + size_t(m) * (sh.k + sh.n) * 2, copy_gbs, diff);
      }
      cudaFree(dq);
    }
    cudaFree(x);
    cudaFree(y);
    cudaFree(y0);
  }
  // FP8 GEMV (channel scales, bf16 output), m = 1.
  const Fp8Variant fvars[] = {
      fp8_variant<8, 4, 2, false>("f8 w8u4b2 (dflt)"), fp8_variant<8, 4, 2, true>("f8 w8u4b2 trig"),
      fp8_variant<8, 2, 4, false>("f8 w8u2b4"),           fp8_variant<16, 2, 2, false>("f8 w16u2b2"),
      fp8_variant<16, 4, 1, false>("f8 w16u4b1"),         fp8_variant<4, 4, 4, false>("f8 w4u4b4"),
      fp8_variant<8, 2, 4, true>("f8 w8u2b4 trig"),
  };
  for (const auto& sh : shapes) {
    if (std::strchr(sh.name, '/') || !wanted(sh.name, 8, "")) continue;
    const size_t nk = size_t(sh.n) * sh.k;
    const int copies = int(std::max<size_t>(2, ((size_t(640) << 20) + nk - 1) / nk));
    std::vector<uint8_t> hw(nk * copies), hx(sh.k);
    for (auto& v : hw) { v = uint8_t(rng()); if ((v & 0x7F) == 0x7F) v ^= 1; }
    for (auto& v : hx) { v = uint8_t(rng()); if ((v & 0x7F) == 0x7F) v ^= 1; }
    uint8_t *dw, *dx;
    float *sx, *sw;
    void *y, *y0;
    IGNIS_CUDA_CHECK(cudaMalloc(&dw, hw.size()));
    IGNIS_CUDA_CHECK(cudaMalloc(&dx, hx.size()));
    IGNIS_CUDA_CHECK(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice));
    IGNIS_CUDA_CHECK(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice));
    std::vector<float> hs(sh.n, 1e-3f);
    IGNIS_CUDA_CHECK(cudaMalloc(&sx, 4 * 8));
    IGNIS_CUDA_CHECK(cudaMalloc(&sw, 4 * size_t(sh.n)));
    IGNIS_CUDA_CHECK(cudaMemcpy(sx, hs.data(), 4, cudaMemcpyHostToDevice));
    IGNIS_CUDA_CHECK(cudaMemcpy(sw, hs.data(), 4 * size_t(sh.n), cudaMemcpyHostToDevice));
    IGNIS_CUDA_CHECK(cudaMalloc(&y, size_t(sh.n) * 2));
    IGNIS_CUDA_CHECK(cudaMalloc(&y0, size_t(sh.n) * 2));
    std::vector<uint16_t> ref(sh.n), out(sh.n);
    for (size_t vi = 0; vi < sizeof(fvars) / sizeof(fvars[0]); ++vi) {
      if (!wanted(sh.name, 8, fvars[vi].name)) continue;
      void* yo = vi == 0 ? y0 : y;
      fvars[vi].l(dx, sx, dw, sw, static_cast<T*>(yo), 1, sh.n, sh.k, st, true);
      IGNIS_CUDA_CHECK(cudaStreamSynchronize(st));
      IGNIS_CUDA_CHECK(cudaMemcpy((vi == 0 ? ref : out).data(), yo, size_t(sh.n) * 2, cudaMemcpyDeviceToHost));
      const double diff = vi == 0 ? 0.0 : max_rel_diff(out, ref, size_t(sh.n));
      const double us = time_us(st, iters, [&](int i) {
        fvars[vi].l(dx, sx, dw + nk * size_t(i % copies), sw, static_cast<T*>(y), 1, sh.n, sh.k, st, true);
      });
      print_row(sh.name, 8, fvars[vi].name, us, nk + size_t(sh.k) + size_t(sh.n) * 2, copy_gbs, diff);
    }
    cudaFree(dw);
    cudaFree(dx);
    cudaFree(sx);
    cudaFree(sw);
    cudaFree(y);
    cudaFree(y0);
  }
  return 0;
}
