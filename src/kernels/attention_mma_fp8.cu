// Tensor-core paged attention (mma.sync) over an FP8 (e4m3) KV cache: the instantiations of
// attention_mma_impl.cuh for KV = kv_fp8 (a separate unit so the two caches' kernels compile in
// parallel).
#include "kernels/attention_mma_impl.cuh"

namespace ignis::kernels {

void launch_paged_attention_mma_fp8(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream) {
  if (a.dtype == DType::BF16) {
    if (a.head_dim == 64) launch<__nv_bfloat16, kv_fp8, 64>(a, false, stream);
    else launch<__nv_bfloat16, kv_fp8, 128>(a, wgmma_prefill, stream);
  } else {
    if (a.head_dim == 64) launch<__half, kv_fp8, 64>(a, false, stream);
    else launch<__half, kv_fp8, 128>(a, wgmma_prefill, stream);
  }
}

}  // namespace ignis::kernels
