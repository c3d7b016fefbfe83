// CudaModel: KV pool, step staging, the forward pass, decode CUDA graphs.
#include "cuda/cuda_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/argmax.h"
#include "kernels/cuda_check.h"
#include "kernels/embedding.h"
#include "kernels/fp8_gemv.h"
#include "kernels/int_gemm.h"
#include "kernels/int_gemv.h"
#include "kernels/kv_compact.h"
#include "kernels/fp8_quantize.h"
#include "kernels/fusion.h"
#include "kernels/gemv.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope_kv.h"
#include "kernels/swiglu.h"

namespace ignis::cuda {

int64_t CudaModel::kv_bytes_per_block(int block_size) const {
  return 2ll * cfg_.num_layers * block_size * cfg_.num_kv_heads * cfg_.head_dim * int64_t(kv_esize_);
}

int CudaModel::kv_blocks_from_memory(size_t free_bytes, double fraction, int64_t bytes_per_block) {
  IGNIS_CHECK(fraction > 0.0 && fraction <= 1.0, "--kv-cache-fraction {} must be in (0, 1]", fraction);
  IGNIS_CHECK(bytes_per_block > 0, "KV block size of {} bytes", bytes_per_block);
  const double blocks = std::floor(double(free_bytes) * fraction / double(bytes_per_block));
  return int(std::clamp(blocks, 0.0, double(1 << 30)));
}

int CudaModel::kv_blocks_for_fraction(double fraction, int block_size) const {
  auto [free_b, total_b] = device_memory_info();
  // keep room for the (small) graph and cuBLASLt allocations made after the pool
  const size_t reserve = size_t(256) << 20;
  return kv_blocks_from_memory(free_b > reserve ? free_b - reserve : 0, fraction, kv_bytes_per_block(block_size));
}

void CudaModel::init_kv_cache(int num_blocks, int block_size) {
  IGNIS_CHECK(num_blocks > 0 && block_size > 0, "KV cache: {} blocks of {} tokens", num_blocks, block_size);
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);  // they hold the old pool's pointers
  graphs_.clear();
  graph_runs_.clear();
  kv_ = DeviceBuffer();
  kv_layer_bytes_ = size_t(num_blocks) * block_size * cfg_.num_kv_heads * cfg_.head_dim * kv_esize_;
  kv_ = DeviceBuffer(kv_layer_bytes_ * 2 * cfg_.num_layers,
                     fmt::format("KV cache ({} blocks of {} tokens, {:.2f} GB)", num_blocks, block_size,
                                 double(kv_layer_bytes_) * 2 * cfg_.num_layers / 1e9));
  block_size_ = block_size;
  num_blocks_ = num_blocks;
  max_blocks_per_seq_ = (max_model_len_ + block_size - 1) / block_size;
  d_block_tables_ = DeviceBuffer(size_t(max_seqs_) * max_blocks_per_seq_ * 4, "step block tables");
  h_block_tables_ = PinnedBuffer(size_t(max_seqs_) * max_blocks_per_seq_ * 4);
  IGNIS_CUDA_CHECK(cudaMemsetAsync(d_block_tables_.get(), 0xff, d_block_tables_.bytes(), stream_));
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaModel::validate(const ForwardBatch& b) const {
  IGNIS_CHECK(kv_, "cuda forward: init_kv_cache was not called");
  size_t total = 0;
  for (size_t i = 0; i < b.seqs.size(); ++i) {
    const BatchSeq& s = b.seqs[i];
    IGNIS_CHECK(s.num_tokens > 0 && s.num_cached >= 0, "cuda forward: sequence {} has num_tokens {} num_cached {}", i,
                s.num_tokens, s.num_cached);
    if (s.is_tree()) {
      IGNIS_CHECK(supports_tree(), "cuda forward: sequence {} is a token tree: the CUDA backend verifies trees only "
                  "without a sliding window (the model's is {})", i, cfg_.sliding_window);
      IGNIS_CHECK(s.all_logits && int64_t(s.tree_parent.size()) == s.num_tokens,
                  "cuda forward: sequence {} is a tree of {} parents for {} tokens (all_logits {})", i,
                  s.tree_parent.size(), s.num_tokens, s.all_logits);
      IGNIS_CHECK(s.num_tokens <= kMaxTreeTokens, "cuda forward: sequence {} is a tree of {} nodes, above the {} the "
                  "CUDA backend verifies", i, s.num_tokens, kMaxTreeTokens);
      IGNIS_CHECK(s.tree_parent[0] == -1, "cuda forward: sequence {} tree root has parent {} (need -1)", i,
                  s.tree_parent[0]);
      for (int t = 1; t < s.num_tokens; ++t)
        IGNIS_CHECK(s.tree_parent[size_t(t)] >= 0 && s.tree_parent[size_t(t)] < t,
                    "cuda forward: sequence {} tree node {} has parent {} (need [0, {}))", i, t, s.tree_parent[size_t(t)], t);
    }
    IGNIS_CHECK(!cfg_.fusion.enabled || s.features,
                "cuda forward: sequence {} has no features; a feature-fusion model (EAGLE draft head) needs one "
                "hidden state per new token (BatchSeq::features, num_tokens x hidden_size {} fp32)", i, cfg_.hidden_size);
    const int64_t end = int64_t(s.num_cached) + s.num_tokens;
    IGNIS_CHECK(end <= max_model_len_, "cuda forward: sequence {} reaches position {} beyond max_model_len {}", i, end,
                max_model_len_);
    const int64_t need = (end + block_size_ - 1) / block_size_;
    IGNIS_CHECK(int64_t(s.block_table.size()) >= need, "cuda forward: sequence {} has {} blocks for {} tokens", i,
                s.block_table.size(), end);
    const int64_t first_key = cfg_.sliding_window > 0 ? std::max<int64_t>(0, s.num_cached - cfg_.sliding_window + 1) : 0;
    for (int64_t blk = 0; blk < need; ++blk) {
      const int32_t id = s.block_table[blk];
      IGNIS_CHECK(id < num_blocks_, "cuda forward: sequence {} block {} is {} (pool has {})", i, blk, id, num_blocks_);
      if (id < 0)
        IGNIS_CHECK((blk + 1) * block_size_ <= first_key,
                    "cuda forward: sequence {} block {} is released (-1) but still inside the attention window", i, blk);
    }
    total += size_t(s.num_tokens);
  }
  IGNIS_CHECK(total == b.tokens.size(), "cuda forward: {} tokens for sequences totalling {}", b.tokens.size(), total);
  for (size_t i = 0; i < b.tokens.size(); ++i)
    IGNIS_CHECK(b.tokens[i] >= 0 && b.tokens[i] < cfg_.vocab_size, "cuda forward: token {} at index {} outside vocab {}",
                b.tokens[i], i, cfg_.vocab_size);
}

CudaModel::Pass CudaModel::stage_pass(const ForwardBatch& batch, const std::vector<Piece>& pieces) {
  const int G = cfg_.num_heads / cfg_.num_kv_heads;
  const int tq_any = kernels::attention_tile_tokens(attention_impl_, G, cfg_.head_dim, dtype_, kv_dtype_);
  // Batch invariance: pieces of decode / verification size in decode tiles (one kernel for their
  // queries whatever the pass holds), the key splits at fixed positions (below).
  const int tq_small = std::min(tq_any, std::max(1, kernels::kDecodeTileRows / G));
  Pass p;
  auto tile_tokens = [&](int num_tokens) {
    if (p.tree_path) return 1;  // a path per token
    return invariant_piece(num_tokens) ? tq_small : tq_any;
  };
  // Graphed steps: every piece one decode token, or every piece the same 2..kMaxGraphTokens tokens with
  // all their logits (speculative verification: the last token and k proposals, or a token tree), in
  // ceil(per / tq) attention tiles each (padding sequences too, so the launch shape is the key's).
  const int per = pieces.empty() ? 0 : pieces[0].num_tokens;
  bool decode = opt_.cuda_graphs && !graphs_broken_ && per >= 1 && per <= kMaxGraphTokens;
  for (auto& pc : pieces) decode = decode && pc.num_tokens == per && (per == 1 || pc.all_logits);
  int n_rows = int(pieces.size());
  p.tree_words = 0;
  for (auto& pc : pieces) {
    const BatchSeq& s = batch.seqs[pc.seq];
    if (!s.is_tree()) continue;
    p.tree_words = std::max(p.tree_words, (s.num_tokens + 31) / 32);
    // a graph bakes tree_words in: only whole trees (their words follow from per, a key part) are graphed
    if (pc.num_tokens != s.num_tokens) decode = false;
  }
  // Batch invariance for trees: one-token decode tiles that read each token's ancestors by depth, so its
  // keys are summed as in a decode step of the token (mma kernels, trees of up to kMaxGraphTokens tokens).
  if (opt_.batch_invariant && p.tree_words > 0 && G <= kernels::kDecodeTileRows &&
      attention_impl_ != kernels::AttentionImpl::Simple &&
      kernels::attention_mma_supported(G, cfg_.head_dim, dtype_, kv_dtype_)) {
    p.tree_path = true;
    // a path row holds kMaxGraphTokens depths: whole trees of up to that many nodes (a tree split over
    // passes is bounded by its whole size)
    for (auto& pc : pieces) p.tree_path = p.tree_path && batch.seqs[pc.seq].num_tokens <= kMaxGraphTokens;
  }
  if (decode) {
    p.graph = true;
    p.per_seq = per;
    p.bucket = 1;
    while (p.bucket < n_rows) p.bucket *= 2;
    p.bucket = std::min(p.bucket, max_seqs_);
    if (p.bucket < n_rows || p.bucket * per > std::min(max_tokens_, max_logit_rows_)) p.graph = false;
  }
  auto* tok = h_tokens_.as<int32_t>();
  auto* pos = h_positions_.as<int32_t>();
  auto* slot = h_slots_.as<int32_t>();
  auto* tiles = h_tiles_.as<kernels::AttentionTile>();
  auto* rows = h_logit_rows_.as<int32_t>();
  int W = 1;
  for (auto& pc : pieces) W = std::max(W, (pc.num_cached + pc.num_tokens + block_size_ - 1) / block_size_);
  auto* bt = h_block_tables_.as<int32_t>();
  int T = 0, R = 0, nt = 0, max_keys = 1, max_end = 1;
  // Hidden-only rows (all_hidden pieces' tokens without a logit) follow the logit rows in the
  // gather; their x_ rows go to the sink only (their tokens, and their hidden-row places, here).
  hidden_only_.clear();
  p.num_small_tiles = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Piece& pc = pieces[i];
    const BatchSeq& s = batch.seqs[pc.seq];
    const int32_t* table = s.block_table.data();
    const int nblk = (pc.num_cached + pc.num_tokens + block_size_ - 1) / block_size_;
    for (int b = 0; b < W; ++b) bt[i * W + b] = b < nblk ? table[b] : -1;
    const int tq = tile_tokens(pc.num_tokens);
    for (int t0 = 0; t0 < pc.num_tokens; t0 += tq) {
      kernels::AttentionTile& tl = tiles[nt++];
      tl.seq = int(i);
      tl.token_begin = T + t0;
      tl.num_tokens = std::min(tq, pc.num_tokens - t0);
      if (kernels::attention_decode_tile(tl, G)) ++p.num_small_tiles;
      const int last = pc.num_cached + t0 + tl.num_tokens - 1;
      const int first_key = cfg_.sliding_window > 0 ? std::max(0, pc.num_cached + t0 - cfg_.sliding_window + 1) : 0;
      max_keys = std::max(max_keys, last + 1 - first_key);
      max_end = std::max(max_end, last + 1);
    }
    for (int t = 0; t < pc.num_tokens; ++t) {
      const int p_ = pc.num_cached + t;
      tok[T + t] = batch.tokens[pc.token_begin + t];
      pos[T + t] = p_;
      slot[T + t] = table[p_ / block_size_] * block_size_ + p_ % block_size_;
      if (pc.all_logits || (pc.last_logit && t == pc.num_tokens - 1))
        rows[R++] = T + t;
      else if (pc.all_hidden)
        hidden_only_.push_back(T + t);
    }
    if (p.tree_words > 0) stage_tree(s, pc, T, p.tree_words, p.tree_path);
    if (cfg_.fusion.enabled)  // the piece's rows of the sequence's features (validate: not null)
      std::memcpy(h_features_.as<float>() + size_t(T) * cfg_.hidden_size,
                  s.features + size_t(pc.num_cached - s.num_cached) * cfg_.hidden_size,
                  size_t(pc.num_tokens) * cfg_.hidden_size * sizeof(float));
    T += pc.num_tokens;
  }
  if (p.graph) {  // pad to the bucket: padding tokens write no K/V and their tiles are skipped
    const int tq = tile_tokens(p.per_seq);
    for (int i = n_rows; i < p.bucket; ++i) {
      for (int t0 = 0; t0 < p.per_seq; t0 += tq) tiles[nt++] = kernels::AttentionTile{i, T + t0, 0, 0};
      for (int t = 0; t < p.per_seq; ++t) {
        tok[T] = 0;
        pos[T] = t;
        slot[T] = -1;
        if (p.tree_words > 0) {
          h_attn_positions_.as<int32_t>()[T] = t;
          h_tree_begin_.as<int32_t>()[T] = INT32_MAX;
        }
        rows[R++] = T;
        if (cfg_.fusion.enabled)
          std::memset(h_features_.as<float>() + size_t(T) * cfg_.hidden_size, 0, size_t(cfg_.hidden_size) * sizeof(float));
        ++T;
      }
    }
    const int tiles_per_seq = (p.per_seq + tq - 1) / tq;
    p.num_splits = kernels::attention_num_splits(p.bucket * tiles_per_seq, cfg_.num_kv_heads, max_model_len_, num_sms_);
  } else {
    p.num_splits = kernels::attention_num_splits(nt, cfg_.num_kv_heads, max_keys, num_sms_);
  }
  if (opt_.batch_invariant) {  // fixed key splits where the workspace takes them (else as below: not invariant)
    const int s = kernels::attention_invariant_num_splits(p.graph ? max_model_len_ : max_end, split_keys_);
    if (kernels::attention_workspace_floats(T, cfg_.num_heads, cfg_.head_dim, s) <= attn_ws_floats_) {
      p.num_splits = s;
      p.split_keys = split_keys_;
    } else if (invariant_pass(T) && !invariant_ws_warned_) {
      invariant_ws_warned_ = true;
      IGNIS_LOG(Warn, "cuda: --batch-invariant: a pass of {} tokens over {} keys needs more attention workspace "
                "than was sized; it runs on equal key splits (not invariant)", T, max_end);
    }
  }
  while (p.split_keys == 0 && p.num_splits > 1 &&
         kernels::attention_workspace_floats(T, cfg_.num_heads, cfg_.head_dim, p.num_splits) > attn_ws_floats_)
    --p.num_splits;
  p.num_tokens = T;
  p.num_tiles = nt;
  p.num_logit_rows = R;
  p.num_hidden_only = int(hidden_only_.size());
  IGNIS_CHECK(!p.graph || p.num_hidden_only == 0, "cuda forward: a graphed pass with {} hidden-only rows", p.num_hidden_only);
  std::copy(hidden_only_.begin(), hidden_only_.end(), rows + R);
  if (hidden_sink_) {  // the sink's row of each gathered row of this pass (graph padding rows have none)
    auto place = [&](const Piece& pc, int t) {
      const BatchSeq& s = batch.seqs[size_t(pc.seq)];
      return hidden_base_[size_t(pc.seq)] + (pc.num_cached - s.num_cached + t) - (s.num_tokens - s.hidden_rows());
    };
    for (int pass_logits = 0; pass_logits < 2; ++pass_logits)
      for (const Piece& pc : pieces)
        for (int t = 0; t < pc.num_tokens; ++t) {
          const bool logit = pc.all_logits || (pc.last_logit && t == pc.num_tokens - 1);
          if (pass_logits == 0 ? logit : (!logit && pc.all_hidden)) hidden_dst_.push_back(place(pc, t));
        }
  }

  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_tokens_.get(), tok, T * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_positions_.get(), pos, T * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_slots_.get(), slot, T * 4, cudaMemcpyHostToDevice, stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_tiles_.get(), tiles, nt * sizeof(kernels::AttentionTile), cudaMemcpyHostToDevice,
                                   stream_));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_logit_rows_.get(), rows, (R + p.num_hidden_only) * 4, cudaMemcpyHostToDevice,
                                   stream_));
  if (cfg_.fusion.enabled)
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_features_.get(), h_features_.as<float>(), size_t(T) * cfg_.hidden_size * sizeof(float),
                                     cudaMemcpyHostToDevice, stream_));
  if (p.tree_words > 0) {
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_attn_positions_.get(), h_attn_positions_.as<int32_t>(), T * 4, cudaMemcpyHostToDevice,
                                     stream_));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_tree_begin_.get(), h_tree_begin_.as<int32_t>(), T * 4, cudaMemcpyHostToDevice, stream_));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_tree_mask_.get(), h_tree_mask_.as<uint32_t>(), size_t(T) * p.tree_words * 4,
                                     cudaMemcpyHostToDevice, stream_));
    if (p.tree_path)
      IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_tree_path_.get(), h_tree_path_.as<int32_t>(), size_t(T) * kMaxGraphTokens * 4,
                                       cudaMemcpyHostToDevice, stream_));
  }
  IGNIS_CUDA_CHECK(cudaMemcpy2DAsync(d_block_tables_.get(), size_t(max_blocks_per_seq_) * 4, bt, size_t(W) * 4,
                                     size_t(W) * 4, pieces.size(), cudaMemcpyHostToDevice, stream_));
  return p;
}

