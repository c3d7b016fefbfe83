// Medusa heads on the device (cuda/medusa_heads.h) against the host reference runner
// (spec/medusa.h make_host_medusa_runner): the top tokens of every head for a batch of hidden
// states, in F32 and BF16, with separate and shared lm_heads, rows ranked on the GPU (k <= 20)
// and on the host (k > 20), more stacked rows than one lm_head GEMM takes, a non-finite row.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "../spec/medusa_test_util.h"
#include "cuda/medusa_heads.h"
#include "gpu_test_util.h"
#include "spec/medusa.h"

namespace ignis {
namespace {

namespace fs = std::filesystem;

cuda::MedusaHeadsHost host_view(const MedusaHeads& heads, bool share_first_lm_head) {
  cuda::MedusaHeadsHost h;
  h.hidden = heads.hidden();
  h.vocab = heads.vocab();
  for (int i = 0; i < heads.num_heads(); ++i) {
    std::vector<cuda::MedusaHeadsHost::Block> blocks;
    for (const cpu::Linear& b : heads.head(i).blocks) blocks.push_back({b.weight().data(), b.bias().data()});
    h.heads.push_back(std::move(blocks));
    h.lm_heads.push_back((share_first_lm_head ? heads.head(0) : heads.head(i)).lm_head->weight().data());
  }
  return h;
}

// For every head and row: the device's j-th id has (under the host's fp32 logits) the host's j-th
// logit within tol, and the top-1 ids agree in at least min_top1 of the rows.
void expect_same_ranking(const MedusaHeads& heads, const std::vector<float>& h, int m, const std::vector<int>& topk,
                         const std::vector<std::vector<int32_t>>& dev, const std::vector<std::vector<int32_t>>& ref,
                         const std::vector<char>& bad, float tol, double min_top1) {
  std::vector<float> logits(size_t(m) * size_t(heads.vocab()));
  ASSERT_EQ(dev.size(), topk.size());
  for (size_t d = 0; d < topk.size(); ++d) {
    heads.forward(int(d), h.data(), m, logits.data());
    const size_t k = size_t(topk[d]);
    ASSERT_EQ(dev[d].size(), size_t(m) * k);
    int same = 0, rows = 0;
    for (int r = 0; r < m; ++r) {
      if (bad[size_t(r)]) continue;
      ++rows;
      const float* lg = logits.data() + size_t(r) * size_t(heads.vocab());
      same += dev[d][size_t(r) * k] == ref[d][size_t(r) * k];
      for (size_t j = 0; j < k; ++j) {
        const int32_t a = dev[d][size_t(r) * k + j], b = ref[d][size_t(r) * k + j];
        ASSERT_TRUE(a >= 0 && a < heads.vocab()) << "head " << d << " row " << r;
        EXPECT_NEAR(lg[a], lg[b], tol) << "head " << d << " row " << r << " rank " << j;
      }
    }
    EXPECT_GE(same, int(std::ceil(min_top1 * rows))) << "head " << d << ": top-1 agreement " << same << "/" << rows;
  }
}

TEST(GpuMedusa, DeviceHeadsRankLikeTheHostReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  const fs::path dir = fs::temp_directory_path() / ("ignis_gpu_medusa_" + std::to_string(::getpid()));
  testing::MedusaHeadsSpec hs;
  hs.hidden = 128, hs.vocab = 1000, hs.heads = 3, hs.layers = 2, hs.block_scale = 0.08f;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  hs.lm_head.resize(size_t(hs.vocab) * size_t(hs.hidden));
  for (float& x : hs.lm_head) x = nd(rng) / std::sqrt(float(hs.hidden));
  hs.lm_noise = 0;  // every head's lm_head the same matrix: a shared copy gives the same logits
  testing::write_medusa_heads(dir, hs);
  ModelConfig target;
  target.hidden_size = hs.hidden;
  target.vocab_size = hs.vocab;
  auto heads = MedusaHeads::load(dir, target);
  auto host = make_host_medusa_runner(heads);

  const int m = 50;  // 3 heads x 50 rows: two lm_head GEMMs of at most 128 rows
  std::vector<float> h(size_t(m) * size_t(hs.hidden));
  for (float& x : h) x = nd(rng);
  const std::vector<int> topk = {10, 4, 25};  // 25: ranked on the host
  std::vector<std::vector<int32_t>> ref, dev;
  std::vector<char> ref_bad, bad;
  host->top_tokens(h.data(), m, topk, ref, ref_bad);
  for (char b : ref_bad) ASSERT_EQ(b, 0);

  for (DType dt : {DType::F32, DType::BF16})
    for (bool shared : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + (shared ? " shared lm_head" : " own lm_heads"));
      cuda::DeviceMedusaHeads d(host_view(*heads, shared), dt);
      d.top_tokens(h.data(), m, topk, dev, bad);
      for (char b : bad) ASSERT_EQ(b, 0);
      if (dt == DType::F32) {
        expect_same_ranking(*heads, h, m, topk, dev, ref, bad, 1e-4f, 0.98);
      } else {
        expect_same_ranking(*heads, h, m, topk, dev, ref, bad, 0.05f, 0.85);
      }
      // Fewer heads and rows than before (buffers reused), then a row that is not finite.
      std::vector<std::vector<int32_t>> two;
      d.top_tokens(h.data(), 7, {3, 2}, two, bad);
      ASSERT_EQ(two.size(), 2u);
      for (int r = 0; r < 7; ++r)
        for (int j = 0; j < 3; ++j) EXPECT_EQ(two[0][size_t(r) * 3 + size_t(j)], dev[0][size_t(r) * 10 + size_t(j)]);
      std::vector<float> hb = h;
      hb[size_t(3) * size_t(hs.hidden) + 5] = NAN;
      d.top_tokens(hb.data(), m, topk, two, bad);
      for (int r = 0; r < m; ++r) EXPECT_EQ(bad[size_t(r)], r == 3 ? 1 : 0) << "row " << r;
      for (int r = 0; r < m; ++r)
        if (r != 3) EXPECT_EQ(two[1][size_t(r) * 4], dev[1][size_t(r) * 4]) << "row " << r;
    }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ignis
