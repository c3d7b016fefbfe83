#include "model/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "model/cpu/embedding.h"
#include "model/cpu/matmul.h"
#include "model/cpu/rmsnorm.h"
#include "model/cpu/rope.h"
#include "model/cpu/swiglu.h"
#include "parallel/communicator.h"
#include "quant/quantize.h"

namespace ignis {

namespace {

std::string lname(int layer, const char* suffix) { return fmt::format("model.layers.{}.{}", layer, suffix); }

const TensorRef* find(const WeightStore& ws, const std::string& name) {
  auto it = ws.all().find(name);
  return it == ws.all().end() ? nullptr : &it->second;
}

// Appends tensor `name` converted to fp32 to `dst` after checking its shape and dtype.
void append_f32(std::vector<float>& dst, const WeightStore& ws, const std::string& name,
                std::vector<int64_t> shape) {
  const TensorRef* t = find(ws, name);
  IGNIS_CHECK(t, "cpu model: missing tensor {}", name);
  IGNIS_CHECK(t->shape == shape, "{}: tensor {} has shape [{}], expected [{}]", t->file, name,
              fmt::join(t->shape, ", "), fmt::join(shape, ", "));
  IGNIS_CHECK(t->dtype == DType::F32 || t->dtype == DType::F16 || t->dtype == DType::BF16,
              "{}: tensor {} has dtype {}, expected F32, F16 or BF16", t->file, name, dtype_name(t->dtype));
  int64_t n = 1;
  for (auto d : shape) n *= d;
  IGNIS_CHECK(t->data && t->nbytes == size_t(n) * dtype_size(t->dtype), "{}: tensor {} has {} bytes, expected {}",
              t->file, name, t->nbytes, size_t(n) * dtype_size(t->dtype));
  size_t off = dst.size();
  dst.resize(off + size_t(n));
  to_f32(t->dtype, t->data, dst.data() + off, size_t(n));
}

std::vector<float> get_f32(const WeightStore& ws, const std::string& name, std::vector<int64_t> shape) {
  std::vector<float> v;
  append_f32(v, ws, name, std::move(shape));
  return v;
}

}  // namespace

CpuModel::CpuModel(const ModelConfig& cfg, const WeightStore& ws, CpuModelOptions opt) : cfg_(cfg), shard_(opt.shard) {
  IGNIS_CHECK(cfg.vocab_size > 0 && cfg.hidden_size > 0 && cfg.intermediate_size > 0 && cfg.num_layers > 0 &&
                  cfg.num_heads > 0 && cfg.num_kv_heads > 0 && cfg.head_dim > 0,
              "cpu model: config has non-positive sizes (vocab {}, hidden {}, intermediate {}, layers {}, heads {}, "
              "kv_heads {}, head_dim {})",
              cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_layers, cfg.num_heads,
              cfg.num_kv_heads, cfg.head_dim);
  IGNIS_CHECK(!cfg.fusion.enabled || (opt.shard.tp_size == 1 && opt.shard.stages == 1),
              "cpu model: a feature-fusion model (EAGLE draft head) runs on one rank only (tensor parallel {}, "
              "pipeline stages {})", opt.shard.tp_size, opt.shard.stages);
  IGNIS_CHECK(cfg.num_heads % cfg.num_kv_heads == 0, "cpu model: num_heads {} is not a multiple of num_kv_heads {}",
              cfg.num_heads, cfg.num_kv_heads);
  IGNIS_CHECK(opt.kv_dtype == DType::F32 || opt.kv_dtype == DType::F8_E4M3,
              "cpu model: KV cache dtype {} is not supported (F32 or F8_E4M3)", dtype_name(opt.kv_dtype));
  const int64_t H = cfg.hidden_size, V = cfg.vocab_size, I = cfg.intermediate_size;
  const int64_t Q = cfg.q_size(), KV = cfg.kv_size();
  const bool qkv_bias = cfg.attention_bias || cfg.arch == Arch::Qwen2;

  // Tensor / pipeline parallel rank (CpuShard): which heads, columns, vocabulary rows and layers.
  const CpuShard& sh = shard_;
  IGNIS_CHECK((sh.tp_size == 1 || sh.tp) && (sh.stages == 1 || sh.pp),
              "cpu model: a tensor / pipeline parallel rank needs its communicators");
  tp_ = tp_layout(cfg, sh.tp_rank, sh.tp_size);
  std::tie(first_layer_, end_layer_) = pp_layers(cfg, sh.stage, sh.stages);
  const bool tp = sh.tp_size > 1, first = sh.stage == 0, last = sh.stage + 1 == sh.stages;
  const std::string what = fmt::format("(tensor parallel rank {} of {})", sh.tp_rank, sh.tp_size);
  const int64_t hd = cfg.head_dim, q0 = tp_.head0 * hd, q1 = (tp_.head0 + tp_.heads) * hd;
  const int64_t k0 = tp_.kv_head0 * hd, k1 = (tp_.kv_head0 + tp_.kv_heads) * hd;
  auto row_parallel = [&](cpu::Linear full, int64_t b, int64_t e, bool keep_bias) {
    if (!tp) return full;
    cpu::Linear part = full.select_cols(b, e, keep_bias, what);
    if (part.spec().act == ActScale::DynamicToken || part.spec().act == ActScale::DynamicGroup)
      // each (row, group)'s scale from its amax over every rank's columns
      part.set_row_amax_reduce([c = sh.tp, n = sh.tp_size](float* amax, int m) {
        std::vector<float> all(size_t(m) * size_t(n));
        c->all_gather(amax, all.data(), size_t(m));
        for (int r = 0; r < n; ++r)
          for (int i = 0; i < m; ++i) amax[i] = std::max(amax[i], all[size_t(r) * size_t(m) + size_t(i)]);
      });
    return part;
  };

  if (first || (last && cfg.tie_word_embeddings)) {
    embed_ = get_f32(ws, "model.embed_tokens.weight", {V, H});
    if (tp) embed_ = std::vector<float>(embed_.begin() + tp_.v0 * H, embed_.begin() + tp_.v1 * H);
  }
  if (cfg.fusion.enabled) {  // one rank only (checked above): x = fc(concat(embed, feature)) (+ bias)
    std::vector<float> fc_bias;
    if (cfg.fusion.fc_bias) fc_bias = get_f32(ws, "model.fc.bias", {H});
    fc_ = cpu::Linear("model.fc", get_f32(ws, "model.fc.weight", {H, 2 * H}), H, 2 * H, std::move(fc_bias));
  }
  if (last) {
    if (!cfg.fusion.enabled || cfg.fusion.final_norm) final_norm_ = get_f32(ws, "model.norm.weight", {H});
    if (cfg.tie_word_embeddings)
      lm_head_ = cpu::Linear(tp ? "lm_head (tied to model.embed_tokens) " + what : "lm_head (tied to model.embed_tokens)",
                             embed_, tp_.v1 - tp_.v0, H, {});
    else if (tp) lm_head_ = cpu::Linear(load_linear(ws, cfg, {"lm_head"}, H), {}).select_rows({{tp_.v0, tp_.v1}}, what);
    else lm_head_ = cpu::Linear(load_linear(ws, cfg, {"lm_head"}, H), {});
  }
  if (!first) embed_.clear();
  inv_freq_ = cpu::rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);

