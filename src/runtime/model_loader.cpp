#include "runtime/model_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "model/cpu_model.h"
#include "model/linear_weights.h"
#include "model/parallel_model.h"
#include "quant/config.h"
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

#ifdef IGNIS_HAVE_CUDA
void fill_cuda_model_options(const ModelLoadOptions& opt, cuda::CudaModelOptions& co) {
  co.cuda_graphs = opt.cuda_graphs;
  co.batch_invariant = opt.batch_invariant;
  co.invariant_prefill = opt.invariant_prefill;
  co.gemm_tune = opt.gemm_tune;
  co.max_num_tokens = opt.max_num_tokens;
  co.max_batch_size = opt.max_batch_size;
  co.max_model_len = opt.max_model_len;
  co.progress = opt.progress;
  co.gemv = opt.gemv;
  co.int_gemm = opt.int_gemm;
  co.fp8_fused_rows = opt.fp8_fused_rows;
  co.fused_rope_rows = opt.fused_rope_rows;
  co.gemv_mma_rows = opt.gemv_mma_rows;
  co.pdl = opt.pdl;
  co.profile = opt.profile;
  co.gemm_cache = opt.gemm_cache;
  IGNIS_CHECK(opt.attention == "wgmma" || opt.attention == "mma" || opt.attention == "simple",
              "attention kernels '{}': expected wgmma, mma or simple", opt.attention);
  co.attention = opt.attention == "simple" ? kernels::AttentionImpl::Simple
                 : opt.attention == "mma"  ? kernels::AttentionImpl::Mma
                                           : kernels::AttentionImpl::Wgmma;
  co.quantization = opt.quantization;
  co.kv_cache_dtype = opt.kv_cache_dtype;
}
#endif

LoadedModel load_model(const std::filesystem::path& dir, const ModelLoadOptions& opt, int kv_block_size) {
  IGNIS_CHECK(opt.device == "auto" || opt.device == "cpu" || opt.device == "cuda",
              "--device must be auto, cpu or cuda (got '{}')", opt.device);
  IGNIS_CHECK(opt.kv_cache_fraction > 0.0 && opt.kv_cache_fraction <= 1.0,
              "--kv-cache-fraction must be in (0, 1] (got {})", opt.kv_cache_fraction);
  IGNIS_CHECK(opt.tensor_parallel >= 1 && opt.pipeline_parallel >= 1,
              "--tensor-parallel-size and --pipeline-parallel-size must be at least 1 (got {} and {})",
              opt.tensor_parallel, opt.pipeline_parallel);
  const bool parallel = opt.tensor_parallel > 1 || opt.pipeline_parallel > 1;
  bool use_cuda = opt.device == "cuda" || (opt.device == "auto" && cuda_device_available());
  IGNIS_CHECK(!use_cuda || !parallel,
              "--tensor-parallel-size {} --pipeline-parallel-size {} on the CUDA backend: multi-GPU runs need NCCL "
              "ranks, which are not wired into the CUDA backend yet; the CPU backend runs them (--device cpu)",
              opt.tensor_parallel, opt.pipeline_parallel);
  LoadedModel out;
  if (use_cuda) {
#ifdef IGNIS_HAVE_CUDA
    IGNIS_CHECK(cuda_device_available(), "--device cuda: no usable CUDA device");
    cuda::CudaModelOptions co;
    fill_cuda_model_options(opt, co);
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
  ModelConfig cfg = load_model_config(dir);
  apply_quantization_flag(cfg, opt.quantization);
  WeightStore ws = WeightStore::load(dir, cfg, opt.load_format, opt.seed);
  CpuModelOptions co;
  co.kv_dtype = resolve_kv_cache_dtype(opt.kv_cache_dtype, cfg, DType::F32) == DType::F8_E4M3 ? DType::F8_E4M3
                                                                                               : DType::F32;
  if (cfg.quant.quantized() || co.kv_dtype == DType::F8_E4M3)
    IGNIS_LOG(Info, "{}: {} projections{}, KV cache {}", dir.string(),
              cfg.quant.quantized() ? quant_method_name(cfg.quant.method) : "dense",
              cfg.quant.quantized() ? ": " + cfg.quant.linear.describe() : "", dtype_name(co.kv_dtype));
  std::unique_ptr<Model> m;
  if (parallel) {
    ParallelOptions po;
    po.tensor_parallel = opt.tensor_parallel;
    po.pipeline_parallel = opt.pipeline_parallel;
    m = std::make_unique<ParallelCpuModel>(cfg, ws, co, po);
    IGNIS_LOG(Info, "{}: {} CPU ranks (tensor parallel {} x pipeline parallel {}), one thread each", dir.string(),
              opt.tensor_parallel * opt.pipeline_parallel, opt.tensor_parallel, opt.pipeline_parallel);
  } else {
    m = std::make_unique<CpuModel>(cfg, ws, co);
  }
  // The CPU backend stores K/V as fp32 whatever kv_dtype() says (FP8 values are fake-quantized).
  int64_t per_block = m->config().kv_bytes_per_token(DType::F32) * kv_block_size;
  out.kv_num_blocks = int(std::max<int64_t>(16, opt.cpu_kv_memory_bytes / std::max<int64_t>(1, per_block)));
  out.model = std::move(m);
  return out;
}

}  // namespace ignis
