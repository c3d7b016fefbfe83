// FP8 (e4m3) KV cache: every attention kernel (simple, mma decode with and without splits, mma prefill,
// wgmma prefill, mixed launches) reading random e4m3 codes with per-layer scales, against the CPU
// reference over the same codes decoded (code * scale) in fp32, with the compute dtype's tolerance;
// and rope_qkv_write_kv writing e4m3 codes against the host's e4m3 of the host RoPE.
#include <cstdio>
#include <cstring>

#include "attention_test_util.h"
#include "kernels/rope_kv.h"
#include "model/cpu/rope.h"

namespace ignis {
namespace {

AttnCase fp8_case(AttnCase c) {
  c.fp8 = true;
  return c;
}

void run_all(const std::vector<AttnCase>& cases, std::mt19937_64& rng, bool with_simple = true) {
  for (auto impl : kImpls) {
    if (!with_simple && impl == kernels::AttentionImpl::Simple) continue;
    ImplScope scope(impl);
    for (auto& c : cases) run_case(fp8_case(c), rng);
  }
}

// Prefill from scratch, chunked prefill, decodes at block boundaries, odd decode batches; GQA 1/4/8,
// head_dim 64/128, block sizes 16/32.
TEST(GpuAttentionFp8, PrefillDecodeMixedShapes) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(111);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8}) {
        const int kvh = gqa == 1 ? 4 : 2;
        cases.push_back({t, hd, kvh * gqa, kvh, 16, 0, {{0, 37}, {31, 1}, {32, 1}, {15, 17}, {100, 5}}});
        cases.push_back({t, hd, kvh * gqa, kvh, 32, 0, {{0, 1}, {63, 1}, {64, 1}, {200, 1}, {1, 1}, {511, 1}, {95, 1}}});
      }
  run_all(cases, rng);
}

// Decode tiles (the mma decode kernel: split keys across warps), with and without splits, long contexts,
// a few tokens per tile, sliding windows with released blocks, and decode tiles inside prefill launches.
TEST(GpuAttentionFp8, DecodeTiles) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(112);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8, 16})
        for (int splits : {1, 0}) {
          const int kvh = gqa == 16 ? 1 : 2, bs = gqa % 8 == 0 ? 32 : 16;
          cases.push_back({t, hd, kvh * gqa, kvh, bs, 0, decodes({1, 15, 16, 17, 63, 64, 65, 1000}), splits});
        }
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, decodes({8192, 4097, 2}), 1});
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, decodes({8192, 4097, 2})});
  cases.push_back({DType::F16, 64, 16, 1, 32, 0, decodes({8192, 333}), 5});
  for (int hd : {64, 128}) {
    cases.push_back({DType::BF16, hd, 8, 2, 16, 0, {{50, 2}, {61, 3}, {200, 4}, {0, 4}, {997, 2}, {15, 1}}});
    cases.push_back({DType::F16, hd, 4, 4, 16, 0, {{0, 16}, {30, 9}, {100, 1}}, 3});
    for (int splits : {1, 3}) {
      cases.push_back({DType::BF16, hd, 32, 8, 16, 50, decodes({300, 97, 64, 1000, 17, 51}), splits, 0, true});
      cases.push_back({DType::F16, hd, 16, 2, 32, 33, decodes({500, 130, 33, 34, 1}), splits});
      cases.push_back({DType::BF16, hd, 16, 4, 16, 40, decodes({300, 97, 1000}, 3), splits, 0, true});
    }
    // mixed: the main kernel (or wgmma) with decode tiles beside a prefill, and the decode kernel with
    // a tile of several 16-row passes
    for (int splits : {1, 4}) {
      cases.push_back({DType::BF16, hd, 32, 8, 16, 0, {{100, 1}, {0, 64}, {31, 1}, {500, 2}, {1000, 1}}, splits});
      cases.push_back({DType::F16, hd, 16, 2, 32, 20, {{100, 1}, {0, 64}, {65, 1}}, splits, 0, true});
    }
    std::vector<SeqSpec> a = decodes({5, 17, 64, 65, 200, 300, 301, 999, 1000, 1001, 2, 1});
    a.push_back({0, 20});
    cases.push_back({DType::BF16, hd, 16, 4, 16, 0, a, 0});
  }
  run_all(cases, rng);
}

// Tree masks on an FP8 cache: decode tiles, the main kernel and wgmma, one to four mask words.
TEST(GpuAttentionFp8, TreeMasks) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(113);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int splits : {1, 0}) {
        cases.push_back({t, hd, 32, 8, 16, 0,
                         {{500, 3, random_tree(rng, 3, 2)}, {37, 9, random_tree(rng, 9, 9)}, {100, 1},
                          {1500, 40, random_tree(rng, 40, 40)}, {64, 30}},
                         splits});
        cases.push_back({t, hd, 16, 4, 32, 0, {{300, 112, random_tree(rng, 112, 20)}, {7, 1}}, splits});
      }
  run_all(cases, rng);
}