  layers_.resize(cfg.num_layers);
  for (int l = first_layer_; l < end_layer_; ++l) {
    Layer& L = layers_[l];
    const LayerLinears mods = layer_linears(l);
    if (l > 0 || !cfg.fusion.enabled || cfg.fusion.first_input_norm)
      L.attn_norm = get_f32(ws, lname(l, "input_layernorm.weight"), {H});
    L.mlp_norm = get_f32(ws, lname(l, "post_attention_layernorm.weight"), {H});
    std::vector<float> bqkv, bo;
    if (qkv_bias) {
      append_f32(bqkv, ws, lname(l, "self_attn.q_proj.bias"), {Q});
      append_f32(bqkv, ws, lname(l, "self_attn.k_proj.bias"), {KV});
      append_f32(bqkv, ws, lname(l, "self_attn.v_proj.bias"), {KV});
    }
    if (cfg.o_proj_bias) bo = get_f32(ws, lname(l, "self_attn.o_proj.bias"), {H});
    L.qkv = cpu::Linear(load_linear(ws, cfg, mods.qkv, H), std::move(bqkv));
    L.o = row_parallel(cpu::Linear(load_linear(ws, cfg, mods.o, Q), std::move(bo)), q0, q1, sh.tp_rank == 0);
    L.gate_up = cpu::Linear(load_linear(ws, cfg, mods.gate_up, H), {});
    L.down = row_parallel(cpu::Linear(load_linear(ws, cfg, mods.down, I), {}), tp_.i0, tp_.i1, true);
    if (tp) {  // column parallel: this rank's q / k / v heads and gate / up columns
      L.qkv = L.qkv.select_rows({{q0, q1}, {Q + k0, Q + k1}, {Q + KV + k0, Q + KV + k1}}, what);
      L.gate_up = L.gate_up.select_rows({{tp_.i0, tp_.i1}, {I + tp_.i0, I + tp_.i1}}, what);
    }
  }
  kv_dtype_ = opt.kv_dtype;
  if (kv_dtype_ == DType::F8_E4M3) {
    kv_scales_ = kv_scales_or_default(ws, cfg, opt.kv_scales, "cpu model");
    for (size_t l = 0; l < kv_scales_.size(); ++l)
      IGNIS_CHECK(std::isfinite(kv_scales_[l].first) && kv_scales_[l].first > 0 && std::isfinite(kv_scales_[l].second) &&
                      kv_scales_[l].second > 0,
                  "cpu model: layer {} KV scales ({}, {}) must be finite and positive", l, kv_scales_[l].first,
                  kv_scales_[l].second);
  }
}

