// Paged attention for prefill tiles on Hopper (wgmma) over an FP8 (e4m3) KV cache: the instantiations
// of attention_wgmma_impl.cuh for KV = kv_fp8 (a separate unit so the two caches' kernels compile in
// parallel).
#include "kernels/attention_wgmma_impl.cuh"

namespace ignis::kernels {

void launch_paged_attention_wgmma_fp8(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (a.dtype == DType::BF16) launch<__nv_bfloat16, kv_fp8>(a, stream);
  else launch<__half, kv_fp8>(a, stream);
}

}  // namespace ignis::kernels
