#include "cuda/bandwidth.h"

#include <algorithm>
#include <vector>

#include "cuda/device_buffer.h"
#include "kernels/cuda_check.h"

namespace ignis::cuda {

double measure_copy_bandwidth_gbs(size_t bytes, int iters) {
  DeviceBuffer src(bytes, "bandwidth probe source"), dst(bytes, "bandwidth probe destination");
  IGNIS_CUDA_CHECK(cudaMemset(src.get(), 0x5a, bytes));  // non-zero data
  cudaEvent_t e0, e1;
  IGNIS_CUDA_CHECK(cudaEventCreate(&e0));
  IGNIS_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> ms;
  for (int i = -2; i < iters; ++i) {  // two warm-up copies
    IGNIS_CUDA_CHECK(cudaEventRecord(e0));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice));
    IGNIS_CUDA_CHECK(cudaEventRecord(e1));
    IGNIS_CUDA_CHECK(cudaEventSynchronize(e1));
    float t = 0;
    IGNIS_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
    if (i >= 0) ms.push_back(t);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ms.begin(), ms.end());
  const double med = ms[ms.size() / 2];
  return 2.0 * double(bytes) / (med * 1e-3) / 1e9;
}

}  // namespace ignis::cuda
