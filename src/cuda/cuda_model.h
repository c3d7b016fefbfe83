// ignis cuda: the CUDA backend's model. Weights live on the GPU (q/k/v and gate/up fused at
// load), activations in one compute dtype (BF16, F16, or F32 for reference runs) with an fp32
// residual stream, K/V in a paged device pool. forward() runs a mixed prefill + decode batch as
// one pass; decode-only steps replay a CUDA graph captured per batch-size bucket.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/device_sampler.h"
#include "cuda/gemm.h"
#include "cuda/step_profiler.h"
#include "kernels/attention.h"
#include "kernels/fp8.h"
#include "kernels/fp8_gemv.h"
#include "model/linear_weights.h"
#include "model/model.h"
#include "model/weights.h"

namespace ignis::cuda {

struct CudaModelOptions {
  std::optional<DType> dtype;  // compute/KV dtype; default: the config's BF16/F16, else BF16
  bool cuda_graphs = true;     // replay graphs for decode-only steps
  // Eager runs of a graph shape (batch bucket, tokens per sequence, tree) before it is captured: a
  // shape met once (a speculative probe's tree, a verification of an unusual size) never pays a
  // capture (an eager run, the capture and its instantiation: 3-30 ms), one met again is captured
  // on its second run. 0: captured on first use.
  int graph_warmup_runs = 1;
  int max_num_tokens = 2048;   // tokens per internal pass (bigger batches are cut into passes)
  int max_batch_size = 256;    // sequences per pass; largest graph bucket
  int max_model_len = 0;       // 0 = config max_position_embeddings
  int max_logit_rows = 256;    // lm_head rows per GEMM (bounds the fp32 logits buffer)
  bool progress = true;        // weight-upload progress bar on stderr
  // Time cuBLASLt's candidates at load for the decode buckets and the padded prefill token counts
  // (tune_gemms). Off here (tests build many small models); the CLI's ModelLoadOptions turns it on.
  bool gemm_tune = false;
  bool gemm_cache = true;   // keep tune_gemms' choices in the tuning cache file (gemm_cache.h)
  // Precision (issue 16). quantization: --quantization ("" keeps the checkpoint's; "fp8" quantizes
  // dense projections at load); kv_cache_dtype: --kv-cache-dtype (auto | bf16 | fp8); kv_scales: per-
  // layer (k_scale, v_scale) of an FP8 KV cache from calibration (empty: the checkpoint's, else 1.0).
  std::string quantization;
  std::string kv_cache_dtype = "auto";
  std::vector<std::pair<float, float>> kv_scales;
  // Launch choices (the CLI takes their defaults from IGNIS_GEMV / IGNIS_PDL / IGNIS_PROFILE /
  // IGNIS_ATTENTION; kernels and models read no environment, so two models in one process may differ).
  bool gemv = true;     // GEMV kernels for 1..4 (bf16) / 1..8 (FP8) rows instead of cuBLASLt
  bool pdl = true;      // programmatic dependent launch of the GEMVs
  int gemv_mma_rows = 0; // dense projections of 1..this many rows (<= 64) on kernels::gemv_mma (IGNIS_GEMV_MMA=N, A/B)
  bool int_gemm = false; // integer projections of 17..256 rows on the mixed-input GEMM (kernels/int_gemm.h):
                         // off by default until it beats the GEMV / dequantized paths (docs/PERF.md 2026-12-07)
  // Passes of 1..this many rows (0: off) with a one-block-per-row kernel fused into a GEMV:
  // fused_rope_rows (<= 8) for FP8 and integer q/k/v: RoPE and the K/V write in the GEMV's epilogue
  // (kernels::gemv_fp8_rope / gemv_int_rope; IGNIS_FUSED_ROPE=N; FP8 +2% at batch 1 on the H100);
  // fp8_fused_rows (<= kernels::kFp8FusedMaxM) for FP8 o: the attention output quantized in o's GEMV
  // (kernels::gemv_fp8_fused; IGNIS_FP8_FUSED=N; off: no faster in a decode graph, docs/PERF.md
  // 2026-12-07 sixth session).
  int fused_rope_rows = 8;
  int fp8_fused_rows = 0;
  bool profile = false; // per-op event timing of every pass (graphs off), printed at destruction
  // Batch invariance (--batch-invariant): a token of a decode or verification pass of up to
  // kInvariantMaxTokens tokens gets the same logits bits whatever the pass's other rows are, so that greedy
  // speculative decoding reproduces decoding without it exactly on the GPU. bf16 / fp16 projections run on
  // kernels::gemv_mma (one split of k at every row count; 64-row chunks past its 64; cuBLASLt's kernels
  // change with M: not invariant), pieces of up to kMaxGraphTokens tokens tile attention in decode tiles
  // (kernels::attention_decode_tile) with key splits at fixed multiples of
  // kernels::attention_invariant_split_keys(max_model_len) and at least two splits, so a query's softmax
  // runs over the same key ranges in the same order in either pass; token trees are verified by path.
  // invariant_prefill (--batch-invariant-prefill) extends it to every pass and piece, prefill chunks
  // included, so a prompt's KV and logits do not depend on how it was chunked or batched either (needed for
  // exactness when requests arrive and are scheduled differently; prefill becomes several times slower).
  bool batch_invariant = false;
  bool invariant_prefill = false;  // implies batch_invariant (the constructor sets it)
  kernels::AttentionImpl attention = kernels::AttentionImpl::Wgmma;
};

class CudaModel : public Model {
 public:
  CudaModel(const ModelConfig& cfg, const WeightStore& weights, CudaModelOptions opt = {});
  ~CudaModel() override;
  static std::unique_ptr<CudaModel> load(const std::filesystem::path& dir, LoadFormat fmt = LoadFormat::Auto,
                                         uint64_t seed = 0, CudaModelOptions opt = {});