void CpuModel::init_kv_cache(int num_blocks, int block_size) {
  IGNIS_CHECK(num_blocks > 0 && block_size > 0, "cpu model: KV cache needs positive num_blocks and block_size, got {} "
              "and {}", num_blocks, block_size);
  const int64_t per_layer = int64_t(num_blocks) * block_size * tp_.kv_heads * cfg_.head_dim;
  IGNIS_CHECK(per_layer <= (int64_t(1) << 40), "cpu model: KV cache of {} blocks x {} tokens is too large", num_blocks,
              block_size);
  cache_shape_ = {num_blocks, block_size, tp_.kv_heads, cfg_.head_dim};
  for (int l = first_layer_; l < end_layer_; ++l) {
    Layer& L = layers_[size_t(l)];
    L.k_cache.assign(size_t(per_layer), 0.0f);
    L.v_cache.assign(size_t(per_layer), 0.0f);
  }
}

void CpuModel::validate(const ForwardBatch& batch) const {
  IGNIS_CHECK(cache_shape_.num_blocks > 0, "cpu model: forward called before init_kv_cache");
  int64_t total = 0;
  const int bs = cache_shape_.block_size;
  for (size_t si = 0; si < batch.seqs.size(); ++si) {
    const BatchSeq& s = batch.seqs[si];
    IGNIS_CHECK(s.num_tokens >= 1, "forward: sequence {} has {} new tokens (need at least 1)", si, s.num_tokens);
    IGNIS_CHECK(s.num_cached >= 0 && int64_t(s.num_cached) + s.num_tokens <= std::numeric_limits<int32_t>::max() / 2,
                "forward: sequence {} has num_cached {} out of range", si, s.num_cached);
    total += s.num_tokens;
    IGNIS_CHECK(!cfg_.fusion.enabled || s.features,
                "forward: sequence {} has no features; a feature-fusion model (EAGLE draft head) needs one hidden "
                "state per new token (BatchSeq::features)", si);
    if (s.is_tree()) {
      IGNIS_CHECK(int(s.tree_parent.size()) == s.num_tokens && s.all_logits,
                  "forward: sequence {} tree has {} parents for {} tokens (all_logits {}); need one per token and "
                  "all_logits", si, s.tree_parent.size(), s.num_tokens, s.all_logits);
      IGNIS_CHECK(s.tree_parent[0] == -1, "forward: sequence {} tree root has parent {} (need -1)", si, s.tree_parent[0]);
      for (int t = 1; t < s.num_tokens; ++t)
        IGNIS_CHECK(s.tree_parent[size_t(t)] >= 0 && s.tree_parent[size_t(t)] < t,
                    "forward: sequence {} tree token {} has parent {} (need [0, {}))", si, t, s.tree_parent[size_t(t)], t);
    }
    const int end = s.num_cached + s.num_tokens;  // one past the last slot
    int first_needed = 0;                         // first position any new token reads
    if (cfg_.sliding_window > 0) first_needed = std::max(0, s.num_cached - cfg_.sliding_window + 1);
    for (int b = first_needed / bs; b <= (end - 1) / bs; ++b) {
      IGNIS_CHECK(b < int(s.block_table.size()),
                  "forward: sequence {} covers {} positions but its block table has only {} blocks of {}", si, end,
                  s.block_table.size(), bs);
      int32_t id = s.block_table[b];
      IGNIS_CHECK(id >= 0 && id < cache_shape_.num_blocks,
                  "forward: sequence {} block table entry {} is {}, outside the KV pool [0, {})", si, b, id,
                  cache_shape_.num_blocks);
    }
  }
  IGNIS_CHECK(total == int64_t(batch.tokens.size()), "forward: sequences have {} new tokens but the batch has {}",
              total, batch.tokens.size());
}

