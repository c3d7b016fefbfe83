// The sentence encoder on the GPU (src/encoder_gpu, kernels/encoder_ops.h): the tensor-core
// attention kernel against the reference kernel and a host computation over the same bf16
// inputs; whole models (random head sizes 32 and 64, the tiny goldens' 4 and 8, the shipped
// models/encoder-mini) against the CPU reference BertModel within a bf16 bound.
#include <filesystem>

#include "encoder/sentence_encoder.h"
#include "encoder_gpu/cuda_encoder.h"
#include "gpu_test_util.h"
#include "kernels/encoder_ops.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;

// softmax(q k^T / sqrt(d)) v per sequence and head in double over the bf16 values plus bias.
std::vector<float> host_attention(const HostTensor& qkv, const std::vector<float>& bias, const std::vector<int>& starts,
                                  int heads, int D) {
  const int H = heads * D, ld = 3 * H, T = starts.back();
  std::vector<float> out(size_t(T) * H);
  for (size_t s = 0; s + 1 < starts.size(); ++s)
    for (int h = 0; h < heads; ++h)
      for (int r = starts[s]; r < starts[s + 1]; ++r) {
        std::vector<double> p;
        double mx = -1e300;
        for (int j = starts[s]; j < starts[s + 1]; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += double(qkv.f[size_t(r) * ld + h * D + d] + bias[h * D + d]) *
                   (qkv.f[size_t(j) * ld + H + h * D + d] + bias[H + h * D + d]);
          p.push_back(dot / std::sqrt(double(D)));
          mx = std::max(mx, p.back());
        }
        double sum = 0;
        for (auto& x : p) sum += (x = std::exp(x - mx));
        for (int d = 0; d < D; ++d) {
          double acc = 0;
          for (int j = starts[s]; j < starts[s + 1]; ++j)
            acc += p[j - starts[s]] * (qkv.f[size_t(j) * ld + 2 * H + h * D + d] + bias[2 * H + h * D + d]);
          out[size_t(r) * H + h * D + d] = float(acc / sum);
        }
      }
  return out;
}

TEST(GpuEncoder, AttentionKernelsMatchTheHost) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(7);
  const std::vector<int> lens = {1, 7, 64, 65, 130, 300, 2};
  std::vector<int> starts{0};
  for (int n : lens) starts.push_back(starts.back() + n);
  const int T = starts.back(), max_len = 300;
  for (auto [heads, D] : {std::pair{4, 64}, std::pair{6, 32}, std::pair{3, 40}}) {
    const int H = heads * D;
    auto qkv = random_tensor(rng, DType::BF16, size_t(T) * 3 * H, -2.0f, 2.0f);
    auto bias = random_vec(rng, 3 * H, -0.5f, 0.5f);
    auto want = host_attention(qkv, bias, starts, heads, D);
    auto dq = to_device(qkv);
    auto db = to_device(bias);
    auto ds = to_device(starts);
    for (bool ref : {false, true}) {
      cuda::DeviceBuffer out(size_t(T) * H * 2, "ctx");
      poison(out);
      kernels::encoder_attention(dq.get(), db.as<float>(), ds.as<int32_t>(), int(lens.size()), max_len, heads, D,
                                 out.get(), nullptr, ref);
      auto got = from_device(out, DType::BF16, size_t(T) * H);
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
      // bf16 output rounding (values |x| < ~3: 2^-7 relative) plus, on tensor cores, p rounded to bf16.
      EXPECT_LT(worst, ref ? 0.02 : 0.04) << "heads " << heads << " head_dim " << D << (ref ? " reference" : " mma");
    }
  }
}

enc::EncoderConfig random_config(int hidden, int heads, int layers) {
  enc::EncoderConfig c;
  c.model_type = "bert";
  c.vocab_size = 500;
  c.hidden = hidden;
  c.heads = heads;
  c.layers = layers;
  c.intermediate = 4 * hidden;
  c.max_positions = 512;
  c.type_vocab = 2;
  c.pooling = enc::Pooling::Mean;
  c.normalize = true;
  c.max_seq_length = 512;
  return c;
}

enc::EncoderWeights random_weights(const enc::EncoderConfig& c, std::mt19937_64& rng) {
  const size_t H = c.hidden, I = c.intermediate;
  const float ws = 1.0f / std::sqrt(float(H));
  auto ln = [&](size_t n, float base) {
    auto v = random_vec(rng, n, -0.1f, 0.1f);
    for (auto& x : v) x += base;
    return v;
  };
  enc::EncoderWeights w;
  w.word = random_vec(rng, c.vocab_size * H);
  w.pos = random_vec(rng, c.max_positions * H, -0.3f, 0.3f);
  w.type = random_vec(rng, c.type_vocab * H, -0.3f, 0.3f);
  w.emb_ln_g = ln(H, 1.0f);
  w.emb_ln_b = ln(H, 0.0f);
  for (int l = 0; l < c.layers; ++l) {
    enc::EncoderLayer L;
    for (auto* m : {&L.wq, &L.wk, &L.wv, &L.wo}) *m = random_vec(rng, H * H, -ws, ws);
    for (auto* b : {&L.bq, &L.bk, &L.bv, &L.bo, &L.bo2}) *b = random_vec(rng, H, -0.1f, 0.1f);
    L.wi = random_vec(rng, I * H, -ws, ws);
    L.bi = random_vec(rng, I, -0.1f, 0.1f);
    L.wo2 = random_vec(rng, H * I, -0.5f * ws, 0.5f * ws);
    L.ln1_g = ln(H, 1.0f);
    L.ln1_b = ln(H, 0.0f);
    L.ln2_g = ln(H, 1.0f);
    L.ln2_b = ln(H, 0.0f);
    w.layers.push_back(std::move(L));
  }
  return w;
}