  const ModelConfig& config() const override { return cfg_; }
  const char* backend_name() const override { return "cuda"; }
  void init_kv_cache(int num_blocks, int block_size) override;
  int kv_block_size() const override { return block_size_; }
  int kv_num_blocks() const override { return num_blocks_; }
  void forward(const ForwardBatch& batch, std::vector<float>& logits) override;

  // Samples on the GPU (kernels::sample_rows; plain greedy steps take the argmax kernel inside
  // the decode graph); only tokens and logprobs are copied to the host. `before_sample` runs after the
  // first pass is enqueued (the host fills masks while the GPU computes), then the masks are uploaded.
  void forward_sample(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                      std::vector<RowSample>& out, const BeforeSample& before_sample = {}) override;
  // Verification steps (Model::forward_verify): greedy rows are judged on the device (the argmax, in the
  // verification graph when the step has one); sampled rows take the host default.
  void forward_verify(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                      std::vector<RowSample>& out, const BeforeSample& before_sample = {}) override;
  // Token trees (model/batch.h BatchSeq::tree_parent) of up to kMaxTreeTokens nodes: RoPE at
  // num_cached + depth, K/V at slot num_cached + i, the attention kernels' tree mask
  // (kernels::PagedAttentionArgs::tree_mask); trees of up to kMaxGraphTokens nodes per sequence run in
  // CUDA graphs (one per batch bucket and tree size: the shape is data). Not with a sliding window
  // (the kernels' window counts KV slots, the reference positions).
  bool supports_tree() const override { return cfg_.sliding_window <= 0; }
  // Model::set_hidden_state_sink: after each pass the hidden rows' final-normed hidden states (x_:
  // the lm_head's input rows, then the all_hidden rows the lm_head skips, in the compute dtype) are copied to pinned memory on the stream, after the
  // pass (or its graph launch), and widened to fp32 on the host once the batch is done. Every
  // forward path (forward, forward_sample, forward_verify, forward_greedy) goes through run_batch.
  // Setting a sink sizes the pinned rows and the sink for a full pass up front (touched: the first
  // prefill does not pay their allocation and page faults).
  bool set_hidden_state_sink(std::vector<float>* sink) override;
  static constexpr int kMaxTreeWords = 17;  // the CLI's largest lookahead tree: (W + G)(N - 1) + 1 <= 513 nodes
  static constexpr int kMaxTreeTokens = 32 * kMaxTreeWords;
  // Tree verification's KV compaction (kernels/kv_copy_rows over every layer's K and V, stream
  // ordered).
  void compact_kv(const std::vector<int32_t>& block_table, const std::vector<int32_t>& src,
                  const std::vector<int32_t>& dst) override;
  // Greedy only: for each logit row (same rows as forward), the argmax token and its
  // log-probability (benchmarks and tests).
  void forward_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens, std::vector<float>* logprobs);