// Long and chunked prefills (many chunks per tile: the mma kernel's staging tiles and the wgmma ring of
// in-place conversions wrap many times), with decode tiles in the same launch, partly empty 128-row
// passes (G = 7), splits over prefill tiles, a sliding window, large scores.
TEST(GpuAttentionFp8, LongPrefills) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(113);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16}) {
    cases.push_back({t, 128, 32, 8, 32, 0, {{0, 1024}}});
    cases.push_back({t, 128, 32, 8, 16, 0, {{300, 700}, {2000, 1}, {0, 1}, {64, 1}}});
    cases.push_back({t, 128, 28, 4, 16, 0, {{0, 500}, {777, 91}, {129, 1}}});
    cases.push_back({t, 128, 32, 1, 32, 0, {{0, 200}, {1000, 37}}});
    cases.push_back({t, 128, 8, 8, 16, 0, {{0, 600}}, 3});
    cases.push_back({t, 128, 32, 8, 16, 256, {{0, 900}, {1500, 200}, {3000, 1}}});
    cases.push_back({t, 128, 32, 8, 16, 0, {{0, 1100}, {5, 300}}, 0, 0, false, 30.0f});
    cases.push_back({t, 128, 32, 8, 16, 0, {{300, 700}, {2000, 1}, {0, 1}}, 0, 0, false, 2.0f, false});
    cases.push_back({t, 64, 16, 4, 16, 0, {{0, 700}, {100, 300}}, 0});
    cases.push_back({t, 64, 8, 1, 32, 48, {{0, 400}, {1000, 1}}, 2});
  }
  run_all(cases, rng, false);  // (simple: slow; covered above)
}

// The wgmma kernel's persistent blocks with a grid of 2: every block runs many items and passes, so the
// producer's pending (copied, not yet converted) chunk crosses passes and items, and the ring and Q
// barriers' phases wrap. Hopper only.
TEST(GpuAttentionFp8, WgmmaFewPersistentBlocks) {
  IGNIS_SKIP_WITHOUT_GPU();
  if (!kernels::attention_wgmma_active(kernels::AttentionImpl::Wgmma, 4, 128, DType::BF16, DType::F8_E4M3))
    GTEST_SKIP() << "no compute-capability 9.0 device";
  ImplScope scope(kernels::AttentionImpl::Wgmma);
  struct Cap {
    Cap() { kernels::set_attention_wgmma_max_blocks(2); }
    ~Cap() { kernels::set_attention_wgmma_max_blocks(0); }
  } cap;
  std::mt19937_64 rng(114);
  run_case(fp8_case({DType::BF16, 128, 16, 2, 16, 0, {{0, 130}, {70, 33}, {5, 1}}, 0, 100}), rng);
  run_case(fp8_case({DType::F16, 128, 32, 8, 16, 0, {{0, 300}, {400, 1}, {90, 70}}}), rng);
  run_case(fp8_case({DType::BF16, 128, 32, 8, 16, 0, {{0, 70}, {1, 2}}, 20, 0, false, 40.0f}), rng);  // empty splits
  run_case(fp8_case({DType::BF16, 128, 28, 4, 32, 64, {{0, 257}, {500, 40}, {33, 1}}, 3}), rng);
  run_case(fp8_case({DType::BF16, 128, 8, 8, 16, 0, {{0, 600}}, 0, 100, false, 30.0f}), rng);
  run_case(fp8_case({DType::F16, 128, 32, 8, 16, 0, {{0, 129}, {0, 1}, {0, 257}}}), rng);  // 1-3 chunks per pass
}

// Released (-1) blocks before the window; large scores and splits with every key masked; scales far
// from 1 (codes near the top of the range stand for small values and the reverse).
TEST(GpuAttentionFp8, ReleasedBlocksScoresAndScales) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(115);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128}) {
      cases.push_back({t, hd, 32, 8, 16, 50, {{300, 1}, {200, 40}, {97, 1}, {64, 64}}, 0, 0, true});
      cases.push_back({t, hd, 8, 8, 16, 33, {{500, 1}, {129, 20}}, 4, 0, true});
      cases.push_back({t, hd, 32, 8, 16, 0, {{0, 70}, {1, 2}}, 20, 0, false, 40.0f});
      cases.push_back({t, hd, 16, 4, 16, 25, decodes({40, 100, 1000}, 2), 32, 0, true, 40.0f});
    }
  AttnCase big{DType::BF16, 128, 32, 8, 16, 0, {{0, 300}, {1000, 1}, {50, 2}}};
  big.k_scale = 3.0f;     // keys up to +-1344: a sharp softmax
  big.v_scale = 1.0e-3f;  // small values
  cases.push_back(big);
  AttnCase small = big;
  small.dtype = DType::F16;
  small.k_scale = 1.0f / 4096.0f;
  small.v_scale = 25.0f;
  cases.push_back(small);
  run_all(cases, rng);
}