// A pass with token trees: for the piece's tokens at pass rows T0.., RoPE's positions (num_cached +
// depth: overwrites what stage_pass wrote), attention's KV slot positions, tree roots and mask rows
// (a chain's tokens: no tree, INT32_MAX). A piece may be part of a tree that spans passes: depths
// and masks are those of the whole tree.
void CudaModel::stage_tree(const BatchSeq& s, const Piece& pc, int T0, int words, bool path) {
  auto* pos = h_positions_.as<int32_t>();
  auto* apos = h_attn_positions_.as<int32_t>();
  auto* begin = h_tree_begin_.as<int32_t>();
  auto* mask = h_tree_mask_.as<uint32_t>();
  const int first = pc.num_cached - s.num_cached;  // the piece's first node
  for (int t = 0; t < pc.num_tokens; ++t) apos[T0 + t] = pc.num_cached + t;
  if (!s.is_tree()) {
    for (int t = 0; t < pc.num_tokens; ++t) begin[T0 + t] = INT32_MAX;
    return;
  }
  const int n = s.num_tokens;
  tree_depth_.assign(size_t(n), 0);
  tree_rows_.assign(size_t(n) * words, 0u);
  for (int i = 0; i < n; ++i) {
    const int par = s.tree_parent[size_t(i)];
    uint32_t* row = tree_rows_.data() + size_t(i) * words;
    if (par >= 0) {
      tree_depth_[size_t(i)] = tree_depth_[size_t(par)] + 1;
      std::copy_n(tree_rows_.data() + size_t(par) * words, words, row);
    }
    row[i / 32] |= 1u << (i % 32);
  }
  for (int t = 0; t < pc.num_tokens; ++t) {
    const int node = first + t;
    pos[T0 + t] = s.num_cached + tree_depth_[size_t(node)];
    begin[T0 + t] = s.num_cached;
    std::copy_n(tree_rows_.data() + size_t(node) * words, words, mask + size_t(T0 + t) * words);
    if (path) {  // the node's ancestors' KV positions by depth, root first, the node last
      int32_t* row = h_tree_path_.as<int32_t>() + size_t(T0 + t) * kMaxGraphTokens;
      for (int a = node; a >= 0; a = s.tree_parent[size_t(a)]) row[tree_depth_[size_t(a)]] = s.num_cached + a;
    }
  }
}