  DType dtype() const { return dtype_; }
  DType kv_dtype() const override { return kv_dtype_; }
  // Which FP8 producer fusions (CudaModelOptions::fp8_fused_*) a pass of T tokens runs, for layer 0's
  // projections (tests and logs).
  struct Fp8Fusions {
    bool o = false, rope = false;
  };
  Fp8Fusions fp8_fusions(int T) const;
  size_t weight_bytes() const { return weight_bytes_; }
  // Bytes of one KV block (K and V, all layers).
  int64_t kv_bytes_per_block(int block_size) const;
  // Rows the GEMMs of a pass of `num_tokens` rows run on, one of a few tuned counts, unless that
  // exceeds `max_tokens` (the buffers): up to 8 rows exact (decode buckets, the GEMV), up to 64 a
  // multiple of 8, up to kGemmPad a multiple of 32, above it (pad > 0) a multiple of `pad`. Every
  // other count would meet cuBLASLt on first use (a heuristic query and lazily loaded kernels:
  // 10-15 ms on an H200 for an 8B pass, measured on verification steps) and run untuned; the extra
  // rows compute on stale activations and are never read (below the ridge they cost nothing).
  static int padded_gemm_rows(int num_tokens, int pad, int max_tokens);
  static constexpr int kGemmPad = 256;
  // floor(free_bytes * fraction / bytes_per_block), >= 0.
  static int kv_blocks_from_memory(size_t free_bytes, double fraction, int64_t bytes_per_block);
  // Blocks that fit in `fraction` of the device memory free now.
  int kv_blocks_for_fraction(double fraction, int block_size) const;
  // GEMM shapes the load took from the tuning cache, and timed itself (tune_gemms; for tests).
  std::pair<int, int> gemm_tuning_counts() const { return {gemm_cached_, gemm_timed_}; }
  // Decode and verification graphs captured so far (for tests/benchmarks).
  int num_graphs() const { return int(graphs_.size()); }