std::vector<enc::EncoderInput> random_inputs(std::mt19937_64& rng, const enc::EncoderConfig& c,
                                             const std::vector<int>& lens) {
  std::vector<enc::EncoderInput> in;
  for (int n : lens) {
    enc::EncoderInput e;
    for (int i = 0; i < n; ++i) {
      e.ids.push_back(int32_t(rng() % c.vocab_size));
      e.type_ids.push_back(c.type_vocab > 1 && i > n / 2 ? 1 : 0);
    }
    in.push_back(std::move(e));
  }
  return in;
}

// Every GPU embedding within a bf16 bound of the CPU one (both normalized or compared relative).
void expect_close(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst_cos = 1, worst_rel = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size());
    double dot = 0, gg = 0, ww = 0, diff = 0;
    for (size_t k = 0; k < got[i].size(); ++k) {
      ASSERT_TRUE(std::isfinite(got[i][k])) << what << " row " << i;
      dot += double(got[i][k]) * want[i][k];
      gg += double(got[i][k]) * got[i][k];
      ww += double(want[i][k]) * want[i][k];
      diff = std::max(diff, double(std::fabs(got[i][k] - want[i][k])));
    }
    worst_cos = std::min(worst_cos, dot / std::sqrt(gg * ww));
    worst_rel = std::max(worst_rel, diff / std::sqrt(ww / got[i].size()));
  }
  EXPECT_GT(worst_cos, 0.999) << what;
  EXPECT_LT(worst_rel, 0.15) << what << ": largest difference relative to the rms value";
}

TEST(GpuEncoder, RandomModelsMatchTheCpuReference) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(11);
  const std::vector<int> lens = {1, 5, 64, 65, 200, 512, 3, 130};
  for (auto [hidden, heads] : {std::pair{256, 4}, std::pair{192, 6}, std::pair{96, 3}}) {
    auto cfg = random_config(hidden, heads, 3);
    auto cpu = std::make_unique<enc::BertModel>(cfg, random_weights(cfg, rng));
    auto in = random_inputs(rng, cfg, lens);
    auto want = cpu->embed(in);
    encgpu::CudaEncoder gpu(std::move(cpu));
    expect_close(gpu.embed(in), want, "hidden " + std::to_string(hidden) + " heads " + std::to_string(heads));
    gpu.set_reference_attention(true);
    expect_close(gpu.embed(in), want, "reference attention, hidden " + std::to_string(hidden));
  }
}

TEST(GpuEncoder, SeveralPassesEqualOne) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(5);
  auto cfg = random_config(128, 4, 2);
  auto w = random_weights(cfg, rng);
  auto in = random_inputs(rng, cfg, {40, 300, 7, 90, 90, 1, 250});
  encgpu::CudaEncoder one(std::make_unique<enc::BertModel>(cfg, w));
  encgpu::CudaEncoder many(std::make_unique<enc::BertModel>(cfg, w), 256);  // a pass per 256 tokens (at least one seq)
  auto a = one.embed(in), b = many.embed(in);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < a[i].size(); ++k) EXPECT_NEAR(a[i][k], b[i][k], 2e-3) << i;
}

TEST(GpuEncoder, BadInputIsAnErrorAndTheEncoderKeepsWorking) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(3);
  auto cfg = random_config(64, 2, 1);
  encgpu::CudaEncoder gpu(std::make_unique<enc::BertModel>(cfg, random_weights(cfg, rng)));
  auto good = random_inputs(rng, cfg, {10});
  auto first = gpu.embed(good);
  auto bad = good;
  bad[0].ids[3] = cfg.vocab_size;
  EXPECT_THROW(gpu.embed(bad), Error);
  EXPECT_THROW(gpu.embed(random_inputs(rng, cfg, {513})), Error);
  EXPECT_THROW(gpu.embed({enc::EncoderInput{}}), Error);
  auto again = gpu.embed(good);
  EXPECT_EQ(first, again);
}

class GpuEncoderFolder : public ::testing::TestWithParam<const char*> {};

TEST_P(GpuEncoderFolder, MatchesTheCpuEncoder) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::string name = GetParam();
  // tests/data and models/ of the checkout the test runs from ($IGNIS_TEST_DATA_DIR on the GPU machine).
  const fs::path data = test_data_dir();
  fs::path dir = name.starts_with("models/") ? data.parent_path().parent_path() / name : data / "encoder" / "models" / name;
  if (!fs::exists(dir / "config.json")) GTEST_SKIP() << dir << " not in this checkout (a device call without tests/data)";
  auto cpu = enc::SentenceEncoder::load(dir);
  auto gpu = enc::SentenceEncoder::load(dir, [](std::unique_ptr<enc::BertModel> m) {
    return std::make_unique<encgpu::CudaEncoder>(std::move(m));
  });
  EXPECT_STREQ(gpu->backend_name(), "cuda");
  std::vector<std::string> texts = {"How do I install a package?", "a", "",
                                    std::string(3000, 'x') + " long text truncated to max_seq_length",
                                    "def f(x):\n    return x + 1\n", "The State of the Union is strong."};
  expect_close(gpu->embed(texts), cpu->embed(texts), name);
}

INSTANTIATE_TEST_SUITE_P(Encoder, GpuEncoderFolder, ::testing::Values("bert_mean", "xlmr_cls", "models/encoder-mini"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.starts_with("models/") ? std::string("shipped") : n;
                         });

}  // namespace
}  // namespace ignis::test