// Everything from the embedding to the final norm of the logit rows (into x_), then the
// lm_head over the first min(R, max_logit_rows) rows and, if asked, their argmax.
void CudaModel::enqueue_pass(const Pass& p, bool argmax) {
  const int T = p.num_tokens, H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const int Q = cfg_.q_size(), KV = cfg_.kv_size(), QKV = Q + 2 * KV;
  const float eps = cfg_.rms_norm_eps;
  cudaStream_t s = stream_;
  StepProfiler* prof = profiler_.get();
  auto mark = [prof](const char* op) {
    if (prof) prof->mark(op);
  };
  if (prof) prof->begin(s, T);
  float* res = residual_.as<float>();
  if (cfg_.fusion.enabled) {
    // residual = x_ = fc(concat(embed(token), feature)) (+ bias): one GEMM over the fused rows (fp32 out)
    kernels::fusion_concat(dtype_, d_tokens_.as<int32_t>(), T, embed_.get(), cfg_.vocab_size, H,
                           d_features_.as<float>(), fusion_in_.get(), s);
    mark("fusion_concat");
    linear(fusion_in_.get(), fc_w_.get(), res, T, H, 2 * H, DType::F32);
    mark("gemm_fc");
    kernels::fusion_bias_residual(dtype_, res, fc_b_ ? fc_b_.get() : nullptr, T, H, res, x_.get(), s);
    mark("fusion_bias");
  } else {
    kernels::embedding(dtype_, d_tokens_.as<int32_t>(), T, embed_.get(), cfg_.vocab_size, H, res, s);
    mark("embedding");
  }
  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& w = layers_[l];
    if (!w.attn_norm) {
      // a fusion model's layer 0 without an input norm: q/k/v read the fused rows (x_) as they are
      if (w.qkv.fp8()) {
        kernels::quantize_rows_fp8(dtype_, x_.get(), H, T, H, fp8_out_for(w.qkv, T), s);
        mark("quantize_fp8");
      }
    } else {
      // residual += previous MLP output (none for layer 0), fused with this layer's input norm, which
      // writes what the q/k/v projection reads (dtype activations or FP8 codes + scales)
      kernels::add_rmsnorm(dtype_, res, l == 0 ? nullptr : o_.get(), nullptr, w.attn_norm.get(),
                           w.qkv.fp8() ? nullptr : x_.get(), nullptr, T, H, eps, s, fp8_out_for(w.qkv, T));
      mark("add_rmsnorm");
    }
    const kernels::RopeKvArgs ra = rope_args(l, T);
    // RoPE and the K/V write: their own kernel, or in the FP8 / integer q/k/v GEMV's epilogue (then
    // "gemm_qkv" includes them)
    if (fuses_rope(w, ra)) {
      const Linear& q = w.qkv;
      if (q.fp8()) {
        const LinearIn in = linear_in(q, x_.get());
        kernels::gemv_fp8_rope(ra, in.x8, in.sx, q.ptr, q.scale.as<float>(), q.k, s, opt_.pdl);
      } else {
        kernels::gemv_int_rope(ra, x_.get(), q.w.as<uint32_t>(), q.meta.as<uint32_t>(), q.k, q.bits, q.group, s,
                               opt_.pdl);
      }
      mark("gemm_qkv");
    } else {
      linear(linear_in(w.qkv, x_.get()), w.qkv, qkv_.get(), T, dtype_);
      mark("gemm_qkv");
      kernels::rope_qkv_write_kv(ra, s);
      mark("rope_kv_write");
    }
    kernels::PagedAttentionArgs aa;
    aa.dtype = dtype_;
    aa.kv_dtype = kv_dtype_;
    aa.k_scale = ra.k_scale;
    aa.v_scale = ra.v_scale;
    aa.impl = attention_impl_;
    aa.q = qkv_.get();
    aa.q_stride = QKV;
    aa.k_cache = ra.k_cache;
    aa.v_cache = ra.v_cache;
    aa.block_tables = d_block_tables_.as<int32_t>();
    aa.bt_stride = max_blocks_per_seq_;
    aa.positions = (p.tree_words > 0 && !p.tree_path ? d_attn_positions_ : d_positions_).as<int32_t>();
    if (p.tree_words > 0) {
      aa.tree_begin = d_tree_begin_.as<int32_t>();
      if (p.tree_path) {
        aa.tree_path = d_tree_path_.as<int32_t>();
        aa.tree_path_stride = kMaxGraphTokens;
      } else {
        aa.tree_mask = d_tree_mask_.as<uint32_t>();
        aa.tree_words = p.tree_words;
      }
    }
    aa.tiles = d_tiles_.as<kernels::AttentionTile>();
    aa.num_tiles = p.num_tiles;
    aa.num_tokens = T;
    aa.num_heads = cfg_.num_heads;
    aa.num_kv_heads = cfg_.num_kv_heads;
    aa.head_dim = cfg_.head_dim;
    aa.block_size = block_size_;
    aa.sliding_window = cfg_.sliding_window;
    aa.scale = 1.0f / std::sqrt(float(cfg_.head_dim));
    aa.num_splits = p.num_splits;
    aa.split_keys = p.split_keys;
    aa.num_small_tiles = p.num_small_tiles;
    aa.workspace = attn_ws_.as<float>();
    aa.out = attn_.get();
    aa.out_stride = Q;
    kernels::paged_attention(aa, s);
    mark("attention");
    // o's FP8 input: quantized by its own kernel, or inside the GEMV (then "gemm_o" includes it)
    const bool o_fused = fuses_producer(w.o, T, attn_.get());
    if (w.o.fp8() && !o_fused) {
      kernels::quantize_rows_fp8(dtype_, attn_.get(), Q, T, Q, fp8_out_for(w.o, T), s);
      mark("quantize_fp8");
    }
    linear(o_fused ? fused_in(w.o, attn_.get()) : linear_in(w.o, attn_.get()), w.o, o_.get(), T, dtype_);
    mark("gemm_o");
    kernels::add_rmsnorm(dtype_, res, o_.get(), w.bo ? w.bo.get() : nullptr, w.mlp_norm.get(),
                         w.gate_up.fp8() ? nullptr : x_.get(), nullptr, T, H, eps, s, fp8_out_for(w.gate_up, T));
    mark("add_rmsnorm");
    linear(linear_in(w.gate_up, x_.get()), w.gate_up, gate_up_.get(), T, dtype_);
    mark("gemm_gate_up");
    kernels::silu_mul(dtype_, gate_up_.get(), w.down.fp8() ? nullptr : act_.get(), T, I, s, fp8_out_for(w.down, T));
    mark("silu_mul");
    linear(linear_in(w.down, act_.get()), w.down, o_.get(), T, dtype_);
    mark("gemm_down");
  }
  // last MLP output added only for the gathered rows (logit rows, then hidden-only rows), then the
  // final norm (gathered rows -> x_); a fusion model without a final norm gathers the rows as they
  // are (its predicted features)
  const int gathered = p.num_logit_rows + p.num_hidden_only;
  if (!final_norm_) {
    kernels::add_gather_rows(dtype_, res, o_.get(), d_logit_rows_.as<int32_t>(), gathered, H, x_.get(), s);
    mark("add_gather_rows");
  } else {
    kernels::add_rmsnorm(dtype_, res, o_.get(), nullptr, final_norm_.get(), x_.get(), d_logit_rows_.as<int32_t>(),
                         gathered, H, eps, s);
    mark("add_rmsnorm");
  }
  const int rows = std::min(p.num_logit_rows, max_logit_rows_);
  linear(x_.get(), lm_head_.ptr, logits_.get(), head_rows(rows), cfg_.vocab_size, H, DType::F32);
  mark("gemm_lm_head");
  if (argmax) {
    kernels::argmax_logprob(logits_.as<float>(), rows, cfg_.vocab_size, sample_tokens_.as<int32_t>(),
                            sample_logprobs_.as<float>(), s);
    mark("argmax");
  }
  if (prof) prof->end();
}

