// Paged attention (prefill chunks + decode, GQA, sliding window, splits, released blocks)
// against the CPU reference cpu::paged_attention on fresh random caches and queries, for both
// implementations (simple SIMT and tensor-core mma; mma falls back to simple for F32 and odd
// head dims) and for tilings other than the implementation's own.
#include "attention_test_util.h"

namespace ignis {
namespace {

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
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
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
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
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
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
}

TEST(GpuAttention, TinyHeadDims) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(14);
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (int hd : {16, 32, 80, 256})
      for (DType t : {DType::F32, DType::BF16})  // mma: unsupported head dims fall back to simple
        run_case({t, hd, 4, 2, 8, 0, {{0, 20}, {19, 1}, {7, 4}}}, rng);
    // head_dim not a multiple of 4 (3 splits forced): the combine's scalar paths, with few rows (a block
    // per row) and with >= 1024 rows (a warp per row)
    for (DType t : {DType::F32, DType::BF16}) {
      run_case({t, 6, 4, 2, 8, 0, {{0, 20}, {40, 1}}, 3}, rng);
      run_case({t, 6, 4, 2, 8, 0, {{0, 300}, {40, 1}}, 3}, rng);
    }
  }
}

// Either kernel must be right with any tiling: the simple one with the mma tiles (64 rows),
// the mma one with the simple tiles (32 rows), both with tiles of several passes.
TEST(GpuAttention, AnyTiling) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(15);
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (int gqa : {1, 4, 8})
      for (int tt : {1, 3, 32 / gqa, 64 / gqa, 100}) {
        const int kvh = gqa == 1 ? 4 : 2;
        run_case({DType::BF16, 128, kvh * gqa, kvh, 16, 0, {{0, 130}, {70, 33}, {5, 1}}, 0, tt}, rng);
        run_case({DType::F16, 64, kvh * gqa, kvh, 32, 40, {{0, 130}, {70, 33}}, 3, tt}, rng);
      }
  }
}

// Long prefills and chunked prefills (many 128-key chunks per tile: the wgmma kernel's 3-stage ring
// wraps several times), mixed with decode tiles in the same launch (the wgmma kernel takes the
// prefill tiles, the decode kernel the rest), GQA ratios that leave a 128-row pass partly empty
// (7: 126 rows; 32: 4 tokens), splits over long prefill tiles, a sliding window.
TEST(GpuAttention, LongPrefills) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(20);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16}) {
    cases.push_back({t, 128, 32, 8, 32, 0, {{0, 1024}}});
    cases.push_back({t, 128, 32, 8, 16, 0, {{300, 700}, {2000, 1}, {0, 1}, {64, 1}}});
    cases.push_back({t, 128, 28, 4, 16, 0, {{0, 500}, {777, 91}, {129, 1}}});
    cases.push_back({t, 128, 32, 1, 32, 0, {{0, 200}, {1000, 37}}});
    cases.push_back({t, 128, 8, 8, 16, 0, {{0, 600}}, 3});
    cases.push_back({t, 128, 32, 8, 16, 256, {{0, 900}, {1500, 200}, {3000, 1}}});
    cases.push_back({t, 128, 32, 8, 16, 0, {{0, 1100}, {5, 300}}, 0, 0, false, 30.0f});
    // num_small_tiles not counted (-1): the decode kernel always follows the prefill one
    cases.push_back({t, 128, 32, 8, 16, 0, {{300, 700}, {2000, 1}, {0, 1}}, 0, 0, false, 2.0f, false});
    cases.push_back({t, 128, 32, 8, 32, 0, {{0, 512}}, 0, 0, false, 2.0f, false});
  }
  for (auto impl : kImpls) {
    if (impl == kernels::AttentionImpl::Simple) continue;  // (slow; covered by the shorter cases)
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
}

// The wgmma kernel's persistent blocks with a grid of 2: every block runs many items (tiles x kv heads
// x splits), multi-pass tiles, items without keys (empty splits), skipped decode tiles, so the ring
// and Q barriers' phases wrap across items and passes. Hopper only.
TEST(GpuAttention, WgmmaFewPersistentBlocks) {
  IGNIS_SKIP_WITHOUT_GPU();
  if (!kernels::attention_wgmma_active(kernels::AttentionImpl::Wgmma, 4, 128, DType::BF16, DType::BF16))
    GTEST_SKIP() << "no compute-capability 9.0 device";
  ImplScope scope(kernels::AttentionImpl::Wgmma);
  struct Cap {
    Cap() { kernels::set_attention_wgmma_max_blocks(2); }
    ~Cap() { kernels::set_attention_wgmma_max_blocks(0); }
  } cap;
  std::mt19937_64 rng(21);
  run_case({DType::BF16, 128, 16, 2, 16, 0, {{0, 130}, {70, 33}, {5, 1}}, 0, 100}, rng);  // 800-row tiles: 7 passes
  run_case({DType::F16, 128, 32, 8, 16, 0, {{0, 300}, {400, 1}, {90, 70}}}, rng);
  run_case({DType::BF16, 128, 32, 8, 16, 0, {{0, 70}, {1, 2}}, 20, 0, false, 40.0f}, rng);  // empty splits
  run_case({DType::BF16, 128, 28, 4, 32, 64, {{0, 257}, {500, 40}, {33, 1}}, 3}, rng);      // window + splits
  run_case({DType::BF16, 128, 8, 8, 16, 0, {{0, 600}}, 0, 100, false, 30.0f}, rng);
}

