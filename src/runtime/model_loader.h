// ignis runtime: opens a Hugging Face model folder on the best backend available.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/weights.h"

namespace ignis {

struct ModelLoadOptions {
  std::string device = "auto";          // "auto" (CUDA when a device is present, else CPU) | "cpu" | "cuda"
  LoadFormat load_format = LoadFormat::Auto;
  uint64_t seed = 0;                    // dummy weights
  double kv_cache_fraction = 0.90;      // CUDA: fraction of free device memory for the KV pool
  int64_t cpu_kv_memory_bytes = 512ll << 20;  // CPU: KV pool budget
  int max_num_tokens = 2048;            // CUDA: largest pass
  int max_batch_size = 256;             // CUDA: largest graph bucket
  int max_model_len = 0;
  bool cuda_graphs = true;
  bool batch_invariant = false;         // CUDA: --batch-invariant (CudaModelOptions::batch_invariant)
  bool invariant_prefill = false;       // CUDA: --batch-invariant-prefill (CudaModelOptions::invariant_prefill)
  bool gemm_tune = true;                // CUDA: time cuBLASLt's candidates for the prefill GEMMs at load
  bool progress = true;
  // CUDA launch choices (the CLI takes their defaults from IGNIS_GEMV, IGNIS_GEMV_MMA, IGNIS_INT_GEMM, IGNIS_FP8_FUSED*, IGNIS_PDL, IGNIS_PROFILE,
  // IGNIS_ATTENTION, IGNIS_GEMM_CACHE; nothing below the CLI reads the environment).
  bool gemv = true;                     // GEMV kernels for small batches (else cuBLASLt)
  bool pdl = true;                      // programmatic dependent launch
  int gemv_mma_rows = 0;                // dense projections of up to this many rows on the tensor-core GEMV (IGNIS_GEMV_MMA)
  bool int_gemm = false;                // the mixed-input GEMM for 17..256-row integer projections (IGNIS_INT_GEMM=1)
  int fp8_fused_rows = 0;               // FP8 o GEMV quantizing its own input up to this many rows (IGNIS_FP8_FUSED=N)
  int fused_rope_rows = 8;              // RoPE + K/V write in the FP8 / integer q/k/v GEMV up to this many rows (IGNIS_FUSED_ROPE=N)
  bool profile = false;                 // per-op event timing, graphs off
  bool gemm_cache = true;               // keep the GEMM tuning choices in the cache file
  std::string attention = "wgmma";      // attention kernels: wgmma (Hopper prefill) | mma | simple
  std::string quantization;             // "" | "fp8": quantize the dense projections at load (--quantization)
  std::string kv_cache_dtype = "auto";  // "auto" (fp8 when the checkpoint has KV scales) | "bf16" | "fp8"
  // Tensor / pipeline parallel ranks (model/parallel_model.h): CPU only for now (one thread per
  // rank); the CUDA backend refuses sizes above 1 (multi-GPU needs NCCL ranks, not wired yet).
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
};

struct LoadedModel {
  std::unique_ptr<Model> model;
  int kv_num_blocks = 0;  // suggested pool size for EngineConfig::kv_num_blocks at kv_block_size
};

// True when this build has the CUDA backend and a device is usable.
bool cuda_device_available();

// Loads config + weights (validated) and builds the model on the chosen device;
// throws Error naming the folder/file on failure.
LoadedModel load_model(const std::filesystem::path& dir, const ModelLoadOptions& opt, int kv_block_size = 32);

#ifdef IGNIS_HAVE_CUDA
namespace cuda {
struct CudaModelOptions;
}
// The CUDA backend's model options from the load options (load_model's; the EAGLE head's too).
void fill_cuda_model_options(const ModelLoadOptions& opt, cuda::CudaModelOptions& co);
#endif

}  // namespace ignis
