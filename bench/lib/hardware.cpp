// ignis bench: hardware probe (see hardware.h).
#include "bench/lib/hardware.h"

#include <fstream>

#ifdef IGNIS_BENCH_HAVE_CUDA
#include <cuda_runtime.h>

#include "cuda/bandwidth.h"
#endif

namespace ignis::bench {

namespace {
std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(line.find_first_not_of(" \t", c + 1));
    }
  return "cpu";
}
}  // namespace

HardwareInfo probe_hardware(bool gpu) {
  HardwareInfo h;
#ifdef IGNIS_BENCH_HAVE_CUDA
  int dev = 0;
  cudaDeviceProp prop{};
  if (gpu && cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
    h.name = prop.name;
    h.copy_bandwidth_gbps = ignis::cuda::measure_copy_bandwidth_gbs();
    return h;
  }
#else
  (void)gpu;
#endif
  h.name = cpu_name();
  return h;
}

}  // namespace ignis::bench
