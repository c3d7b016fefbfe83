// ignis kernels: the ONE dtype dispatch point. A runtime DType becomes a template
// type for the body: IGNIS_DISPATCH_FLOAT(dtype, T, { launch<T>(...); }).
// Activations/weights: F32 (reference precision), F16, BF16. Accumulation is always fp32.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/dtype.h"
#include <string>

#include "kernels/cuda_check.h"

#define IGNIS_DISPATCH_FLOAT(dtype, T, ...)                                        \
  switch (dtype) {                                                                 \
    case ::ignis::DType::F32: { using T = float; __VA_ARGS__; } break;             \
    case ::ignis::DType::F16: { using T = __half; __VA_ARGS__; } break;            \
    case ::ignis::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; } break;    \
    default:                                                                       \
      ::ignis::throw_kernel_error(std::string("kernels: unsupported activation dtype ") + \
                           std::string(::ignis::dtype_name(dtype)) + " (F32, F16, BF16 only)"); \
  }

// Half-precision types only (kernels with 16-byte packed loads of 8 values).
#define IGNIS_DISPATCH_HALF(dtype, T, ...)                                         \
  switch (dtype) {                                                                 \
    case ::ignis::DType::F16: { using T = __half; __VA_ARGS__; } break;            \
    case ::ignis::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; } break;    \
    default:                                                                       \
      ::ignis::throw_kernel_error(std::string("kernels: unsupported dtype ") +     \
                           std::string(::ignis::dtype_name(dtype)) + " (F16, BF16 only)"); \
  }
