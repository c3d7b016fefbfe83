#include "kernels/cuda_check.h"
#include "kernels/kv_compact.h"

namespace ignis::kernels {

namespace {

// One CTA per plane; the pairs one after another (a barrier between them), the row's words
// spread over the threads. W: uint4 when rows and the base are 16-byte aligned, else bytes.
template <class W>
__global__ void kv_copy_rows_kernel(char* __restrict__ base, size_t plane_bytes, size_t row_words,
                                    const int64_t* __restrict__ src, const int64_t* __restrict__ dst, int n) {
  char* plane = base + size_t(blockIdx.x) * plane_bytes;
  for (int i = 0; i < n; ++i) {
    const W* s = reinterpret_cast<const W*>(plane + size_t(src[i]) * row_words * sizeof(W));
    W* d = reinterpret_cast<W*>(plane + size_t(dst[i]) * row_words * sizeof(W));
    // Rows either coincide (skipped) or do not overlap: each thread's read precedes its write.
    if (s != d)
      for (size_t w = threadIdx.x; w < row_words; w += blockDim.x) d[w] = s[w];
    __syncthreads();  // pair i done before pair i + 1 (which may write a row pair i read)
  }
}

}  // namespace

void kv_copy_rows(void* base, size_t plane_bytes, int num_planes, size_t row_bytes, const int64_t* src_rows,
                  const int64_t* dst_rows, int n, cudaStream_t stream) {
  if (n <= 0 || num_planes <= 0 || row_bytes == 0) return;
  const bool vec = row_bytes % 16 == 0 && plane_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(base) % 16 == 0;
  if (vec)
    kv_copy_rows_kernel<uint4><<<num_planes, 128, 0, stream>>>(static_cast<char*>(base), plane_bytes, row_bytes / 16,
                                                               src_rows, dst_rows, n);
  else
    kv_copy_rows_kernel<unsigned char><<<num_planes, 256, 0, stream>>>(static_cast<char*>(base), plane_bytes,
                                                                       row_bytes, src_rows, dst_rows, n);
  IGNIS_CUDA_LAUNCH_CHECK("kv_copy_rows_kernel");
}

}  // namespace ignis::kernels
