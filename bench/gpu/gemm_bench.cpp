// ignis_gemm_bench: the prefill GEMMs of the Llama-3.1-8B shape (bf16, fp32 accumulation) through
// cuBLASLt, for several token counts M: the heuristic's first algorithm (what ignis uses untuned),
// the fastest of its first 16 candidates at that M (10 runs each), and the algorithm the engine's
// quick tuning keeps (Gemm::tune with its settings, CudaModel::tune_gemms), re-timed. Prints a table
// and per-M layer totals; every rate also as a percentage of the 8192^3 GEMM rate measured first
// in the same run.
//   ignis_gemm_bench [--m 2048,4096,...] [--iters N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"

using namespace ignis;

namespace {

struct Shape {
  const char* name;
  int n, k;
};
constexpr Shape kShapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};

double tflops(int m, const Shape& s, double ms) { return 2.0 * m * double(s.n) * s.k / (ms * 1e-3) / 1e12; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ms_list = {64, 256, 1024, 2048, 4096, 7585, 8192};
  int iters = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--m")) {
      ms_list.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string t; std::getline(ss, t, ',');) ms_list.push_back(std::atoi(t.c_str()));
    } else if (!std::strcmp(argv[i], "--iters")) {
      iters = std::atoi(argv[i + 1]);
    }
  }
  try {
    const double peak = bench::gemm_tflops(20);
    std::printf("gemm_bf16_tflops %.1f\n", peak);
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