 private:
  // One projection on the device (model/linear_weights.h's HostLinear uploaded): dense weights in
  // the compute dtype, or FP8 codes with per-channel (a per-tensor scale expanded to n) or 128x128
  // block scales (kernels/fp8.h layouts) and the input's quantization.
  struct Linear {
    LinearSpec spec;        // as the checkpoint / --quantization says
    int n = 0, k = 0;
    DeviceBuffer w;         // dense: (n, k) of dtype_; FP8: (n, k) e4m3 codes
    DeviceBuffer scale;     // FP8 Channel: (n) fp32; Block: (ceil(n/128), fp8_block_scale_ld(k)) fp32
    DeviceBuffer in_scale;  // FP8 static input scale: (1) fp32
    const void* ptr = nullptr;  // w, or the embedding (tied lm_head)
    kernels::Fp8Scaling scaling = kernels::Fp8Scaling::Channel;
    // Integer weight-only on the integer GEMV (kernels/int_gemv.h): w holds the codes, meta the
    // group scales and zeros; bits 0 = not (dense, FP8, or an integer format dequantized at upload).
    DeviceBuffer meta;
    int bits = 0, group = 0;
    bool fp8() const { return spec.fp8(); }
    bool wint() const { return bits != 0; }
  };
  struct LayerWeights {
    DeviceBuffer attn_norm, bqkv, bo, mlp_norm;  // attn_norm empty: a fusion model's layer 0 without an input norm
    Linear qkv, o, gate_up, down;
  };
  // The input of a linear layer: dtype activations, and FP8 codes + scales when it is FP8 (written by
  // the producer before it: add_rmsnorm, silu_mul or quantize_rows_fp8), or for an FP8 GEMV that runs its
  // producer itself (fused_in) that producer's input.
  struct LinearIn {
    const void* x = nullptr;      // (m, k) of dtype_ (dense layers)
    const uint8_t* x8 = nullptr;  // (m, k) e4m3 (FP8 layers)
    const float* sx = nullptr;    // per kernels/fp8.h: (m) or (ceil(k/128), m)
    kernels::Fp8FusedX fused;     // fused.src set: the GEMV computes its own codes (kernels::gemv_fp8_fused)
  };
  struct Piece {  // a run of new tokens of one batch sequence inside one pass
    int seq = 0, token_begin = 0, num_cached = 0, num_tokens = 0;
    bool all_logits = false, last_logit = false;
    bool all_hidden = false;  // every token's hidden state (BatchSeq::all_hidden), logits as above
  };
  struct Pass {
    int num_tokens = 0, num_tiles = 0, num_logit_rows = 0, num_splits = 1;
    // Rows gathered after the last layer (final norm -> x_): the logit rows first (the lm_head's
    // input), then num_hidden_only rows whose hidden states alone are asked (BatchSeq::all_hidden).
    int num_hidden_only = 0;
    int num_small_tiles = -1;  // tiles of 1..16 query rows (PagedAttentionArgs::num_small_tiles; -1 = not counted)
    bool graph = false;
    int bucket = 0;
    int per_seq = 1;  // graphed passes: tokens of every sequence (1 = decode; 1 + k = verification)
    int tree_words = 0;  // > 0: the pass has token trees (PagedAttentionArgs::tree_words)
    int split_keys = 0;  // PagedAttentionArgs::split_keys (batch_invariant: split_keys_)
    bool tree_path = false;  // trees by path (PagedAttentionArgs::tree_path; batch_invariant), one-token tiles
  };
  // Largest per-sequence token count of a graphed pass (verification of up to 63 proposals or tree nodes).
  static constexpr int kMaxGraphTokens = 64;
  // --batch-invariant covers passes of up to this many tokens (GEMMs and attention splits; larger passes,
  // prefill, use cuBLASLt and equal splits) unless invariant_prefill
  static constexpr int kInvariantMaxTokens = 256;
  // Whether a pass of m tokens runs its dense projections on the batch-invariant kernels (invariant_pass),
  // and whether a piece of m tokens runs its attention in decode tiles (invariant_piece).
  bool invariant_pass(int m) const {
    return opt_.batch_invariant && (opt_.invariant_prefill || m <= kInvariantMaxTokens);
  }
  bool invariant_piece(int m) const {
    return opt_.batch_invariant && (opt_.invariant_prefill || m <= kMaxGraphTokens);
  }
  static int graph_key(const Pass& p) {
    return (p.bucket * (kMaxGraphTokens + 1) + p.per_seq) * 2 + (p.tree_words > 0 ? 1 : 0);
  }