// Released (-1) blocks before the window, as a sliding-window model's block manager leaves them.
TEST(GpuAttention, ReleasedBlocks) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(16);
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (DType t : {DType::BF16, DType::F16})
      for (int hd : {64, 128}) {
        run_case({t, hd, 32, 8, 16, 50, {{300, 1}, {200, 40}, {97, 1}, {64, 64}}, 0, 0, true}, rng);
        run_case({t, hd, 8, 8, 16, 33, {{500, 1}, {129, 20}}, 4, 0, true}, rng);
      }
  }
}

// Scores large enough that exp() without the running max would overflow; rows with every
// key masked in a split (the combine must skip them).
TEST(GpuAttention, LargeScoresAndEmptySplits) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(17);
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    // 20 splits over 70 keys: most splits are empty for the first tokens
    run_case({DType::BF16, 128, 32, 8, 16, 0, {{0, 70}, {1, 2}}, 20, 0, false, 40.0f}, rng);
    run_case({DType::F16, 64, 16, 2, 16, 0, {{0, 70}, {3, 1}}, 20, 0, false, 40.0f}, rng);
    run_case({DType::BF16, 128, 32, 8, 32, 0, {{0, 200}, {900, 1}}, 0, 0, false, 40.0f}, rng);
  }
}

// Decode tiles (<= 16 rows: the warps of the mma kernel split the keys). The mma launcher runs its
// decode kernel when the tiles average <= 16 rows (num_tokens * G <= 16 * num_tiles), else the main
// kernel, which takes the split-keys path per tile of <= 16 rows (head_dim 128); each case below
// notes which one it exercises.

TEST(GpuAttention, DecodeTilesSplitKeys) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(18);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8, 16})
        for (int splits : {1, 0}) {  // 0: the heuristic (many splits for this small batch)
          const int kvh = gqa == 16 ? 1 : 2, bs = gqa % 8 == 0 ? 32 : 16;
          // one token per tile: decode kernel
          cases.push_back({t, hd, kvh * gqa, kvh, bs, 0, decodes({1, 15, 16, 17, 63, 64, 65, 1000}), splits});
        }
  // long contexts, split or not
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, decodes({8192, 4097, 2}), 1});
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, decodes({8192, 4097, 2})});
  cases.push_back({DType::F16, 64, 16, 1, 32, 0, decodes({8192, 333}), 5});
  // a few tokens per tile (rows <= 16), e.g. speculative decoding: decode kernel
  for (int hd : {64, 128}) {
    cases.push_back({DType::BF16, hd, 8, 2, 16, 0, {{50, 2}, {61, 3}, {200, 4}, {0, 4}, {997, 2}, {15, 1}}});
    cases.push_back({DType::F16, hd, 8, 2, 32, 0, {{50, 2}, {61, 3}, {200, 4}, {0, 4}, {997, 2}}, 1});
    cases.push_back({DType::BF16, hd, 4, 4, 16, 0, {{0, 16}, {30, 9}, {100, 1}}, 3});  // G = 1: up to 16 tokens
  }
  // sliding window, with and without released blocks, split or not: decode kernel
  for (int hd : {64, 128})
    for (int splits : {1, 3}) {
      cases.push_back({DType::BF16, hd, 32, 8, 16, 50, decodes({300, 97, 64, 1000, 17, 51}), splits, 0, true});
      cases.push_back({DType::F16, hd, 16, 2, 32, 33, decodes({500, 130, 33, 34, 1}), splits});
      cases.push_back({DType::BF16, hd, 16, 4, 16, 40, decodes({300, 97, 1000}, 3), splits, 0, true});
    }
  // mixed launches. Main kernel (tiles average > 16 rows) with decode tiles beside a 64-token prefill:
  for (int hd : {64, 128})
    for (int splits : {1, 4}) {
      cases.push_back({DType::BF16, hd, 32, 8, 16, 0, {{100, 1}, {0, 64}, {31, 1}, {500, 2}, {1000, 1}}, splits});
      cases.push_back({DType::F16, hd, 16, 2, 32, 20, {{100, 1}, {0, 64}, {65, 1}}, splits, 0, true});
    }
  // Decode kernel (tiles average <= 16 rows) with tiles of more rows, run in 16-row passes:
  // G = 4: a 16-token tile (64 rows) + a 4-token tile; G = 8: a 3-token tile (24 rows = 16 + 8).
  for (int hd : {64, 128})
    for (int splits : {1, 0}) {
      std::vector<SeqSpec> a = decodes({5, 17, 64, 65, 200, 300, 301, 999, 1000, 1001, 2, 1});
      a.push_back({0, 20});
      cases.push_back({DType::BF16, hd, 16, 4, 16, 0, a, splits});
      std::vector<SeqSpec> b = decodes({5, 17, 64, 65, 200, 300, 301, 999, 1000, 1001});
      b.push_back({10, 3});
      cases.push_back({DType::F16, hd, 16, 2, 32, 0, b, splits});
      cases.push_back({DType::BF16, hd, 16, 2, 16, 30, b, splits, 0, true});
    }
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
}