// Host-only: the argument checks of an FP8 cache (no device needed: they throw before any launch).
TEST(GpuAttentionFp8, BadArguments) {
  kernels::PagedAttentionArgs a;
  kernels::AttentionTile tile{0, 0, 1, 0};
  a.tiles = &tile;
  a.num_tiles = 1;
  a.num_tokens = 1;
  a.num_heads = 4;
  a.num_kv_heads = 1;
  a.head_dim = 128;
  a.block_size = 16;
  a.scale = 0.1f;
  a.kv_dtype = DType::F8_E4M3;
  for (float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    a.dtype = DType::BF16;
    a.k_scale = bad;
    a.v_scale = 1.0f;
    EXPECT_THROW(kernels::paged_attention(a, nullptr), Error) << "k_scale " << bad;
    a.k_scale = 1.0f;
    a.v_scale = bad;
    EXPECT_THROW(kernels::paged_attention(a, nullptr), Error) << "v_scale " << bad;
  }
  a.v_scale = 1.0f;
  a.dtype = DType::F32;  // FP8 needs 16-bit activations
  EXPECT_THROW(kernels::paged_attention(a, nullptr), Error);

  kernels::RopeKvArgs r;
  r.n = 1;
  r.num_heads = 4;
  r.num_kv_heads = 1;
  r.head_dim = 128;
  r.kv_dtype = DType::F8_E4M3;
  r.dtype = DType::BF16;
  r.k_scale = 0.0f;
  EXPECT_THROW(kernels::rope_qkv_write_kv(r, nullptr), Error);
  r.k_scale = 1.0f;
  r.v_scale = NAN;
  EXPECT_THROW(kernels::rope_qkv_write_kv(r, nullptr), Error);
  r.v_scale = 1.0f;
  r.dtype = DType::F32;
  EXPECT_THROW(kernels::rope_qkv_write_kv(r, nullptr), Error);
}

// Distance of two e4m3 codes in representable steps (the codes in value order; +0 and -0 equal).
int e4m3_steps(uint8_t a, uint8_t b) {
  auto ord = [](uint8_t c) { return (c & 0x80) ? -int(c & 0x7f) : int(c & 0x7f); };
  return std::abs(ord(a) - ord(b));
}