void CpuModel::forward(const ForwardBatch& batch, std::vector<float>& logits) {
  validate(batch);
  const int n = int(batch.tokens.size());
  const int H = cfg_.hidden_size, I = int(tp_.i1 - tp_.i0), V = cfg_.vocab_size;
  const int Q = tp_.heads * cfg_.head_dim, KV = tp_.kv_heads * cfg_.head_dim, QKV = Q + 2 * KV;
  const bool tp = shard_.tp_size > 1, last = shard_.stage + 1 == shard_.stages;
  const float eps = cfg_.rms_norm_eps;

  // Per-token positions and per-sequence attention descriptors.
  std::vector<int32_t> pos(n);  // (n)
  std::vector<cpu::AttnSeq> aseqs(batch.seqs.size());
  for (int si = 0, off = 0; si < int(batch.seqs.size()); ++si) {
    const BatchSeq& s = batch.seqs[si];
    for (int t = 0; t < s.num_tokens; ++t)  // a tree token: num_cached + its depth
      pos[off + t] = s.is_tree() && t > 0 ? pos[off + s.tree_parent[size_t(t)]] + 1 : s.num_cached + t;
    aseqs[si] = {off, s.num_tokens, s.num_cached, s.block_table.data(), int32_t(s.block_table.size()),
                 s.is_tree() ? s.tree_parent.data() : nullptr};
    off += s.num_tokens;
  }
  cpu::AttnParams ap;
  ap.num_heads = tp_.heads;
  ap.sliding_window = cfg_.sliding_window;
  ap.scale = 1.0f / std::sqrt(float(cfg_.head_dim));

  std::vector<float> h(size_t(n) * H);        // (n, hidden) residual stream
  std::vector<float> x(size_t(n) * H);        // (n, hidden) normed input of the current block
  std::vector<float> qkv(size_t(n) * QKV);    // (n, q + 2 kv)
  std::vector<float> q(size_t(n) * Q);        // (n, num_heads, head_dim)
  std::vector<float> k(size_t(n) * KV);       // (n, num_kv_heads, head_dim)
  std::vector<float> v(size_t(n) * KV);       // (n, num_kv_heads, head_dim)
  std::vector<float> attn(size_t(n) * Q);     // (n, num_heads * head_dim)
  std::vector<float> o(size_t(n) * H);        // (n, hidden) block output
  std::vector<float> gu(size_t(n) * 2 * I);   // (n, 2 * intermediate)
  std::vector<float> act(size_t(n) * I);      // (n, intermediate)

  if (shard_.stage > 0) {  // a later pipeline stage: the previous stage's residual stream
    shard_.pp->recv(h.data(), h.size(), shard_.prev_rank);
  } else if (cfg_.fusion.enabled) {  // h = fc(concat(embed(token), feature)) per row, embedding first
    std::vector<float> e(size_t(n) * H), cat(size_t(n) * 2 * H);
    cpu::embedding(e.data(), embed_.data(), batch.tokens.data(), n, V, H);
    for (const auto& s : aseqs) {
      const float* f = batch.seqs[size_t(&s - aseqs.data())].features;
      for (int t = 0; t < s.num_tokens; ++t) {
        float* row = cat.data() + size_t(s.token_offset + t) * 2 * H;
        std::memcpy(row, e.data() + size_t(s.token_offset + t) * H, sizeof(float) * H);
        std::memcpy(row + H, f + size_t(t) * H, sizeof(float) * H);
      }
    }
    fc_.forward(h.data(), cat.data(), n);
  } else if (!tp) {
    cpu::embedding(h.data(), embed_.data(), batch.tokens.data(), n, V, H);
  } else {  // vocabulary parallel: this rank's rows, zeros elsewhere, summed over the ranks
    for (int i = 0; i < n; ++i) {
      const int32_t t = batch.tokens[size_t(i)];
      IGNIS_CHECK(t >= 0 && t < V, "embedding: token id {} at index {} is outside the vocabulary [0, {})", t, i, V);
      float* row = h.data() + size_t(i) * H;
      if (t >= tp_.v0 && t < tp_.v1) std::memcpy(row, embed_.data() + (t - tp_.v0) * H, sizeof(float) * size_t(H));
      else std::fill(row, row + H, 0.0f);
    }
    shard_.tp->all_reduce_sum(h.data(), h.size());
  }
  // A fusion model's layer 0 without an input norm reads the fused rows as they are.
  if (layers_[size_t(first_layer_)].attn_norm.empty()) x = h;
  else cpu::rmsnorm(x.data(), h.data(), layers_[size_t(first_layer_)].attn_norm.data(), n, H, eps);
  for (int l = first_layer_; l < end_layer_; ++l) {
    Layer& L = layers_[l];
    // Attention block.
    if (observer_) {
      observer_->input_amax(l, LinearSlot::Qkv, abs_max(x.data(), int64_t(n) * H));
      observer_->input_rows(l, LinearSlot::Qkv, x.data(), n, H);
    }
    L.qkv.forward(qkv.data(), x.data(), n);
    for (int t = 0; t < n; ++t) {
      const float* r = qkv.data() + size_t(t) * QKV;
      std::memcpy(q.data() + size_t(t) * Q, r, sizeof(float) * Q);
      std::memcpy(k.data() + size_t(t) * KV, r + Q, sizeof(float) * KV);
      std::memcpy(v.data() + size_t(t) * KV, r + Q + KV, sizeof(float) * KV);
    }
    cpu::rope_apply(q.data(), pos.data(), n, tp_.heads, cfg_.head_dim, inv_freq_.data());
    cpu::rope_apply(k.data(), pos.data(), n, tp_.kv_heads, cfg_.head_dim, inv_freq_.data());
    if (observer_) observer_->kv_amax(l, abs_max(k.data(), int64_t(n) * KV), abs_max(v.data(), int64_t(n) * KV));
    if (kv_dtype_ == DType::F8_E4M3) {  // what an FP8 cache holds: K after RoPE and V, rounded with the layer's scales
      const auto [ks, vs] = kv_scales_[size_t(l)];
      for (float& e : k) e = fake_quant_kv(e, ks);
      for (float& e : v) e = fake_quant_kv(e, vs);
    }
    for (const auto& s : aseqs)
      cpu::paged_kv_write(L.k_cache.data(), L.v_cache.data(), cache_shape_, k.data() + size_t(s.token_offset) * KV,
                          v.data() + size_t(s.token_offset) * KV, s.block_table, s.block_table_len, s.num_cached,
                          s.num_tokens);
    cpu::paged_attention(attn.data(), q.data(), L.k_cache.data(), L.v_cache.data(), cache_shape_, aseqs.data(),
                         int(aseqs.size()), ap);
    if (observer_) {
      observer_->input_amax(l, LinearSlot::O, abs_max(attn.data(), int64_t(n) * Q));
      observer_->input_rows(l, LinearSlot::O, attn.data(), n, Q);
    }
    L.o.forward(o.data(), attn.data(), n);
    if (tp) shard_.tp->all_reduce_sum(o.data(), o.size());  // row parallel: partial sums of every rank
    cpu::add_rmsnorm(x.data(), h.data(), o.data(), L.mlp_norm.data(), n, H, eps);
    // MLP block; its residual add is fused with the next norm (next layer's, or the final one).
    if (observer_) {
      observer_->input_amax(l, LinearSlot::GateUp, abs_max(x.data(), int64_t(n) * H));
      observer_->input_rows(l, LinearSlot::GateUp, x.data(), n, H);
    }
    L.gate_up.forward(gu.data(), x.data(), n);
    cpu::swiglu(act.data(), gu.data(), n, I);
    if (observer_) {
      observer_->input_amax(l, LinearSlot::Down, abs_max(act.data(), int64_t(n) * I));
      observer_->input_rows(l, LinearSlot::Down, act.data(), n, I);
    }
    L.down.forward(o.data(), act.data(), n);
    if (tp) shard_.tp->all_reduce_sum(o.data(), o.size());
    if (l + 1 == end_layer_ && !last) {  // the next stage norms the residual stream it receives
      for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
      break;
    }
    const float* next_norm = l + 1 < cfg_.num_layers ? layers_[l + 1].attn_norm.data() : final_norm_.data();
    if (l + 1 == cfg_.num_layers && final_norm_.empty()) {  // a fusion model without a final norm
      for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
      x = h;
    } else {
      cpu::add_rmsnorm(x.data(), h.data(), o.data(), next_norm, n, H, eps);
    }
  }
  if (!last) {
    shard_.pp->send(h.data(), h.size(), shard_.next_rank);
    logits.clear();
    return;
  }

  // Rows that need logits: every new token of all_logits sequences, else the last one.
  const int rows = batch.num_logit_rows();
  std::vector<float> sel(size_t(rows) * H);  // (rows, hidden)
  int r = 0;
  for (const auto& s : aseqs) {
    const bool all = batch.seqs[&s - aseqs.data()].all_logits;
    for (int t = all ? 0 : s.num_tokens - 1; t < s.num_tokens; ++t, ++r)
      std::memcpy(sel.data() + size_t(r) * H, x.data() + size_t(s.token_offset + t) * H, sizeof(float) * H);
  }
  if (hidden_sink_) {  // after the final norm: lm_head's input, for every hidden row (a superset of sel's)
    hidden_sink_->resize(size_t(batch.num_hidden_rows()) * H);
    size_t h = 0;
    for (const auto& s : aseqs) {
      const int n = batch.seqs[&s - aseqs.data()].hidden_rows();
      std::memcpy(hidden_sink_->data() + h * H, x.data() + size_t(s.token_offset + s.num_tokens - n) * H,
                  sizeof(float) * H * size_t(n));
      h += size_t(n);
    }
  }
  logits.resize(size_t(rows) * V);
  if (observer_) observer_->input_amax(-1, LinearSlot::LmHead, abs_max(sel.data(), int64_t(rows) * H));
  if (!tp) {
    lm_head_.forward(logits.data(), sel.data(), rows);
    return;
  }
  // Vocabulary parallel: every rank's (rows, its vocabulary) logits, padded to one chunk, gathered.
  const size_t chunk = size_t(tp_.vocab_chunk), mine = size_t(tp_.v1 - tp_.v0), R = size_t(rows);
  std::vector<float> part(R * mine), padded(R * chunk, 0.0f), all(R * chunk * size_t(shard_.tp_size));
  lm_head_.forward(part.data(), sel.data(), rows);
  for (size_t i = 0; i < R; ++i) std::memcpy(padded.data() + i * chunk, part.data() + i * mine, sizeof(float) * mine);
  shard_.tp->all_gather(padded.data(), all.data(), padded.size());
  for (int r = 0; r < shard_.tp_size; ++r) {
    const auto [b, e] = split_range(V, shard_.tp_size, r, 1, "the vocabulary");
    for (size_t i = 0; i < R; ++i)
      std::memcpy(logits.data() + i * size_t(V) + size_t(b), all.data() + (size_t(r) * R + i) * chunk,
                  sizeof(float) * size_t(e - b));
  }
}