// CUDA-graph padding tiles (num_tokens 0) beside decode steps: the decode kernel marks their tokens'
// split pairs empty itself; launches on other kernels (a prefill beside them, the simple kernel) keep
// mark_padding_kernel. Either way the padding rows merge to 0 over a stale workspace, bf16 / fp16 /
// FP8 caches, split or not.
TEST(GpuAttention, PaddingTiles) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(23);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8})
        for (int splits : {1, 0, 4}) {
          const int kvh = 2;
          AttnCase d{t, hd, kvh * gqa, kvh, 16, 0, decodes({1, 70, 1000}), splits};
          d.pad_tiles = 5;
          cases.push_back(d);
          AttnCase mixed{t, hd, kvh * gqa, kvh, 16, 0, {{100, 1}, {0, 64}, {31, 1}}, splits};
          mixed.pad_tiles = 2;
          cases.push_back(mixed);
          AttnCase f = d;
          f.fp8 = true;
          cases.push_back(f);
        }
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
}

// Large scores (the running max matters) and splits whose keys are all masked, on decode tiles.
TEST(GpuAttention, DecodeTilesLargeScoresAndEmptySplits) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(19);
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (int hd : {64, 128}) {
      run_case({DType::BF16, hd, 32, 8, 16, 0, decodes({1, 2, 17, 70, 900}), 20, 0, false, 40.0f}, rng);
      run_case({DType::F16, hd, 16, 1, 32, 0, decodes({3, 65, 1000}), 1, 0, false, 40.0f}, rng);
      run_case({DType::BF16, hd, 16, 4, 16, 25, decodes({40, 100, 1000}, 2), 32, 0, true, 40.0f}, rng);
    }
  }
}

// Tree verification (PagedAttentionArgs::tree_begin / tree_mask): each tree token sees the context and
// its own ancestors only, on every kernel (decode tiles, the mma main kernel, wgmma prefill tiles, the
// simple kernel), trees of one to seven mask words cut into several tiles, beside chains, decodes and
// prefills in the same launch, split or not, against the reference given the parents.
TEST(GpuAttention, TreeMasks) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(20);
  std::vector<AttnCase> cases;
  for (DType t : {DType::BF16, DType::F16})
    for (int hd : {64, 128})
      for (int gqa : {1, 4, 8}) {
        const int kvh = gqa == 1 ? 4 : 2;
        for (int splits : {1, 0, 4}) {
          std::vector<SeqSpec> seqs = {{500, 3, random_tree(rng, 3, 2)},  {37, 9, random_tree(rng, 9, 9)},
                                       {100, 1},                          {0, 16, random_tree(rng, 16, 3)},
                                       {1500, 40, random_tree(rng, 40, 40)}, {64, 30}, {999, 4, random_tree(rng, 4, 1)}};
          cases.push_back({t, hd, kvh * gqa, kvh, 16, 0, seqs, splits});
        }
        // multi-word masks: a lookahead-sized tree (112 nodes) and a 200-node one, deep and bushy
        cases.push_back({t, hd, kvh * gqa, kvh, 32, 0, {{300, 112, random_tree(rng, 112, 20)}, {7, 1}}});
        cases.push_back({t, hd, kvh * gqa, kvh, 16, 0, {{2000, 200, random_tree(rng, 200, 200)}, {0, 33}}, 3});
      }
  // forced tilings: one-token tiles (all decode tiles), 4-token tiles, and tiles of 128 rows
  for (int tile : {1, 4, 32}) {
    cases.push_back({DType::BF16, 128, 32, 8, 16, 0, {{250, 50, random_tree(rng, 50, 8)}, {10, 3}, {400, 1}}, 0, tile});
    cases.push_back({DType::F16, 64, 8, 2, 16, 0, {{0, 70, random_tree(rng, 70, 70)}, {90, 2, {-1, 0}}}, 2, tile});
  }
  // large scores: a row's running max over masked-out siblings must not leak
  cases.push_back({DType::BF16, 128, 32, 8, 16, 0, {{100, 24, random_tree(rng, 24, 24)}}, 5, 0, false, 40.0f});
  for (auto impl : kImpls) {
    ImplScope scope(impl);
    for (auto& c : cases) run_case(c, rng);
  }
}