  void upload_weights(const WeightStore& ws);
  // Where the producer of `w`'s input writes FP8 codes for a pass of T tokens (empty for dense w).
  kernels::Fp8Out fp8_out_for(const Linear& w, int T) const;
  LinearIn linear_in(const Linear& w, const void* x) const;  // x (dense) or this pass's FP8 codes
  // o's FP8 input for a pass of T tokens computed inside o's GEMV (fp8_fused_rows): then fused_in(w, x) is
  // that input (x = the attention output) and quantize_rows_fp8 is skipped.
  bool fuses_producer(const Linear& w, int T, const void* x) const;
  // RoPE and the K/V write of rope_qkv_write_kv(a) in the q/k/v GEMV's epilogue (FP8: kernels::gemv_fp8_rope,
  // integer: kernels::gemv_int_rope), up to fused_rope_rows rows.
  bool fuses_rope(const LayerWeights& w, const kernels::RopeKvArgs& a) const;
  static LinearIn fused_in(const Linear& w, const void* x);
  // rope_qkv_write_kv's arguments for layer l and a pass of T tokens (its KV cache, scales and bias).
  kernels::RopeKvArgs rope_args(int l, int T) const;
  int fp8_rows(int T) const;  // rows the FP8 products of a pass of T tokens run on
  void allocate_activations();
  void tune_gemms();
  int gemm_rows(int num_tokens) const;  // token count the layer GEMMs of a pass run on (tune_gemms)
  int head_rows(int rows) const;        // rows the lm_head GEMM of `rows` logit rows runs on (tune_gemms)
  // Cuts a batch into passes, runs each, and calls sink(pass_rows) after each pass with the
  // logits (fp32, device) or sampled tokens ready.
  enum class Mode { Logits, Greedy, Sample };  // what each pass's logit rows become
  void run_batch(const ForwardBatch& batch, Mode mode, std::vector<float>* logits, std::vector<int32_t>* tokens,
                 std::vector<float>* logprobs, const BeforeSample* before_sample = nullptr);
  // run_batch's end with a hidden-state sink: waits for the passes' x_ copies, widens them into the sink.
  // Each gathered row's place among the batch's hidden rows (hidden_dst_, appended pass by pass).
  void copy_hidden_rows(size_t rows);
  Pass stage_pass(const ForwardBatch& batch, const std::vector<Piece>& pieces);
  void stage_tree(const BatchSeq& s, const Piece& pc, int T0, int words, bool path);
  void enqueue_pass(const Pass& p, bool argmax);
  void run_pass(const Pass& p, bool greedy);
  void validate(const ForwardBatch& batch) const;
  void sample_greedy(const ForwardBatch& batch, const std::vector<RowSampling>& rows, std::vector<RowSample>& out);
  // y (m, n) = x (m, k) . w (n, k)^T in the compute dtype (y in `out`), on the kernel dense_path picks:
  // kernels::gemv_mma (batch_invariant at 1..kInvariantMaxTokens rows, or up to gemv_mma_rows), kernels::gemv
  // (1..kGemvPreferredMaxM rows), cuBLASLt otherwise.
  enum class DensePath { GemvMma, Gemv, Gemm };
  DensePath dense_path(int m, DType out, const void* x, const void* w, int k) const;
  void linear(const void* x, const void* w, void* y, int m, int n, int k, DType out);
  // The one dispatch of a projection on its LinearSpec: dense as above; FP8 (W8A8) on the FP8 GEMV
  // for m <= kernels::kFp8GemvMaxM (with its producer fused in when `in` is fused_in's), cuBLASLt's FP8
  // GEMM otherwise.
  void linear(const LinearIn& in, const Linear& w, void* y, int m, DType out);
  // An integer projection of T rows on the path int_path() picks.
  void linear_int(const void* x, const Linear& w, void* y, int T, DType out);
  // The integer products by row count: the integer GEMV up to kIntGemvRows, the mixed-input GEMM
  // (kernels/int_gemm.h, Hopper) up to kIntGemmRows, beyond (or without the GEMM: the GEMV up to
  // kernels::kIntGemvMaxM) the codes dequantized into int_scratch_ and the dense GEMM.
  enum class IntPath { Gemv, Gemm, Dense };
  IntPath int_path(int T, DType out) const;
  static constexpr int kIntGemvRows = 16, kIntGemmRows = 256;

  ModelConfig cfg_;
  CudaModelOptions opt_;
  DType dtype_ = DType::BF16;
  size_t esize_ = 2;
  DType kv_dtype_ = DType::BF16;   // dtype_, or F8_E4M3
  size_t kv_esize_ = 2;
  std::vector<std::pair<float, float>> kv_scales_;  // (num_layers) (k_scale, v_scale) with an FP8 KV cache
  bool any_fp8_ = false;
  kernels::AttentionImpl attention_impl_ = kernels::AttentionImpl::Wgmma;           // some projection is FP8 (activation code buffers allocated)
  bool invariant_ws_warned_ = false;  // stage_pass warned of a pass the invariant splits did not fit
  int split_keys_ = 64;  // kernels::attention_invariant_split_keys(max_model_len_) (batch_invariant)
  int max_model_len_ = 0, max_tokens_ = 0, alloc_tokens_ = 0, max_seqs_ = 0, max_logit_rows_ = 0, num_sms_ = 0;
  size_t weight_bytes_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  bool use_gemv_ = true;  // IGNIS_GEMV=0 turns the small-batch GEMV off (A/B measurements)
  bool gemm_pad_ = false;  // tune_gemms ran: layer GEMMs of large passes on padded token counts
  int gemm_cached_ = 0, gemm_timed_ = 0;

