#include "kernels/cuda_check.h"

#include "core/error.h"

namespace ignis {

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  std::string msg = fmt::format("CUDA error at {}:{}: {} failed: {} ({})", file, line, what,
                                cudaGetErrorString(err), cudaGetErrorName(err));
  if (err == cudaErrorMemoryAllocation)
    msg += " -- out of GPU memory: lower --kv-cache-fraction, --max-num-tokens or the batch size";
  throw Error(msg);
}

void throw_kernel_error(const std::string& msg) { throw Error(msg); }

}  // namespace ignis