TEST(GpuAttention, SelectorAndTiling) {
  // host-only: no device needed
  using kernels::AttentionImpl;
  constexpr AttentionImpl kS = AttentionImpl::Simple, kM = AttentionImpl::Mma, kW = AttentionImpl::Wgmma;
  for (DType kv : {DType::BF16, DType::F8_E4M3}) {  // (the cache type changes no choice: every kernel reads both)
    const DType kb = kv == DType::BF16 ? DType::BF16 : kv, kf = kv == DType::BF16 ? DType::F16 : kv;
    EXPECT_TRUE(kernels::attention_mma_supported(4, 128, DType::BF16, kb));
    EXPECT_TRUE(kernels::attention_mma_supported(1, 64, DType::F16, kf));
    EXPECT_FALSE(kernels::attention_mma_supported(4, 128, DType::F32, DType::F32));
    EXPECT_FALSE(kernels::attention_mma_supported(4, 80, DType::BF16, kb));
    EXPECT_EQ(kernels::attention_tile_tokens(kM, 4, 128, DType::BF16, kb), 16);
    EXPECT_EQ(kernels::attention_tile_tokens(kM, 8, 64, DType::F16, kf), 8);
    EXPECT_EQ(kernels::attention_tile_tokens(kM, 4, 128, DType::F32, DType::F32), kernels::attention_tile_tokens(4));
    // Wgmma: 128-row tiles where the wgmma kernel runs (head_dim 128 on a compute-capability 9.0
    // device), the mma tiles elsewhere
    EXPECT_EQ(kernels::attention_tile_tokens(kW, 4, 128, DType::BF16, kb),
              kernels::attention_wgmma_active(kW, 4, 128, DType::BF16, kb) ? 32 : 16);
    EXPECT_EQ(kernels::attention_tile_tokens(kW, 7, 128, DType::F16, kf),
              kernels::attention_wgmma_active(kW, 7, 128, DType::F16, kf) ? 18 : 9);
    EXPECT_EQ(kernels::attention_tile_tokens(kW, 8, 64, DType::F16, kf), 8);
    EXPECT_FALSE(kernels::attention_wgmma_active(kW, 4, 64, DType::BF16, kb));
    EXPECT_FALSE(kernels::attention_wgmma_active(kW, 4, 128, DType::F32, DType::F32));
    EXPECT_FALSE(kernels::attention_wgmma_active(kM, 4, 128, DType::BF16, kb));
    EXPECT_FALSE(kernels::attention_wgmma_active(kS, 4, 128, DType::BF16, kb));
    EXPECT_EQ(kernels::attention_tile_tokens(kS, 4, 128, DType::BF16, kb), kernels::attention_tile_tokens(4));
  }
  EXPECT_EQ(kernels::attention_tile_tokens(4), 8);
  EXPECT_STREQ(kernels::attention_impl_name(kS), "simple");
  EXPECT_STREQ(kernels::attention_impl_name(kM), "mma");
  EXPECT_STREQ(kernels::attention_impl_name(kW), "wgmma");
}

// IGNIS_ATTENTION as the CLI reads it (attention_impl_from_env); the kernels never read it.
TEST(GpuAttention, ImplFromEnv) {
  const char* old = std::getenv("IGNIS_ATTENTION");
  const std::string saved = old ? old : "";
  ::setenv("IGNIS_ATTENTION", "simple", 1);
  EXPECT_EQ(kernels::attention_impl_from_env(), kernels::AttentionImpl::Simple);
  ::setenv("IGNIS_ATTENTION", "mma", 1);
  EXPECT_EQ(kernels::attention_impl_from_env(), kernels::AttentionImpl::Mma);
  ::setenv("IGNIS_ATTENTION", "wgmma", 1);
  EXPECT_EQ(kernels::attention_impl_from_env(), kernels::AttentionImpl::Wgmma);
  ::unsetenv("IGNIS_ATTENTION");
  EXPECT_EQ(kernels::attention_impl_from_env(), kernels::AttentionImpl::Wgmma);
  if (old) ::setenv("IGNIS_ATTENTION", saved.c_str(), 1);
}

}  // namespace
}  // namespace ignis
