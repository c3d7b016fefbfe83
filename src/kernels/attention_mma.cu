// Tensor-core paged attention (mma.sync) for bf16/fp16, head_dim 64 or 128: the host side and the
// instantiations for a cache of the compute dtype (the kernels: attention_mma_impl.cuh; those for an
// FP8 cache: attention_mma_fp8.cu).
#include <cstdint>
#include <string>

#include "kernels/attention_mma_impl.cuh"

namespace ignis::kernels {
namespace {

bool aligned(const void* p, size_t n) { return reinterpret_cast<uintptr_t>(p) % n == 0; }

}  // namespace

bool attention_mma_shape_supported(int gqa, int head_dim, DType dtype) {
  return (dtype == DType::BF16 || dtype == DType::F16) && (head_dim == 64 || head_dim == 128) && gqa >= 1 &&
         gqa <= 32;
}

bool paged_attention_mma(const PagedAttentionArgs& a, bool wgmma_prefill, cudaStream_t stream) {
  if (a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0) return false;
  if (!attention_mma_shape_supported(a.num_heads / a.num_kv_heads, a.head_dim, a.dtype)) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0 || !aligned(a.k_cache, 16) || !aligned(a.v_cache, 16) ||
      !aligned(a.out, 4) || a.out_stride % 2 != 0 || (a.num_splits > 1 && !aligned(a.workspace, 8)))
    return false;
  if (attention_kv_fp8(a.kv_dtype)) {
    launch_paged_attention_mma_fp8(a, wgmma_prefill, stream);
  } else if (a.dtype == DType::BF16) {
    if (a.head_dim == 64) launch<__nv_bfloat16, __nv_bfloat16, 64>(a, false, stream);
    else launch<__nv_bfloat16, __nv_bfloat16, 128>(a, wgmma_prefill, stream);
  } else {
    if (a.head_dim == 64) launch<__half, __half, 64>(a, false, stream);
    else launch<__half, __half, 128>(a, wgmma_prefill, stream);
  }
  return true;
}

}  // namespace ignis::kernels
