// ignis kernels: deterministic pseudo-random fill of a device tensor (benchmark and tuning inputs:
// tensor-core GEMM timings depend on the data, so they are taken on random values, not zeros).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// p[i] = scale * u(seed, i), u uniform in [-1, 1) from a hash of (seed, i); dtype F32/F16/BF16.
void fill_uniform(DType dtype, void* p, size_t n, float scale, uint64_t seed, cudaStream_t stream);

}  // namespace ignis::kernels