CudaModel::DensePath CudaModel::dense_path(int m, DType out, const void* x, const void* w, int k) const {
  // batch invariance (invariant_pass: linear() runs more than gemv_mma's 64 rows in 64-row chunks), so a
  // row is summed alike whatever the pass holds
  if ((invariant_pass(m) || m <= opt_.gemv_mma_rows) &&
      kernels::gemv_mma_supported(dtype_, out, x, w, std::min(m, kernels::kGemvMmaMaxM), k))
    return DensePath::GemvMma;
  if (use_gemv_ && m <= kernels::kGemvPreferredMaxM && kernels::gemv_supported(dtype_, out, x, w, m, k))
    return DensePath::Gemv;
  return DensePath::Gemm;
}

void CudaModel::linear(const void* x, const void* w, void* y, int m, int n, int k, DType out) {
  switch (dense_path(m, out, x, w, k)) {
    case DensePath::GemvMma: {
      const size_t xrow = size_t(k) * dtype_size(dtype_), yrow = size_t(n) * dtype_size(out);
      for (int r = 0; r < m; r += kernels::kGemvMmaMaxM)
        kernels::gemv_mma(dtype_, out, static_cast<const char*>(x) + r * xrow, w, static_cast<char*>(y) + r * yrow,
                          std::min(kernels::kGemvMmaMaxM, m - r), n, k, stream_, opt_.pdl);
      return;
    }
    case DensePath::Gemv: kernels::gemv(dtype_, out, x, w, y, m, n, k, stream_, opt_.pdl); return;
    case DensePath::Gemm: gemm_->matmul(dtype_, out, x, w, y, m, n, k, stream_); return;
  }
}

