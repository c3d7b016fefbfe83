// Paged attention for prefill tiles on Hopper (wgmma): the host side and the instantiations for a
// cache of the compute dtype (the kernel: attention_wgmma_impl.cuh; for an FP8 cache:
// attention_wgmma_fp8.cu).
#include <atomic>

#include "kernels/attention_wgmma_impl.cuh"

namespace ignis::kernels {
namespace {

std::atomic<int>& wgmma_max_blocks_slot() {
  static std::atomic<int> v{0};
  return v;
}

}  // namespace

bool attention_wgmma_shape_supported(int gqa, int head_dim, DType dtype) {
  return (dtype == DType::BF16 || dtype == DType::F16) && head_dim == kD && gqa >= 1 && gqa <= 32;
}

bool wgmma_device() {
#ifndef IGNIS_HAVE_SM90A
  return false;  // built without sm_90a code: the kernel would only trap
#endif
  static const bool yes = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
      cudaGetLastError();  // clear the error of a machine without a device
      return false;
    }
    return major == 9 && minor == 0;
  }();
  return yes;
}

void set_attention_wgmma_max_blocks(int n) { wgmma_max_blocks_slot().store(n < 0 ? 0 : n); }
int attention_wgmma_max_blocks() { return wgmma_max_blocks_slot().load(); }

void launch_paged_attention_wgmma(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (attention_kv_fp8(a.kv_dtype)) launch_paged_attention_wgmma_fp8(a, stream);
  else if (a.dtype == DType::BF16) launch<__nv_bfloat16, __nv_bfloat16>(a, stream);
  else launch<__half, __half>(a, stream);
}

}  // namespace ignis::kernels