// rope_qkv_write_kv with an FP8 cache: q as with a 16-bit cache; K codes = host e4m3(k_rope / k_scale)
// (exact but for the host's and the device's sin/cos: at most 0.1% of the codes one step off), V codes
// = host e4m3((v + bias) / v_scale) exactly; tokens with slot -1 write nothing (the poison stays).
// head_dim 128 and 64 take the vectorized kernel, 40 the per-element one.
TEST(GpuAttentionFp8, RopeWritesE4m3) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(116);
  RopeScaling llama3;
  llama3.type = RopeScaling::Type::Llama3;
  llama3.factor = 8;
  llama3.original_max_position_embeddings = 8192;
  struct Case {
    int hd, nh, nkv;
    bool bias;
    float k_scale, v_scale;
  };
  const Case cases[] = {{128, 32, 8, false, 0.0123f, 0.0071f}, {64, 8, 8, true, 1.0f / 448.0f, 0.5f},
                        {40, 4, 2, true, 0.003f, 0.0029f}};
  size_t off_by_one = 0, total = 0;
  for (DType t : {DType::BF16, DType::F16})
    for (const Case& c : cases) {
      const int n = 37, bs = 16, nblocks = 8, Q = c.nh * c.hd, KV = c.nkv * c.hd, W = Q + 2 * KV;
      test::HostTensor qkv = test::random_tensor(rng, t, size_t(n) * W, -2, 2);
      test::HostTensor bias = test::random_tensor(rng, t, W, -0.5f, 0.5f);
      std::vector<int32_t> pos(n), slot(n);
      std::vector<int32_t> perm(nblocks * bs);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int i = 0; i < n; ++i) {
        pos[i] = int32_t(rng() % 30000);
        slot[i] = i % 7 == 3 ? -1 : perm[i];
      }
      std::vector<float> inv = cpu::rope_inv_freq(c.hd, 500000.0f, c.hd == 128 ? llama3 : RopeScaling{});
      auto dqkv = test::to_device(qkv), db = test::to_device(bias), dpos = test::to_device(pos),
           dslot = test::to_device(slot), dinv = test::to_device(inv);
      const size_t cache_n = size_t(nblocks) * bs * KV;
      cuda::DeviceBuffer kc(cache_n, "k codes"), vc(cache_n, "v codes");
      IGNIS_CUDA_CHECK(cudaMemset(kc.get(), 0x7f, kc.bytes()));  // poison: the NaN code
      IGNIS_CUDA_CHECK(cudaMemset(vc.get(), 0x7f, vc.bytes()));
      kernels::RopeKvArgs a;
      a.dtype = t;
      a.kv_dtype = DType::F8_E4M3;
      a.k_scale = c.k_scale;
      a.v_scale = c.v_scale;
      a.qkv = dqkv.get();
      a.bias = c.bias ? db.get() : nullptr;
      a.positions = dpos.as<int32_t>();
      a.slot_mapping = dslot.as<int32_t>();
      a.inv_freq = dinv.as<float>();
      a.k_cache = kc.get();
      a.v_cache = vc.get();
      a.n = n;
      a.num_heads = c.nh;
      a.num_kv_heads = c.nkv;
      a.head_dim = c.hd;
      kernels::rope_qkv_write_kv(a, nullptr);
      // reference: the projection output with bias is a tensor of dtype t before RoPE (as the kernel)
      std::vector<float> x = qkv.f;
      if (c.bias)
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < Q + KV; ++j)
            x[size_t(i) * W + j] = test::make_tensor(t, {x[size_t(i) * W + j] + bias.f[j]}).f[0];
      std::vector<float> q(size_t(n) * Q), k(size_t(n) * KV);
      for (int i = 0; i < n; ++i) {
        std::copy_n(&x[size_t(i) * W], Q, &q[size_t(i) * Q]);
        std::copy_n(&x[size_t(i) * W + Q], KV, &k[size_t(i) * KV]);
      }
      cpu::rope_apply(q.data(), pos.data(), n, c.nh, c.hd, inv.data());
      cpu::rope_apply(k.data(), pos.data(), n, c.nkv, c.hd, inv.data());
      const std::string what = std::string(test::dname(t)) + " hd " + std::to_string(c.hd);
      std::vector<float> got_qkv = test::from_device(dqkv, t, qkv.n());
      std::vector<float> got_q(size_t(n) * Q);
      for (int i = 0; i < n; ++i) std::copy_n(&got_qkv[size_t(i) * W], Q, &got_q[size_t(i) * Q]);
      test::rel_error(got_q, q, "rope q (fp8 cache) " + what, test::tolerance(t));

      std::vector<uint8_t> gk(cache_n), gv(cache_n);
      IGNIS_CUDA_CHECK(cudaMemcpy(gk.data(), kc.get(), cache_n, cudaMemcpyDeviceToHost));
      IGNIS_CUDA_CHECK(cudaMemcpy(gv.data(), vc.get(), cache_n, cudaMemcpyDeviceToHost));
      std::vector<bool> written(size_t(nblocks) * bs, false);
      int shown = 0;
      const float kinv = 1.0f / c.k_scale, vinv = 1.0f / c.v_scale;
      for (int i = 0; i < n; ++i) {
        if (slot[i] < 0) continue;
        written[slot[i]] = true;
        for (int j = 0; j < KV; ++j) {
          const size_t at = size_t(slot[i]) * KV + j;
          const uint8_t wk = f32_to_e4m3(k[size_t(i) * KV + j] * kinv);
          // V: (v + bias) in fp32, not rounded to t (as the 16-bit path before its store)
          const float v = qkv.f[size_t(i) * W + Q + KV + j] + (c.bias ? bias.f[Q + KV + j] : 0.0f);
          const uint8_t wv = f32_to_e4m3(v * vinv);
          const int dk = e4m3_steps(gk[at], wk);
          ++total;
          if (dk == 1) ++off_by_one;
          if ((dk > 1 || gv[at] != wv) && shown++ < 8)
            std::fprintf(stderr, "  rope fp8 %s token %d col %d: k code %02x want %02x, v code %02x want %02x\n",
                         what.c_str(), i, j, gk[at], wk, gv[at], wv);
          EXPECT_LE(dk, 1) << what << " token " << i << " k col " << j;
          EXPECT_EQ(gv[at], wv) << what << " token " << i << " v col " << j;
        }
      }
      for (int s = 0; s < nblocks * bs; ++s) {
        if (written[s]) continue;
        for (int j = 0; j < KV; ++j) {
          ASSERT_EQ(gk[size_t(s) * KV + j], 0x7f) << what << ": slot " << s << " was written";
          ASSERT_EQ(gv[size_t(s) * KV + j], 0x7f) << what << ": slot " << s << " was written";
        }
      }
    }
  EXPECT_LE(double(off_by_one), 1e-3 * double(total)) << off_by_one << " of " << total << " K codes one step off";
}

}  // namespace
}  // namespace ignis