// Rows a projection of a pass of T tokens runs on: the tuned (padded) count for cuBLASLt, and for
// FP8 a multiple of 16 (cuBLASLt's FP8 kernels; the rows past T read stale or zero codes and their
// outputs are never read); T itself where the GEMV takes it.
int CudaModel::fp8_rows(int T) const {
  if (use_gemv_ && T <= kernels::kFp8GemvMaxM) return T;
  return std::min(alloc_tokens_, (gemm_rows(T) + 15) / 16 * 16);
}

kernels::Fp8Out CudaModel::fp8_out_for(const Linear& w, int T) const {
  kernels::Fp8Out q;
  if (!w.fp8()) return q;
  q.data = act8_.as<uint8_t>();
  q.scale = act_scale_.as<float>();
  q.static_scale = w.in_scale ? w.in_scale.as<float>() : nullptr;
  if (w.scaling == kernels::Fp8Scaling::Block) {
    q.group = kernels::kFp8Group;
    q.scale_ld = fp8_rows(T);  // group-major scales, one column per row of the product
  }
  return q;
}

CudaModel::LinearIn CudaModel::linear_in(const Linear& w, const void* x) const {
  LinearIn in;
  if (w.fp8()) {
    in.x8 = act8_.as<uint8_t>();
    in.sx = act_scale_.as<float>();
  } else {
    in.x = x;
  }
  return in;
}

bool CudaModel::fuses_producer(const Linear& w, int T, const void* x) const {
  return w.fp8() && w.scaling == kernels::Fp8Scaling::Channel && use_gemv_ && T <= opt_.fp8_fused_rows &&
         kernels::gemv_fp8_fused_supported(dtype_, fused_in(w, x).fused, w.ptr, T, w.k);
}

