// ignis kernels: the integer weight-only product for batches beyond the GEMV (kernels/int_gemv.h):
// a mixed-input tensor-core GEMM (Hopper wgmma) that dequantizes the 4- / 8-bit weights in registers
// and multiplies them with bf16 / fp16 activations staged in shared memory,
//   y (m, n) = x (m, k) . dequant(W)^T,  dequant(W)[r][c] = (code - zero) * scale of c's group,
// on the weight layout of kernels/int_gemv.h (q, meta), with the same numerics as the GEMV: each
// group's integers (code - zero) are exact in the activation dtype, the group sum is scaled in fp32.
//
// Why: at 17-256 rows the GEMV's per-row x fragments and the dequantize-then-cuBLASLt path (a bf16
// copy of the projection written and read again) both fall behind the bf16 product; here the weights
// are read once per 32 / 64 rows of x and never leave registers as bf16.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ignis::kernels {

// Whether gemm_int() takes this case: as int_weights_supported() (kernels/int_gemv.h), m >= 1, an
// sm_90a build on an sm_90 device.
bool gemm_int_supported(DType act, int bits, int m, int k, int group);

// fp32 workspace (in floats, zero-filled once by the caller and left zero by every call) that
// gemm_int needs for any m in [1, max_m] with this n and k on `num_sms` SMs: split-k partial sums and
// one counter per output tile. 0 when no split is ever taken.
size_t gemm_int_workspace_floats(int max_m, int n, int k, int bits, int num_sms);

// x (m, k), y (m, n) of dtype `act` (row-major, 4-byte aligned); q, meta as in
// kernels/int_gemv.h. workspace: at least gemm_int_workspace_floats(m, n, k, bits, num_sms) floats.
// Deterministic: the split-k partial sums are added in split order by the last block of each tile.
// pdl: launched with programmatic dependent launch (the first weights are loaded before
// griddepcontrol.wait, x after).
void gemm_int(DType act, const void* x, const uint32_t* q, const uint32_t* meta, void* y, int m, int n, int k, int bits,
              int group, float* workspace, size_t workspace_floats, int num_sms, cudaStream_t stream, bool pdl);

}  // namespace ignis::kernels
