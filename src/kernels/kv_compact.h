// ignis kernels: KV row copies within the paged pool, for tree verification's compaction
// (Model::compact_kv: the accepted path's K/V moves from its tree slots to its final positions).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ignis::kernels {

// For every plane p in [0, num_planes) (plane p at base + p * plane_bytes: a layer's K or V) and
// pair i = 0, 1, ... in order, as a host loop of copies would run them: row dst_rows[i] = row
// src_rows[i] (rows of row_bytes; row r at r * row_bytes in its plane), so a pair may overwrite a
// row an earlier pair read. src_rows / dst_rows: (n) device arrays of physical row indices (block *
// block_size + slot % block_size) inside the planes. One CTA per plane; nothing to do for n == 0.
void kv_copy_rows(void* base, size_t plane_bytes, int num_planes, size_t row_bytes, const int64_t* src_rows,
                  const int64_t* dst_rows, int n, cudaStream_t stream);

}  // namespace ignis::kernels
