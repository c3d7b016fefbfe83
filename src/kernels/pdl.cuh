// ignis kernels: programmatic dependent launch (PDL, sm_90+). A kernel launched with the
// programmatic-serialization attribute may start while the previous kernel in the stream still
// runs, once every block of that kernel has called pdl_launch_dependents() (or exited); it must
// call pdl_wait() before touching anything the previous kernel writes or reads (pdl_wait returns
// when the previous grid has completed and its writes are visible). Before sm_90 both are no-ops.
#pragma once
#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda_check.h"

namespace ignis::kernels {

// kernel<<<grid, block, smem, stream>>>(args...), with the programmatic-serialization attribute when
// `pdl` (the caller's option: kernels/ read no environment; cuda/launch_env.h has the CLI default).
template <class... Params, class... Args>
void launch_pdl(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  IGNIS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

// The same with PDL on, for launchers that do not take the option yet (attention_wgmma.cu).
template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  launch_pdl(true, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Lets the next kernel (if launched with PDL) be scheduled now; it still waits for this grid's
// completion in pdl_wait(), so calling this early is always safe.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

}  // namespace ignis::kernels