CudaModel::Fp8Fusions CudaModel::fp8_fusions(int T) const {
  Fp8Fusions f;
  if (layers_.empty()) return f;
  f.o = fuses_producer(layers_[0].o, T, attn_.get());
  f.rope = fuses_rope(layers_[0], rope_args(0, T));
  return f;
}

kernels::RopeKvArgs CudaModel::rope_args(int l, int T) const {
  kernels::RopeKvArgs ra;
  ra.dtype = dtype_;
  ra.kv_dtype = kv_dtype_;
  if (!kv_scales_.empty()) std::tie(ra.k_scale, ra.v_scale) = kv_scales_[size_t(l)];
  ra.qkv = qkv_.get();
  const LayerWeights& w = layers_[size_t(l)];
  ra.bias = w.bqkv ? w.bqkv.get() : nullptr;
  ra.positions = d_positions_.as<int32_t>();
  ra.slot_mapping = d_slots_.as<int32_t>();
  ra.inv_freq = inv_freq_.as<float>();
  ra.k_cache = kv_.as<char>() + size_t(2 * l) * kv_layer_bytes_;
  ra.v_cache = static_cast<char*>(ra.k_cache) + kv_layer_bytes_;
  ra.n = T;
  ra.num_heads = cfg_.num_heads;
  ra.num_kv_heads = cfg_.num_kv_heads;
  ra.head_dim = cfg_.head_dim;
  return ra;
}

bool CudaModel::fuses_rope(const LayerWeights& w, const kernels::RopeKvArgs& a) const {
  const Linear& q = w.qkv;
  if (!use_gemv_ || a.n > opt_.fused_rope_rows) return false;
  if (q.fp8())
    return q.scaling == kernels::Fp8Scaling::Channel && kernels::gemv_fp8_rope_supported(a, act8_.get(), q.ptr, q.k);
  return q.wint() && int_path(a.n, dtype_) == IntPath::Gemv && kernels::gemv_int_rope_supported(a, q.bits, q.k, q.group);
}

CudaModel::LinearIn CudaModel::fused_in(const Linear& w, const void* x) {
  LinearIn in;
  in.fused.src = x;
  in.fused.ld = w.k;
  in.fused.static_scale = w.in_scale ? w.in_scale.as<float>() : nullptr;
  return in;
}

CudaModel::IntPath CudaModel::int_path(int T, DType out) const {
  if (out != dtype_) return IntPath::Dense;
  if (use_gemv_ && T <= kIntGemvRows) return IntPath::Gemv;
  if (int_gemm_ && T <= kIntGemmRows) return IntPath::Gemm;
  if (use_gemv_ && T <= kernels::kIntGemvMaxM) return IntPath::Gemv;
  return IntPath::Dense;
}

void CudaModel::linear_int(const void* x, const Linear& w, void* y, int T, DType out) {
  switch (int_path(T, out)) {
    case IntPath::Gemv:
      kernels::gemv_int(dtype_, x, w.w.as<uint32_t>(), w.meta.as<uint32_t>(), y, T, w.n, w.k, w.bits, w.group,
                        stream_, opt_.pdl);
      return;
    case IntPath::Gemm:
      kernels::gemm_int(dtype_, x, w.w.as<uint32_t>(), w.meta.as<uint32_t>(), y, T, w.n, w.k, w.bits, w.group,
                        int_gemm_ws_.as<float>(), int_gemm_ws_floats_, num_sms_, stream_, opt_.pdl);
      return;
    case IntPath::Dense:
      break;
  }
  IGNIS_CHECK(size_t(w.n) * size_t(w.k) <= int_scratch_elems_, "cuda: integer projection {} x {} above the scratch of {}",
              w.n, w.k, int_scratch_elems_);
  kernels::dequantize_int_weights(dtype_, w.w.as<uint32_t>(), w.meta.as<uint32_t>(), int_scratch_.get(), w.n, w.k,
                                  w.bits, w.group, stream_);
  linear(x, int_scratch_.get(), y, gemm_rows(T), w.n, w.k, out);
}

void CudaModel::linear(const LinearIn& in, const Linear& w, void* y, int T, DType out) {
  if (w.wint()) {
    linear_int(in.x, w, y, T, out);
    return;
  }
  if (!w.fp8()) {
    linear(in.x, w.ptr, y, gemm_rows(T), w.n, w.k, out);
    return;
  }
  if (in.fused.src) {  // fuses_producer() checked the case
    IGNIS_CHECK(out == dtype_, "cuda: a fused FP8 GEMV writes the activation dtype");
    kernels::gemv_fp8_fused(dtype_, in.fused, w.ptr, w.scale.as<float>(), y, T, w.n, w.k, stream_, opt_.pdl);
    return;
  }
  const int m = fp8_rows(T);
  if (use_gemv_ && m <= kernels::kFp8GemvMaxM && kernels::gemv_fp8_supported(out, m))
    kernels::gemv_fp8(out, in.x8, in.sx, w.ptr, w.scale.as<float>(), y, m, w.n, w.k, w.scaling, stream_, opt_.pdl);
  else
    gemm_->matmul_fp8(in.x8, in.sx, w.ptr, w.scale.as<float>(), y, out, m, w.n, w.k, w.scaling, stream_);
}

void CudaModel::run_pass(const Pass& p, bool greedy) {
  if (!p.graph) {
    enqueue_pass(p, greedy);
    return;
  }
  const int key = graph_key(p);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    IGNIS_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    return;
  }
  // First uses of this shape: eagerly; then run eagerly (sets kernel attributes, picks GEMM
  // algorithms) and capture the same work for the next steps. Capture executes nothing.
  enqueue_pass(p, true);
  if (int& runs = graph_runs_[key]; runs < opt_.graph_warmup_runs) {
    ++runs;
    return;
  }
  graph_runs_.erase(key);
  cudaGraph_t graph = nullptr;
  IGNIS_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue_pass(p, true);
  } catch (const Error& e) {
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    graphs_broken_ = true;
    IGNIS_LOG(Warn, "cuda: decode graph capture failed, running eagerly from now on: {}", e.what());
    return;
  }
  IGNIS_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    graphs_broken_ = true;
    IGNIS_LOG(Warn, "cuda: decode graph instantiation failed ({}), running eagerly", cudaGetErrorString(err));
    return;
  }
  graphs_[key] = exec;
}

