// Integer weight-only GEMM (kernels/int_gemm.h): argument checks, split-k sizing and the dispatch by bits
// (the kernel: int_gemm_impl.cuh; instantiations: int_gemm4.cu, int_gemm8.cu).
#include <algorithm>
#include <string>

#include "kernels/attention_wgmma.h"
#include "kernels/cuda_check.h"
#include "kernels/int_gemm.h"
#include "kernels/int_gemm_impl.cuh"
#include "kernels/int_gemv.h"

namespace ignis::kernels {

namespace int_gemm_detail {
void gemm_bits4(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, float* ws, int m, int n,
                int k, int group, int splits, cudaStream_t s, bool pdl);
void gemm_bits8(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, float* ws, int m, int n,
                int k, int group, int splits, cudaStream_t s, bool pdl);
}  // namespace int_gemm_detail

bool gemm_int_supported(DType act, int bits, int m, int k, int group) {
  return m >= 1 && int_weights_supported(act, bits, k, group) && wgmma_device();  // k: a multiple of 64
}

size_t gemm_int_workspace_floats(int max_m, int n, int k, int bits, int num_sms) {
  size_t most = 0;
  for (int m = 1; m <= max_m; ++m) {
    const int s = int_gemm_detail::gemm_splits(m, n, k, bits, num_sms);
    if (s > 1) most = std::max(most, size_t(s) * size_t(m) * size_t(n));
  }
  return most == 0 ? 0 : most + int_gemm_detail::kCounterSlots;
}

void gemm_int(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k, int bits,
              int group, float* workspace, size_t workspace_floats, int num_sms, cudaStream_t stream, bool pdl) {
  IGNIS_KCHECK(gemm_int_supported(act, bits, m, k, group),
               "gemm_int: unsupported case (" + std::string(dtype_name(act)) + ", " + std::to_string(bits) +
                   " bits, m " + std::to_string(m) + ", k " + std::to_string(k) + ", group " +
                   std::to_string(group) + ")");
  if (n <= 0) return;
  const int splits = int_gemm_detail::gemm_splits(m, n, k, bits, num_sms);
  if (splits > 1) {
    const size_t need = int_gemm_detail::kCounterSlots + size_t(splits) * size_t(m) * size_t(n);
    IGNIS_KCHECK(workspace != nullptr && workspace_floats >= need,
                 "gemm_int: workspace of " + std::to_string(workspace_floats) + " floats, " + std::to_string(need) +
                     " needed (m " + std::to_string(m) + ", n " + std::to_string(n) + ", " + std::to_string(splits) +
                     " splits)");
  }
  if (bits == 4) int_gemm_detail::gemm_bits4(act, x, q, meta, y, workspace, m, n, k, group, splits, stream, pdl);
  else int_gemm_detail::gemm_bits8(act, x, q, meta, y, workspace, m, n, k, group, splits, stream, pdl);
  IGNIS_CUDA_LAUNCH_CHECK("gemm_int_kernel");
}

}  // namespace ignis::kernels
