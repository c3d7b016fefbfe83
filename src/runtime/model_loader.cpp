#include "runtime/model_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "model/cpu_model.h"
#ifdef IGNIS_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda/cuda_model.h"
#endif

namespace ignis {

bool cuda_device_available() {
#ifdef IGNIS_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return n > 0;
#else
  return false;
#endif
}

LoadedModel load_model(const std::filesystem::path& dir, const ModelLoadOptions& opt, int kv_block_size) {
  IGNIS_CHECK(opt.device == "auto" || opt.device == "cpu" || opt.device == "cuda",
              "--device must be auto, cpu or cuda (got '{}')", opt.device);
  IGNIS_CHECK(opt.kv_cache_fraction > 0.0 && opt.kv_cache_fraction <= 1.0,
              "--kv-cache-fraction must be in (0, 1] (got {})", opt.kv_cache_fraction);
  bool use_cuda = opt.device == "cuda" || (opt.device == "auto" && cuda_device_available());
  LoadedModel out;
  if (use_cuda) {
#ifdef IGNIS_HAVE_CUDA
    IGNIS_CHECK(cuda_device_available(), "--device cuda: no usable CUDA device");
    cuda::CudaModelOptions co;
    co.cuda_graphs = opt.cuda_graphs;
    co.gemm_tune = opt.gemm_tune;
    co.max_num_tokens = opt.max_num_tokens;
    co.max_batch_size = opt.max_batch_size;
    co.max_model_len = opt.max_model_len;
    co.progress = opt.progress;
    auto m = cuda::CudaModel::load(dir, opt.load_format, opt.seed, co);
    out.kv_num_blocks = m->kv_blocks_for_fraction(opt.kv_cache_fraction, kv_block_size);
    IGNIS_CHECK(out.kv_num_blocks > 0, "{}: no GPU memory left for the KV cache (kv-cache-fraction {})",
                dir.string(), opt.kv_cache_fraction);
    out.model = std::move(m);
    return out;
#else
    IGNIS_FAIL("--device cuda: this build of ignis has no CUDA backend (configure with -DIGNIS_CUDA=ON)");
#endif
  }
  auto m = CpuModel::load(dir, opt.load_format, opt.seed);
  int64_t per_block = m->config().kv_bytes_per_token(DType::F32) * kv_block_size;
  out.kv_num_blocks = int(std::max<int64_t>(16, opt.cpu_kv_memory_bytes / std::max<int64_t>(1, per_block)));
  out.model = std::move(m);
  return out;
}

}  // namespace ignis