void CudaModel::run_batch(const ForwardBatch& batch, Mode mode, std::vector<float>* logits,
                          std::vector<int32_t>* tokens, std::vector<float>* logprobs, const BeforeSample* before_sample) {
  const bool greedy = mode == Mode::Greedy;
  validate(batch);
  const size_t V = size_t(cfg_.vocab_size);
  const size_t total_rows = size_t(batch.num_logit_rows());
  if (logits) logits->resize(total_rows * V);
  if (tokens) tokens->resize(total_rows);
  if (logprobs) logprobs->resize(total_rows);
  size_t out_row = 0, hidden_row = 0;
  bool masks_staged = false;  // Mode::Sample: the deferred host work ran and the masks are uploaded
  const size_t hidden_row_bytes = size_t(cfg_.hidden_size) * esize_;
  const size_t total_hidden = hidden_sink_ ? size_t(batch.num_hidden_rows()) : 0;
  if (hidden_sink_) {
    if (h_hidden_.bytes() < total_hidden * hidden_row_bytes) {
      IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // no copy into the old buffer is in flight
      h_hidden_ = PinnedBuffer(std::max(total_hidden, std::max<size_t>(64, 2 * h_hidden_.bytes() / hidden_row_bytes)) *
                               hidden_row_bytes);
    }
    hidden_base_.resize(batch.seqs.size());
    int32_t base = 0;
    for (size_t i = 0; i < batch.seqs.size(); ++i) hidden_base_[i] = base, base += batch.seqs[i].hidden_rows();
    hidden_dst_.clear();
  }

  auto flush = [&](const std::vector<Piece>& pieces) {
    if (pieces.empty()) return;
    Pass p = stage_pass(batch, pieces);
    const int real_rows = p.graph ? p.num_logit_rows - (p.bucket - int(pieces.size())) * p.per_seq : p.num_logit_rows;
    run_pass(p, greedy);
    // the gathered rows of this pass (real logit rows first, then graph padding or hidden-only
    // rows; a graph has no hidden-only rows), ordered on the stream after the pass or its graph
    // launch and before the next pass rewrites x_
    const size_t copy_rows = size_t(real_rows + p.num_hidden_only);
    if (hidden_sink_ && copy_rows > 0) {
      IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_hidden_.as<char>() + hidden_row * hidden_row_bytes, x_.get(),
                                       copy_rows * hidden_row_bytes, cudaMemcpyDeviceToHost, stream_));
      hidden_row += copy_rows;
    }
    // logit rows beyond the first max_logit_rows_ (eager passes only): more lm_head GEMMs
    for (int r0 = 0; r0 < real_rows; r0 += max_logit_rows_) {
      const int n = std::min(max_logit_rows_, real_rows - r0);
      if (r0 > 0) {
        const char* xr = x_.as<char>() + size_t(r0) * cfg_.hidden_size * esize_;
        const int hn = r0 + head_rows(n) <= alloc_tokens_ ? head_rows(n) : n;  // padded rows inside x_
        linear(xr, lm_head_.ptr, logits_.get(), hn, cfg_.vocab_size, cfg_.hidden_size, DType::F32);
        if (greedy)
          kernels::argmax_logprob(logits_.as<float>(), n, cfg_.vocab_size, sample_tokens_.as<int32_t>(),
                                  sample_logprobs_.as<float>(), stream_);
      }
      if (mode == Mode::Sample) {
        if (!masks_staged) {  // the pass is enqueued: the host's work overlaps it
          if (before_sample && *before_sample) (*before_sample)();
          sampler_.stage_masks(stream_);
          masks_staged = true;
        }
        sampler_.launch(logits_.as<float>(), int(out_row), n, stream_);  // stream order protects logits_
      } else if (greedy) {
        IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_sample_tokens_.as<int32_t>(), sample_tokens_.get(), n * 4,
                                         cudaMemcpyDeviceToHost, stream_));
        IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_sample_logprobs_.as<float>(), sample_logprobs_.get(), n * 4,
                                         cudaMemcpyDeviceToHost, stream_));
        IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // host reads the sampled tokens
        std::memcpy(tokens->data() + out_row, h_sample_tokens_.as<int32_t>(), n * 4);
        if (logprobs) std::memcpy(logprobs->data() + out_row, h_sample_logprobs_.as<float>(), n * 4);
      } else {
        IGNIS_CUDA_CHECK(cudaMemcpyAsync(logits->data() + out_row * V, logits_.get(), size_t(n) * V * 4,
                                         cudaMemcpyDeviceToHost, stream_));
        IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // logits_ is reused by the next GEMM
      }
      out_row += size_t(n);
    }
  };

  // Cut the batch into passes of at most max_tokens_ tokens and max_seqs_ sequences; a long
  // prefill is split across passes (its earlier part is in the KV cache when the rest runs).
  std::vector<Piece> pieces;
  int pass_tokens = 0, token_base = 0;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const BatchSeq& s = batch.seqs[i];
    int done = 0;
    while (done < s.num_tokens) {
      if (pass_tokens == max_tokens_ || int(pieces.size()) == max_seqs_) {
        flush(pieces);
        pieces.clear();
        pass_tokens = 0;
      }
      const int n = std::min(s.num_tokens - done, max_tokens_ - pass_tokens);
      Piece pc;
      pc.seq = int(i);
      pc.token_begin = token_base + done;
      pc.num_cached = s.num_cached + done;
      pc.num_tokens = n;
      pc.all_logits = s.all_logits;
      pc.all_hidden = s.all_hidden;
      pc.last_logit = done + n == s.num_tokens;
      pieces.push_back(pc);
      pass_tokens += n;
      done += n;
    }
    token_base += s.num_tokens;
  }
  flush(pieces);
  IGNIS_CHECK(out_row == total_rows, "cuda forward: produced {} logit rows, expected {}", out_row, total_rows);
  if (hidden_sink_) {
    IGNIS_CHECK(hidden_row == total_hidden && hidden_dst_.size() == total_hidden,
                "cuda forward: produced {} hidden rows ({} placed), expected {}", hidden_row, hidden_dst_.size(),
                total_hidden);
    copy_hidden_rows(total_hidden);
  }
}

