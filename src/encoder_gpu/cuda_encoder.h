// ignis encoder_gpu: the sentence encoder's model on the GPU (an enc::EncoderBackend beside the
// CPU BertModel): bf16 weights, cuBLASLt GEMMs (fused q|k|v), the encoder kernels of
// kernels/encoder_ops.h over a flat batch of variable-length sequences (no padding), pooling and
// normalization on the device; only the pooled embeddings come back to the host.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/gemm.h"
#include "encoder/bert_model.h"

namespace ignis::encgpu {

class CudaEncoder : public enc::EncoderBackend {
 public:
  // Uploads `cpu`'s weights (kept for input checks). One forward pass takes at most
  // max_batch_tokens tokens; longer batches run in several passes.
  explicit CudaEncoder(std::unique_ptr<enc::BertModel> cpu, int max_batch_tokens = 32768);
  ~CudaEncoder() override;
  const char* name() const override { return "cuda"; }
  // Thread-safe (one pass at a time).
  std::vector<std::vector<float>> embed(const std::vector<enc::EncoderInput>& batch) const override;
  // Forces the reference attention kernel (tests).
  void set_reference_attention(bool on) { reference_attention_ = on; }

 private:
  struct Layer {
    cuda::DeviceBuffer wqkv, bqkv, wo, bo, ln1_g, ln1_b, wi, bi, wo2, bo2, ln2_g, ln2_b;
  };
  void run(const std::vector<enc::EncoderInput>& batch, size_t first, size_t count, float* out) const;
  void reserve(int tokens, int seqs) const;

  std::unique_ptr<enc::BertModel> cpu_;
  enc::EncoderConfig cfg_;
  int max_batch_tokens_;
  bool reference_attention_ = false;
  cuda::DeviceBuffer word_, pos_, type_, emb_g_, emb_b_;
  std::vector<Layer> layers_;
  cudaStream_t stream_ = nullptr;
  mutable std::mutex mu_;
  mutable cuda::Gemm gemm_;
  // Scratch, grown on demand (rows rounded up to 128 so GEMM plans are few).
  mutable int cap_tokens_ = 0, cap_seqs_ = 0;
  mutable cuda::DeviceBuffer ids_, positions_, type_ids_, starts_, x32_, xb_, qkv_, ctx_, tmp_, inter_, out_;
};

}  // namespace ignis::encgpu