void CpuModel::compact_kv(const std::vector<int32_t>& table, const std::vector<int32_t>& src,
                          const std::vector<int32_t>& dst) {
  IGNIS_CHECK(src.size() == dst.size(), "compact_kv: {} source slots for {} destinations", src.size(), dst.size());
  const int bs = cache_shape_.block_size;
  auto row_of = [&](int32_t slot) -> int64_t {
    IGNIS_CHECK(slot >= 0 && size_t(slot / bs) < table.size(), "compact_kv: slot {} outside the block table ({} blocks "
                "of {})", slot, table.size(), bs);
    const int32_t blk = table[size_t(slot / bs)];
    IGNIS_CHECK(blk >= 0 && blk < cache_shape_.num_blocks, "compact_kv: slot {} maps to block {}, outside the KV pool "
                "[0, {})", slot, blk, cache_shape_.num_blocks);
    return int64_t(blk) * bs + slot % bs;
  };
  const int64_t KV = int64_t(tp_.kv_heads) * cfg_.head_dim;
  for (size_t i = 0; i < src.size(); ++i) {
    const int64_t from = row_of(src[i]) * KV, to = row_of(dst[i]) * KV;
    if (from == to) continue;
    for (Layer& L : layers_) {
      if (L.k_cache.empty()) continue;  // another pipeline stage's layer
      std::memmove(L.k_cache.data() + to, L.k_cache.data() + from, sizeof(float) * size_t(KV));
      std::memmove(L.v_cache.data() + to, L.v_cache.data() + from, sizeof(float) * size_t(KV));
    }
  }
}

}  // namespace ignis