bool CudaModel::set_hidden_state_sink(std::vector<float>* sink) {
  hidden_sink_ = sink;
  if (!sink) return true;
  const size_t rows = size_t(alloc_tokens_), row_bytes = size_t(cfg_.hidden_size) * esize_;
  if (h_hidden_.bytes() < rows * row_bytes) {
    IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // no copy into the old buffer is in flight
    h_hidden_ = PinnedBuffer(rows * row_bytes);  // page-locked: resident already
  }
  if (sink->capacity() < rows * size_t(cfg_.hidden_size)) {
    sink->assign(rows * size_t(cfg_.hidden_size), 0.0f);
    sink->clear();
  }
  return true;
}

void CudaModel::copy_hidden_rows(size_t rows) {
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the passes' copies into h_hidden_ are done
  const size_t H = size_t(cfg_.hidden_size);
  hidden_sink_->resize(rows * H);
  IGNIS_CHECK(dtype_ == DType::F32 || dtype_ == DType::BF16 || dtype_ == DType::F16,
              "cuda hidden states: compute dtype {} unsupported", dtype_name(dtype_));
  for (size_t j = 0; j < rows; ++j) {  // h_hidden_ row j -> sink row hidden_dst_[j], widened to fp32
    float* dst = hidden_sink_->data() + size_t(hidden_dst_[j]) * H;
    if (dtype_ == DType::F32) {
      std::memcpy(dst, h_hidden_.as<float>() + j * H, H * sizeof(float));
    } else {
      const uint16_t* src = h_hidden_.as<uint16_t>() + j * H;
      if (dtype_ == DType::BF16)
        for (size_t i = 0; i < H; ++i) dst[i] = bf16_to_f32(src[i]);
      else
        for (size_t i = 0; i < H; ++i) dst[i] = f16_to_f32(src[i]);
    }
  }
}

void CudaModel::compact_kv(const std::vector<int32_t>& table, const std::vector<int32_t>& src,
                           const std::vector<int32_t>& dst) {
  IGNIS_CHECK(kv_, "cuda compact_kv: init_kv_cache was not called");
  IGNIS_CHECK(src.size() == dst.size(), "cuda compact_kv: {} source slots for {} destinations", src.size(), dst.size());
  if (src.empty()) return;
  std::vector<int64_t> rows(2 * src.size());  // sources, then destinations
  auto row_of = [&](int32_t slot) -> int64_t {
    IGNIS_CHECK(slot >= 0 && size_t(slot / block_size_) < table.size(),
                "cuda compact_kv: slot {} outside the block table ({} blocks of {})", slot, table.size(), block_size_);
    const int32_t blk = table[size_t(slot / block_size_)];
    IGNIS_CHECK(blk >= 0 && blk < num_blocks_, "cuda compact_kv: slot {} maps to block {}, outside the KV pool [0, {})",
                slot, blk, num_blocks_);
    return int64_t(blk) * block_size_ + slot % block_size_;
  };
  for (size_t i = 0; i < src.size(); ++i) rows[i] = row_of(src[i]), rows[src.size() + i] = row_of(dst[i]);
  const size_t bytes = rows.size() * sizeof(int64_t);
  if (compact_rows_.bytes() < bytes) compact_rows_ = DeviceBuffer(std::max<size_t>(bytes, 1024), "compact_kv rows");
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(compact_rows_.get(), rows.data(), bytes, cudaMemcpyHostToDevice, stream_));
  const int64_t* d = compact_rows_.as<int64_t>();
  kernels::kv_copy_rows(kv_.get(), kv_layer_bytes_, 2 * cfg_.num_layers,
                        size_t(cfg_.num_kv_heads) * cfg_.head_dim * kv_esize_, d, d + src.size(), int(src.size()),
                        stream_);
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `rows` is pageable host memory
}

void CudaModel::forward(const ForwardBatch& batch, std::vector<float>& logits) {
  run_batch(batch, Mode::Logits, &logits, nullptr, nullptr);
}

void CudaModel::forward_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens, std::vector<float>* logprobs) {
  run_batch(batch, Mode::Greedy, nullptr, &tokens, logprobs);
}

void CudaModel::forward_sample(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                               std::vector<RowSample>& out, const BeforeSample& before_sample) {
  IGNIS_CHECK(rows.size() == size_t(batch.num_logit_rows()), "cuda: {} sampling rows for {} logit rows", rows.size(),
              batch.num_logit_rows());
  if (!DeviceSampler::fits_device(rows, cfg_.vocab_size)) {  // beyond the kernel's limits: host sampler
    Model::forward_sample(batch, rows, out, before_sample);
    return;
  }
  if (DeviceSampler::plain_greedy(rows)) {  // argmax (inside the decode graph) is enough; no masks
    if (before_sample) before_sample();
    sample_greedy(batch, rows, out);
    return;
  }
  sampler_.stage(rows, cfg_.vocab_size, stream_);  // everything but the masks' contents
  run_batch(batch, Mode::Sample, nullptr, nullptr, nullptr, &before_sample);
  sampler_.collect(rows, stream_, out);
}

void CudaModel::forward_verify(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                               std::vector<RowSample>& out, const BeforeSample& before_sample) {
  IGNIS_CHECK(rows.size() == size_t(batch.num_logit_rows()), "cuda: {} sampling rows for {} logit rows", rows.size(),
              batch.num_logit_rows());
  if (!DeviceSampler::plain_greedy(rows)) {  // rejection sampling on the host (sampling/sampler.h verify_draft_u)
    Model::forward_verify(batch, rows, out, before_sample);
    return;
  }
  if (before_sample) before_sample();  // plain greedy rows: no masks to wait for
  sample_greedy(batch, rows, out);
}

// Every row greedy: the argmax and its logprob from the device, a proposal accepted iff it is the argmax.
void CudaModel::sample_greedy(const ForwardBatch& batch, const std::vector<RowSampling>& rows,
                              std::vector<RowSample>& out) {
  forward_greedy(batch, greedy_tokens_, &greedy_logprobs_);
  out.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    out[i] = RowSample{};
    out[i].result.token = greedy_tokens_[i];
    if (rows[i].sampling().logprobs >= 0) out[i].result.logprob = greedy_logprobs_[i];
    out[i].accepted = rows[i].draft_token >= 0 && rows[i].draft_token == greedy_tokens_[i];
  }
}

}  // namespace ignis::cuda