  // weights
  DeviceBuffer embed_, final_norm_, inv_freq_;  // final_norm_ empty for a fusion model without one
  // A feature-fusion model (ModelConfig::fusion, an EAGLE draft head): fc (hidden, 2 * hidden) and its bias
  // (hidden, or empty) in the compute dtype; each pass's BatchSeq::features rows are staged with the other
  // step inputs (h_features_ -> d_features_, fp32) and fused with the embeddings into fusion_in_ (tokens,
  // 2 * hidden) before one GEMM into the residual stream. The buffers are fixed: fusion passes are graph-safe.
  DeviceBuffer fc_w_, fc_b_, fusion_in_, d_features_;
  PinnedBuffer h_features_;
  Linear lm_head_;
  std::vector<LayerWeights> layers_;

  // KV pool: layer l's K at kv_ + (2l) * layer_bytes, V at (2l + 1) * layer_bytes
  DeviceBuffer kv_;
  DeviceBuffer compact_rows_;  // compact_kv's (src, dst) physical rows
  int block_size_ = 0, num_blocks_ = 0, max_blocks_per_seq_ = 0;
  size_t kv_layer_bytes_ = 0;

  // step inputs: device buffers and their pinned host staging
  DeviceBuffer d_tokens_, d_positions_, d_slots_, d_tiles_, d_logit_rows_, d_block_tables_;
  PinnedBuffer h_tokens_, h_positions_, h_slots_, h_tiles_, h_logit_rows_, h_block_tables_;
  // Tree passes only: attention's KV slot positions (d_positions_ holds RoPE's), tree roots and masks.
  DeviceBuffer d_attn_positions_, d_tree_begin_, d_tree_mask_;
  PinnedBuffer h_attn_positions_, h_tree_begin_, h_tree_mask_;
  // batch_invariant: each tree token's ancestors' KV positions by depth (kMaxGraphTokens per token)
  DeviceBuffer d_tree_path_;
  PinnedBuffer h_tree_path_;
  std::vector<int32_t> tree_depth_;   // stage_pass scratch: one tree's node depths
  std::vector<uint32_t> tree_rows_;   // and mask rows (kMaxTreeWords per node)
  int h_bt_width_ = 0;  // columns staged in h_block_tables_ for the current pass

  // activations
  DeviceBuffer residual_, x_, qkv_, attn_, o_, gate_up_, act_, logits_, attn_ws_, sample_tokens_, sample_logprobs_;
  // (n, k) of dtype_ for the largest integer projection: its codes dequantized for a large-batch GEMM
  // (empty without integer projections on the integer GEMV, or when no pass exceeds kIntGemvMaxM rows).
  DeviceBuffer int_scratch_;
  size_t int_scratch_elems_ = 0;
  int int_projections_ = 0, int_gemm_projections_ = 0;  // on the integer kernels; of them, taken by the GEMM
  bool int_gemm_ = false;        // every integer projection runs on the mixed-input GEMM (an sm_90 device)
  DeviceBuffer int_gemm_ws_;     // its split-k workspace (zero between calls)
  size_t int_gemm_ws_floats_ = 0;
  DeviceBuffer act8_, act_scale_;  // FP8 input codes (max_tokens, max k) and their scales, reused by each FP8 layer
  size_t attn_ws_floats_ = 0;
  PinnedBuffer h_sample_tokens_, h_sample_logprobs_;
  std::vector<float>* hidden_sink_ = nullptr;  // set_hidden_state_sink
  PinnedBuffer h_hidden_;  // (batch hidden rows, hidden) of dtype_: the passes' x_ rows, grown on demand
  // A run_batch's hidden rows: hidden_base_[seq] = the sequence's first hidden row (ForwardBatch's
  // hidden-row order); hidden_dst_[j] = where h_hidden_ row j goes in the sink.
  std::vector<int32_t> hidden_base_, hidden_dst_;
  std::vector<int32_t> hidden_only_;  // stage_pass: the pass's hidden-only token rows
  DeviceSampler sampler_;
  std::vector<int32_t> greedy_tokens_;
  std::vector<float> greedy_logprobs_;

  // decode / verification graphs per (bucket, tokens per sequence): graph_key()
  std::map<int, cudaGraphExec_t> graphs_;
  std::map<int, int> graph_runs_;  // eager runs of each graph key not captured yet (graph_warmup_runs)
  bool graphs_broken_ = false;

  // IGNIS_PROFILE=1: per-op event timing of every pass (graphs off), printed at destruction.
  std::unique_ptr<StepProfiler> profiler_;
};

}  // namespace ignis::cuda
