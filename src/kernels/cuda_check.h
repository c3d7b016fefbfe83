// ignis kernels: CUDA error checks that throw ignis::Error naming the call site.
// Every CUDA runtime call goes through IGNIS_CUDA_CHECK; every kernel launch is
// followed by IGNIS_CUDA_LAUNCH_CHECK("<kernel name>").
// This header avoids fmt on purpose: nvcc cannot compile fmt 9 in C++20 mode, so .cu
// files use IGNIS_KCHECK(cond, std::string message) instead of IGNIS_CHECK.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

namespace ignis {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_kernel_error(const std::string& msg);  // throws ignis::Error(msg)

}  // namespace ignis

#define IGNIS_CUDA_CHECK(call)                                                   \
  do {                                                                           \
    cudaError_t ignis_err_ = (call);                                             \
    if (ignis_err_ != cudaSuccess) ::ignis::throw_cuda_error(ignis_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define IGNIS_CUDA_LAUNCH_CHECK(kernel_name)                                      \
  do {                                                                           \
    cudaError_t ignis_err_ = cudaGetLastError();                                 \
    if (ignis_err_ != cudaSuccess) ::ignis::throw_cuda_error(ignis_err_, "launch of " kernel_name, __FILE__, __LINE__); \
  } while (0)

#define IGNIS_KCHECK(cond, msg)                                 \
  do {                                                          \
    if (!(cond)) ::ignis::throw_kernel_error(msg);              \
  } while (0)
