// ignis kernels: FP8 quantization of activation rows that no fused producer writes (the attention
// output before the o projection). Numerics and layouts: kernels/fp8.h.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/fp8.h"

namespace ignis::kernels {

// x (m, ld) of dtype (F32, F16, BF16), its first k columns quantized: q.data (m, k) e4m3 codes and
// q.scale ((m) or (ceil(k / 128), q.scale_ld)), dynamic or static (q.static_scale). 16-byte loads
// and 8-byte code stores for F16/BF16 when k, ld are multiples of 8 and x is 16-byte aligned (q.data
// 8-byte), k <= 32768; a strided kernel otherwise. Calls pdl_launch_dependents() at its start, so a
// GEMV launched after it with PDL streams its weights meanwhile.
void quantize_rows_fp8(DType dtype, const void* x, int64_t ld, int m, int k, const Fp8Out& q, cudaStream_t stream);

}  // namespace ignis::kernels
