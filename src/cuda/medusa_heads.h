// ignis cuda: Medusa heads on the device (spec/medusa.h has the method; its host runner is the
// reference). Each head is ResBlocks x <- x + SiLU(W x + b) on the target's final hidden state
// and a (vocab, hidden) linear; the proposer needs only each head's top-k tokens, so the logits
// never leave the GPU: kernels::sample_rows ranks every row (greedy rows asking for k raw
// logprobs: ids by logit, ties the lower id) and k ids per row cross to the host.
//
// Layout of one call over m hidden states and D heads: the D heads' final x rows are stacked
// (head-major) in one (D * m, hidden) buffer, and heads that share one lm_head (Medusa's shared
// variant: the target's, ignis_shared_lm_head) run as one GEMM over all their rows, so the
// (vocab, hidden) matrix is read once per step instead of once per head. Weights are stored in
// `dtype` (BF16 by default) with fp32 accumulation; the residual stream stays fp32 (the host's).
// This module does not know spec/: the runtime wraps it as a spec::MedusaHeadRunner.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
#include "cuda/gemm.h"

namespace ignis::cuda {

// Host fp32 weights to copy (they need to live only through the constructor).
struct MedusaHeadsHost {
  int hidden = 0, vocab = 0;
  struct Block {
    const float* w = nullptr;  // (hidden, hidden) row-major
    const float* b = nullptr;  // (hidden)
  };
  std::vector<std::vector<Block>> heads;  // per head, its ResBlocks in order
  std::vector<const float*> lm_heads;     // per head, (vocab, hidden); the same pointer = one shared copy
};

class DeviceMedusaHeads {
 public:
  explicit DeviceMedusaHeads(const MedusaHeadsHost& host, DType dtype = DType::BF16);
  ~DeviceMedusaHeads();
  DeviceMedusaHeads(const DeviceMedusaHeads&) = delete;
  DeviceMedusaHeads& operator=(const DeviceMedusaHeads&) = delete;

  int num_heads() const { return int(heads_.size()); }
  size_t weight_bytes() const { return weight_bytes_; }
  // spec::MedusaHeadRunner::top_tokens: h (m, hidden) fp32 on the host; top[d] (m, topk[d]) for
  // d < topk.size(), best first; bad[r] = 1 when a head's logits for row r are not finite.
  // topk[d] above kernels::kMaxTopLogprobs ranks those rows on the host (their logits copied).
  void top_tokens(const float* h, int m, const std::vector<int>& topk, std::vector<std::vector<int32_t>>& top,
                  std::vector<char>& bad);

 private:
  struct Block {
    DeviceBuffer w, b;  // (hidden, hidden) of dtype_, (hidden) fp32
  };
  void reserve(int m, int depth);
  void rank_rows(int row0, int rows, int lm, const std::vector<int>& row_k);

  int hidden_, vocab_;
  DType dtype_;
  size_t weight_bytes_ = 0;
  std::vector<std::vector<Block>> heads_;
  std::vector<DeviceBuffer> lm_;  // distinct lm_heads, (vocab, hidden) of dtype_
  std::vector<int> head_lm_;      // per head, its index in lm_
  cudaStream_t stream_ = nullptr;
  Gemm gemm_;
  int cap_m_ = 0, cap_depth_ = 0;
  DeviceBuffer d_h_, x32_, y_, xs_;  // (m, hidden) fp32 x3; (depth * m, hidden) of dtype_
  DeviceBuffer logits_;              // (kChunkRows, vocab) fp32
  DeviceBuffer d_rows_, d_token_, d_logprob_, d_top_ids_, d_top_lp_, d_status_;
  PinnedBuffer h_rows_, h_top_ids_, h_status_;
  std::vector<float> host_logits_;
  std::vector<std::vector<int32_t>> host_ids_;  // per stacked row ranked on the host: its ids
  std::vector<int32_t> host_status_;            // per stacked row: -1 ranked on the GPU, else its status
};

}  // namespace ignis::cuda
