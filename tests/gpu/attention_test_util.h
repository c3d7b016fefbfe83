// ignis tests/gpu: the paged-attention case runner shared by test_attention.cpp (caches of the compute
// dtype) and test_attention_fp8.cpp (FP8 caches): random caches, queries and block tables for a list of
// sequences, the CPU reference cpu::paged_attention over the exact cache values, the GPU kernels of
// the implementation current_impl() selects, the output poisoned beforehand and compared with the
// dtype's tolerance.
#pragma once
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/attention.h"
#include "kernels/attention_wgmma.h"
#include "model/cpu/paged_attention.h"

namespace ignis {
namespace {  // (test-only header: one copy per test file)

struct SeqSpec {
  int num_cached, num_tokens;
  // A token tree (model/batch.h BatchSeq::tree_parent; empty = a chain): the kernels get the KV slot
  // positions and the tree mask (PagedAttentionArgs::tree_begin / tree_mask), the reference the parents.
  std::vector<int32_t> parents = {};
};
using test::random_tree;

struct AttnCase {
  DType dtype;
  int head_dim, num_heads, num_kv_heads, block_size, window;
  std::vector<SeqSpec> seqs;
  int force_splits = 0;  // 0: the heuristic
  int tile_tokens = 0;   // 0: attention_tile_tokens(gqa, head_dim, dtype) of the current impl
  bool release = false;  // -1 for the blocks wholly before the first token's window (needs window > 0)
  float q_range = 2.0f;  // q uniform in [-q_range, q_range] (large: sharp softmax)
  bool count_small = true;  // PagedAttentionArgs::num_small_tiles counted (else -1: not counted)
  // FP8 cache: random e4m3 codes (every code but the two NaNs, so subnormals, +-0 and +-448 occur),
  // read as code * k_scale / v_scale by the kernels and by the reference.
  bool fp8 = false;
  float k_scale = 1.0f / 448.0f * 1.37f, v_scale = 0.0113f;
  // Padding tiles (num_tokens 0) appended, one padding token each, as CUDA-graph buckets pad a decode
  // step: with splits their rows must come out 0 (the workspace is filled with 1.0f, so a split pair
  // left unmarked would give them weight), the real rows as without them.
  int pad_tiles = 0;
};

// The implementation run_case passes in PagedAttentionArgs::impl (and tiles for).
kernels::AttentionImpl& current_impl() {
  static kernels::AttentionImpl impl = kernels::AttentionImpl::Wgmma;
  return impl;
}
// Selects the implementation run_case uses for a scope and restores the previous one.
struct ImplScope {
  kernels::AttentionImpl saved = current_impl();
  explicit ImplScope(kernels::AttentionImpl i) { current_impl() = i; }
  ~ImplScope() { current_impl() = saved; }
};

const char* impl_name(kernels::AttentionImpl i) { return kernels::attention_impl_name(i); }
// (Wgmma is Mma on a device other than compute capability 9.0.)
constexpr kernels::AttentionImpl kImpls[] = {kernels::AttentionImpl::Simple, kernels::AttentionImpl::Mma,
                                             kernels::AttentionImpl::Wgmma};

std::string describe(const AttnCase& c) {
  std::string s = impl_name(current_impl());
  auto add = [&](const char* key, int value) {
    s += key;
    s += std::to_string(value);
  };
  s += " ";
  s += test::dname(c.dtype);
  if (c.fp8) s += " kv-e4m3";
  add(" hd", c.head_dim);
  add(" h", c.num_heads);
  add("/", c.num_kv_heads);
  add(" bs", c.block_size);
  add(" win", c.window);
  add(" splits", c.force_splits);
  add(" tile", c.tile_tokens);
  if (c.pad_tiles > 0) add(" pad", c.pad_tiles);
  if (c.release) s += " released";
  add(" q", int(c.q_range));
  s += " seqs";
  for (auto& q : c.seqs) {
    add(" ", q.num_cached);
    add("+", q.num_tokens);
    if (!q.parents.empty()) s += "(tree)";
  }
  return s;
}

// Decodes at the given contexts (keys = ctx, the new tokens included).
std::vector<SeqSpec> decodes(std::initializer_list<int> contexts, int tokens = 1) {
  std::vector<SeqSpec> v;
  for (int ctx : contexts) v.push_back({std::max(0, ctx - tokens), tokens});  // keys = ctx
  return v;
}

// n random e4m3 codes (raw: one byte each; f: code value * scale, what the kernels must read).
test::HostTensor random_e4m3(std::mt19937_64& rng, size_t n, float scale) {
  test::HostTensor h;
  h.dtype = DType::F8_E4M3;
  h.raw.resize(n);
  h.f.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t b;
    do b = uint8_t(rng() & 0xff);
    while ((b & 0x7f) == 0x7f);  // not NaN
    h.raw[i] = b;
    h.f[i] = e4m3_to_f32(b) * scale;
  }
  return h;
}

void run_case(const AttnCase& c, std::mt19937_64& rng) {
  const int D = c.head_dim, KVH = c.num_kv_heads, bs = c.block_size;
  int total_blocks = 0, T = 0;
  for (auto& s : c.seqs) {
    total_blocks += (s.num_cached + s.num_tokens + bs - 1) / bs;
    T += s.num_tokens;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const size_t cache_n = size_t(num_blocks) * bs * KVH * D;
  test::HostTensor kc = c.fp8 ? random_e4m3(rng, cache_n, c.k_scale) : test::random_tensor(rng, c.dtype, cache_n, -1, 1);
  test::HostTensor vc = c.fp8 ? random_e4m3(rng, cache_n, c.v_scale) : test::random_tensor(rng, c.dtype, cache_n, -1, 1);
  const int T_real = T;
  T += c.pad_tiles;  // one padding token per padding tile, after the real tokens
  test::HostTensor q = test::random_tensor(rng, c.dtype, size_t(T) * c.num_heads * D, -c.q_range, c.q_range);

  // block tables (row per seq), positions, tiles
  int W = 1;
  for (auto& s : c.seqs) W = std::max(W, (s.num_cached + s.num_tokens + bs - 1) / bs);
  std::vector<int32_t> bt(c.seqs.size() * W, -1), positions(T);
  std::vector<kernels::AttentionTile> tiles;
  std::vector<cpu::AttnSeq> ref_seqs;
  const DType kv_dtype = c.fp8 ? DType::F8_E4M3 : c.dtype;
  const int tq = c.tile_tokens > 0 ? c.tile_tokens
                                   : kernels::attention_tile_tokens(current_impl(), c.num_heads / KVH, D, c.dtype, kv_dtype);
  int next = 0, tok = 0, max_keys = 1;
  for (size_t i = 0; i < c.seqs.size(); ++i) {
    const SeqSpec& s = c.seqs[i];
    const int nblk = (s.num_cached + s.num_tokens + bs - 1) / bs;
    const int first_key = c.window > 0 ? std::max(0, s.num_cached - c.window + 1) : 0;
    for (int b = 0; b < nblk; ++b) {
      bt[i * W + b] = perm[next++];
      if (c.release && (b + 1) * bs <= first_key) bt[i * W + b] = -1;  // as the block manager frees them
    }
    for (int t = 0; t < s.num_tokens; ++t) positions[tok + t] = s.num_cached + t;
    for (int t0 = 0; t0 < s.num_tokens; t0 += tq) {
      tiles.push_back({int32_t(i), tok + t0, std::min(tq, s.num_tokens - t0), 0});
      max_keys = std::max(max_keys, s.num_cached + std::min(s.num_tokens, t0 + tq));
    }
    ref_seqs.push_back({tok, s.num_tokens, s.num_cached, &bt[i * W], W, s.parents.empty() ? nullptr : s.parents.data()});
    tok += s.num_tokens;
  }
  for (int i = 0; i < c.pad_tiles; ++i) {  // as CudaModel pads a graph bucket: position 0, no keys read
    positions[size_t(T_real + i)] = 0;
    tiles.push_back({0, T_real + i, 0, 0});
  }
  // tree masks: bit j of token t's row = node j is t or an ancestor of t
  int tree_words = 0;
  for (auto& s : c.seqs)
    if (!s.parents.empty()) tree_words = std::max(tree_words, (s.num_tokens + 31) / 32);
  std::vector<int32_t> tree_begin;
  std::vector<uint32_t> tree_mask;
  if (tree_words > 0) {
    tree_begin.assign(size_t(T), INT32_MAX);
    tree_mask.assign(size_t(T) * tree_words, 0u);
    int t0 = 0;
    for (auto& s : c.seqs) {
      for (int t = 0; !s.parents.empty() && t < s.num_tokens; ++t) {
        tree_begin[size_t(t0 + t)] = s.num_cached;
        for (int n = t; n >= 0; n = s.parents[size_t(n)]) tree_mask[size_t(t0 + t) * tree_words + n / 32] |= 1u << (n % 32);
      }
      t0 += s.num_tokens;
    }
  }
  // reference
  cpu::PagedCacheShape shape{num_blocks, bs, KVH, D};
  cpu::AttnParams params{c.num_heads, c.window, 1.0f / std::sqrt(float(D))};
  std::vector<float> want(size_t(T) * c.num_heads * D);
  cpu::paged_attention(want.data(), q.f.data(), kc.f.data(), vc.f.data(), shape, ref_seqs.data(), int(ref_seqs.size()),
                       params);
  // GPU
  auto dq = test::to_device(q), dk = test::to_device(kc), dv = test::to_device(vc), dbt = test::to_device(bt),
       dpos = test::to_device(positions), dtiles = test::to_device(tiles);
  cuda::DeviceBuffer dtb, dtm;
  if (tree_words > 0) {
    dtb = test::to_device(tree_begin);
    dtm = test::to_device(tree_mask);
  }
  cuda::DeviceBuffer out(want.size() * dtype_size(c.dtype), "attention out");
  test::poison(out);
  const int splits = c.force_splits > 0 ? c.force_splits
                                        : kernels::attention_num_splits(int(tiles.size()), KVH, max_keys, 132);
  const size_t wsf = kernels::attention_workspace_floats(T, c.num_heads, D, splits);
  cuda::DeviceBuffer ws(std::max<size_t>(wsf, 1) * 4, "workspace");
  {  // finite stale values (NaN pairs would merge to weight 0 anyway)
    const std::vector<float> ones(std::max<size_t>(wsf, 1), 1.0f);
    IGNIS_CUDA_CHECK(cudaMemcpy(ws.get(), ones.data(), ones.size() * 4, cudaMemcpyHostToDevice));
  }
  kernels::PagedAttentionArgs a;
  a.dtype = c.dtype;
  a.impl = current_impl();
  a.kv_dtype = kv_dtype;
  if (c.fp8) {
    a.k_scale = c.k_scale;
    a.v_scale = c.v_scale;
  }
  a.q = dq.get();
  a.q_stride = c.num_heads * D;
  a.k_cache = dk.get();
  a.v_cache = dv.get();
  a.block_tables = dbt.as<int32_t>();
  a.bt_stride = W;
  a.positions = dpos.as<int32_t>();
  a.tiles = dtiles.as<kernels::AttentionTile>();
  a.num_tiles = int(tiles.size());
  a.num_tokens = T;
  a.num_heads = c.num_heads;
  a.num_kv_heads = KVH;
  a.head_dim = D;
  a.block_size = bs;
  a.sliding_window = c.window;
  if (tree_words > 0) {
    a.tree_begin = dtb.as<int32_t>();
    a.tree_mask = dtm.as<uint32_t>();
    a.tree_words = tree_words;
  }
  a.scale = params.scale;
  a.num_splits = splits;
  if (c.count_small) {  // as the engine counts them (0 for a launch of prefill tiles only)
    const int G = c.num_heads / KVH;
    a.num_small_tiles = int(std::count_if(tiles.begin(), tiles.end(),
                                          [&](const kernels::AttentionTile& t) { return kernels::attention_decode_tile(t, G); }));
  }
  a.workspace = ws.as<float>();
  a.out = out.get();
  a.out_stride = c.num_heads * D;
  kernels::paged_attention(a, nullptr);
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> got = test::from_device(out, c.dtype, want.size());
  const size_t real = size_t(T_real) * c.num_heads * D;
  if (c.pad_tiles > 0 && splits > 1) {
    for (size_t i = real; i < got.size(); ++i) {
      ASSERT_EQ(got[i], 0.0f) << "padding row value " << i - real << ": attention " << describe(c);
    }
  }
  got.resize(real);
  want.resize(real);
  test::rel_error(got, want, "attention " + describe(c), test::tolerance(c.dtype));
}

}  // namespace
}  // namespace ignis
