// Paged attention (prefill chunks + decode, GQA, sliding window, splits) against the CPU
// reference cpu::paged_attention on fresh random caches and queries.
#include <algorithm>
#include <numeric>

#include "gpu_test_util.h"
#include "kernels/attention.h"
#include "model/cpu/paged_attention.h"

namespace ignis {
namespace {

struct SeqSpec {
  int num_cached, num_tokens;
};

struct AttnCase {
  DType dtype;
  int head_dim, num_heads, num_kv_heads, block_size, window;
  std::vector<SeqSpec> seqs;
  int force_splits = 0;  // 0: the heuristic
};

std::string describe(const AttnCase& c) {
  std::string s = std::string(test::dname(c.dtype)) + " hd" + std::to_string(c.head_dim) + " h" +
                  std::to_string(c.num_heads) + "/" + std::to_string(c.num_kv_heads) + " bs" +
                  std::to_string(c.block_size) + " win" + std::to_string(c.window) + " splits" +
                  std::to_string(c.force_splits) + " seqs";
  for (auto& q : c.seqs) s += " " + std::to_string(q.num_cached) + "+" + std::to_string(q.num_tokens);
  return s;
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
  test::HostTensor kc = test::random_tensor(rng, c.dtype, cache_n, -1, 1);
  test::HostTensor vc = test::random_tensor(rng, c.dtype, cache_n, -1, 1);
  test::HostTensor q = test::random_tensor(rng, c.dtype, size_t(T) * c.num_heads * D, -2, 2);

  // block tables (row per seq), positions, tiles
  int W = 1;
  for (auto& s : c.seqs) W = std::max(W, (s.num_cached + s.num_tokens + bs - 1) / bs);
  std::vector<int32_t> bt(c.seqs.size() * W, -1), positions(T);
  std::vector<kernels::AttentionTile> tiles;
  std::vector<cpu::AttnSeq> ref_seqs;
  const int tq = kernels::attention_tile_tokens(c.num_heads / KVH);
  int next = 0, tok = 0, max_keys = 1;
  for (size_t i = 0; i < c.seqs.size(); ++i) {
    const SeqSpec& s = c.seqs[i];
    const int nblk = (s.num_cached + s.num_tokens + bs - 1) / bs;
    for (int b = 0; b < nblk; ++b) bt[i * W + b] = perm[next++];
    for (int t = 0; t < s.num_tokens; ++t) positions[tok + t] = s.num_cached + t;
    for (int t0 = 0; t0 < s.num_tokens; t0 += tq) {
      tiles.push_back({int32_t(i), tok + t0, std::min(tq, s.num_tokens - t0), 0});
      max_keys = std::max(max_keys, s.num_cached + std::min(s.num_tokens, t0 + tq));
    }
    ref_seqs.push_back({tok, s.num_tokens, s.num_cached, &bt[i * W], W});
    tok += s.num_tokens;
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
  cuda::DeviceBuffer out(want.size() * dtype_size(c.dtype), "attention out");
  test::poison(out);
  const int splits = c.force_splits > 0 ? c.force_splits
                                        : kernels::attention_num_splits(int(tiles.size()), KVH, max_keys, 132);
  const size_t wsf = kernels::attention_workspace_floats(T, c.num_heads, D, splits);
  cuda::DeviceBuffer ws(std::max<size_t>(wsf, 1) * 4, "workspace");
  kernels::PagedAttentionArgs a;
  a.dtype = c.dtype;
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
  a.scale = params.scale;
  a.num_splits = splits;
  a.workspace = ws.as<float>();
  a.out = out.get();
  a.out_stride = c.num_heads * D;
  kernels::paged_attention(a, nullptr);
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  test::rel_error(test::from_device(out, c.dtype, want.size()), want, "attention " + describe(c),
                  test::tolerance(c.dtype));
}

TEST(GpuAttention, PrefillDecodeMixedShapes) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(11);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8}) {
        const int kvh = gqa == 1 ? 4 : 2;
        // mixed: prefill from scratch, chunked prefill continuing a cache, decodes at block boundaries
        cases.push_back({t, hd, kvh * gqa, kvh, 16, 0, {{0, 37}, {31, 1}, {32, 1}, {15, 17}, {100, 5}}});
        // odd batch of decodes
        cases.push_back({t, hd, kvh * gqa, kvh, 32, 0, {{0, 1}, {63, 1}, {64, 1}, {200, 1}, {1, 1}, {511, 1}, {95, 1}}});
      }
  for (auto& c : cases) run_case(c, rng);
}

TEST(GpuAttention, LongContextsAndSplits) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(12);
  std::vector<AttnCase> cases;
  for (int ctx : {1, 2, 255, 256, 257, 1000, 4095, 8191})  // decode at position ctx - 1
    cases.push_back({DType::BF16, 128, 32, 8, 32, 0, {{ctx - 1, 1}}});
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, {{8191, 1}, {4000, 1}, {17, 1}}, 7});
  cases.push_back({DType::F16, 64, 8, 1, 16, 0, {{3000, 1}, {500, 3}}, 3});
  cases.push_back({DType::F32, 128, 8, 8, 32, 0, {{0, 300}}, 4});  // prefill split
  for (auto& c : cases) run_case(c, rng);
}

TEST(GpuAttention, SlidingWindow) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(13);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F32}) {
    cases.push_back({t, 64, 8, 2, 16, 8, {{0, 40}, {60, 1}, {33, 9}}});
    cases.push_back({t, 128, 32, 8, 16, 100, {{1000, 1}, {0, 150}, {250, 30}}});
    cases.push_back({t, 128, 32, 8, 16, 100, {{1000, 1}, {260, 1}}, 5});
  }
  for (auto& c : cases) run_case(c, rng);
}

TEST(GpuAttention, TinyHeadDims) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(14);
  for (int hd : {16, 32, 80, 256})
    run_case({DType::F32, hd, 4, 2, 8, 0, {{0, 20}, {19, 1}, {7, 4}}}, rng);
}

}  // namespace
}  // namespace ignis
