// ignis cuda: device memory bandwidth probe used by the benchmarks as the roofline.
#pragma once
#include <cstddef>

namespace ignis::cuda {

// Device-to-device cudaMemcpy of `bytes` (default 1 GiB), after a warm-up; returns the median
// over `iters` copies of (bytes read + bytes written) / time, in GB/s (1e9 bytes).
double measure_copy_bandwidth_gbs(size_t bytes = size_t(1) << 30, int iters = 10);

}  // namespace ignis::cuda
