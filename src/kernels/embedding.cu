#include "kernels/common.cuh"
#include "kernels/cuda_check.h"
#include "kernels/dispatch.h"
#include "kernels/embedding.h"

namespace ignis::kernels {

template <class T>
__global__ void embedding_kernel(const int32_t* __restrict__ tokens, const T* __restrict__ table, int vocab,
                                 int hidden, float* __restrict__ out) {
  const int row = blockIdx.x;
  const int tok = tokens[row];
  float* o = out + size_t(row) * hidden;
  if (tok < 0 || tok >= vocab) {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = 0.0f;
    return;
  }
  const T* src = table + size_t(tok) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = to_f(src[i]);
}

void embedding(DType dtype, const int32_t* tokens, int n, const void* table, int vocab, int hidden,
               float* residual, cudaStream_t stream) {
  if (n <= 0) return;
  IGNIS_DISPATCH_FLOAT(dtype, T, {
    embedding_kernel<T><<<n, 256, 0, stream>>>(tokens, static_cast<const T*>(table), vocab, hidden, residual);
  });
  IGNIS_CUDA_LAUNCH_CHECK("embedding_kernel");
}

}  // namespace ignis::kernels
