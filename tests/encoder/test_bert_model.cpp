// BertModel's flat-batch forward against a naive padded-batch reference written the way
// HF computes it (all sequences padded to the longest, additive attention mask with the
// dtype minimum on padded keys); loading from safetensors (F16, "bert." prefix); pooling.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "encoder/bert_model.h"
#include "encoder/sentence_encoder.h"
#include "model/safetensors.h"

namespace ignis::test {
namespace {

using enc::EncoderConfig;
using enc::EncoderInput;
using enc::EncoderWeights;
namespace fs = std::filesystem;

EncoderConfig tiny_config(bool xlmr) {
  EncoderConfig c;
  c.model_type = xlmr ? "xlm-roberta" : "bert";
  c.vocab_size = 23;
  c.hidden = 8;
  c.layers = 2;
  c.heads = 2;
  c.intermediate = 12;
  c.max_positions = 16;
  c.type_vocab = xlmr ? 1 : 2;
  c.position_offset = xlmr ? 2 : 0;
  c.ln_eps = 1e-5f;
  c.max_seq_length = c.max_positions - c.position_offset;
  return c;
}

std::vector<float> rnd(std::mt19937& g, size_t n, float scale = 0.5f, float shift = 0.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = shift + d(g);
  return v;
}

EncoderWeights random_weights(const EncoderConfig& c, uint32_t seed) {
  std::mt19937 g(seed);
  const size_t H = c.hidden, I = c.intermediate;
  EncoderWeights w;
  w.word = rnd(g, c.vocab_size * H);
  w.pos = rnd(g, c.max_positions * H);
  w.type = rnd(g, c.type_vocab * H);
  w.emb_ln_g = rnd(g, H, 0.1f, 1.0f);
  w.emb_ln_b = rnd(g, H, 0.1f);
  for (int l = 0; l < c.layers; ++l) {
    enc::EncoderLayer L;
    L.wq = rnd(g, H * H), L.bq = rnd(g, H, 0.1f), L.wk = rnd(g, H * H), L.bk = rnd(g, H, 0.1f);
    L.wv = rnd(g, H * H), L.bv = rnd(g, H, 0.1f), L.wo = rnd(g, H * H), L.bo = rnd(g, H, 0.1f);
    L.ln1_g = rnd(g, H, 0.1f, 1.0f), L.ln1_b = rnd(g, H, 0.1f);
    L.wi = rnd(g, I * H), L.bi = rnd(g, I, 0.1f), L.wo2 = rnd(g, H * I), L.bo2 = rnd(g, H, 0.1f);
    L.ln2_g = rnd(g, H, 0.1f, 1.0f), L.ln2_b = rnd(g, H, 0.1f);
    w.layers.push_back(std::move(L));
  }
  return w;
}

// Naive reference: batch padded to the longest sequence, HF's extended attention mask.
std::vector<float> reference(const EncoderConfig& c, const EncoderWeights& w, const std::vector<EncoderInput>& batch) {
  const int H = c.hidden, I = c.intermediate, nh = c.heads, dh = H / nh;
  size_t B = batch.size(), S = 0;
  for (auto& s : batch) S = std::max(S, s.ids.size());
  auto ln = [&](std::vector<double>& v, const std::vector<float>& g, const std::vector<float>& b) {
    double m = 0, var = 0;
    for (double x : v) m += x;
    m /= H;
    for (double x : v) var += (x - m) * (x - m);
    var /= H;
    for (int k = 0; k < H; ++k) v[k] = (v[k] - m) / std::sqrt(var + c.ln_eps) * g[k] + b[k];
  };
  auto lin = [](const std::vector<double>& x, const std::vector<float>& W, const std::vector<float>& b, int out) {
    std::vector<double> y(out);
    int in = static_cast<int>(x.size());
    for (int o = 0; o < out; ++o) {
      double s = b[o];
      for (int i = 0; i < in; ++i) s += W[static_cast<size_t>(o) * in + i] * x[i];
      y[o] = s;
    }
    return y;
  };
  // x[b][t]: hidden of token t (pad tokens: id 0, type 0)
  std::vector<std::vector<std::vector<double>>> x(B, std::vector<std::vector<double>>(S, std::vector<double>(H)));
  for (size_t b = 0; b < B; ++b)
    for (size_t t = 0; t < S; ++t) {
      bool real = t < batch[b].ids.size();
      int id = real ? batch[b].ids[t] : 0, ty = real ? batch[b].type_ids[t] : 0;
      size_t pos = real ? t + c.position_offset : (c.position_offset ? c.position_offset - 1 : t);
      for (int k = 0; k < H; ++k)
        x[b][t][k] = w.word[id * H + k] + w.pos[pos * H + k] + (c.type_vocab ? w.type[ty * H + k] : 0.0);
      ln(x[b][t], w.emb_ln_g, w.emb_ln_b);
    }
  for (const auto& L : w.layers) {
    for (size_t b = 0; b < B; ++b) {
      std::vector<std::vector<double>> q(S), k(S), v(S), ctx(S, std::vector<double>(H, 0.0));
      for (size_t t = 0; t < S; ++t) q[t] = lin(x[b][t], L.wq, L.bq, H), k[t] = lin(x[b][t], L.wk, L.bk, H),
                                     v[t] = lin(x[b][t], L.wv, L.bv, H);
      for (int h = 0; h < nh; ++h)
        for (size_t i = 0; i < S; ++i) {
          std::vector<double> s(S);
          double mx = -std::numeric_limits<double>::infinity();
          for (size_t j = 0; j < S; ++j) {
            double d = 0;
            for (int e = 0; e < dh; ++e) d += q[i][h * dh + e] * k[j][h * dh + e];
            d /= std::sqrt(static_cast<double>(dh));
            if (j >= batch[b].ids.size()) d += std::numeric_limits<float>::lowest();  // padded key
            s[j] = d;
            mx = std::max(mx, d);
          }
          double sum = 0;
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (size_t j = 0; j < S; ++j)
            for (int e = 0; e < dh; ++e) ctx[i][h * dh + e] += s[j] / sum * v[j][h * dh + e];
        }
      for (size_t t = 0; t < S; ++t) {
        auto a = lin(ctx[t], L.wo, L.bo, H);
        for (int e = 0; e < H; ++e) x[b][t][e] += a[e];
        ln(x[b][t], L.ln1_g, L.ln1_b);
        auto in = lin(x[b][t], L.wi, L.bi, I);
        for (auto& e : in) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
        auto o = lin(in, L.wo2, L.bo2, H);
        for (int e = 0; e < H; ++e) x[b][t][e] += o[e];
        ln(x[b][t], L.ln2_g, L.ln2_b);
      }
    }
  }
  std::vector<float> out;  // real tokens only, sequences one after another
  for (size_t b = 0; b < B; ++b)
    for (size_t t = 0; t < batch[b].ids.size(); ++t)
      for (int e = 0; e < H; ++e) out.push_back(static_cast<float>(x[b][t][e]));
  return out;
}

std::vector<EncoderInput> sample_batch(bool pairs) {
  return {{{2, 5, 6, 7, 3}, {0, 0, 0, 0, 0}},
          {{2, 9, 3}, {0, 0, 0}},
          {{2, 11, 12, 13, 14, 15, 16, 17, 3, 18, 19, 3}, pairs ? std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}
                                                                : std::vector<int32_t>(12, 0)},
          {{2}, {0}}};
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - want[i]) > tol && ++bad <= 5) ADD_FAILURE() << "at " << i << ": " << got[i] << " vs " << want[i];
  EXPECT_EQ(bad, 0);
}

TEST(BertModel, FlatBatchMatchesPaddedMaskedReference) {
  for (bool xlmr : {false, true}) {
    EncoderConfig c = tiny_config(xlmr);
    EncoderWeights w = random_weights(c, xlmr ? 7 : 3);
    auto batch = sample_batch(!xlmr);
    auto want = reference(c, w, batch);
    enc::BertModel m(c, w);
    expect_close(m.forward(batch), want, 2e-5f);
    // One sequence alone gives the same hidden states as inside the batch.
    auto alone = m.forward({batch[2]});
    auto all = m.forward(batch);
    std::vector<float> slice(all.begin() + 8 * c.hidden, all.begin() + 20 * c.hidden);  // tokens 8..19
    expect_close(alone, slice, 1e-5f);  // BLAS may block a lone sequence differently
  }
}

TEST(BertModel, BadInputs) {
  EncoderConfig c = tiny_config(false);
  enc::BertModel m(c, random_weights(c, 1));
  EXPECT_THROW(m.forward({{{2, 99}, {0, 0}}}), Error);                      // id outside the vocab
  EXPECT_THROW(m.forward({{{2, 3}, {0, 2}}}), Error);                       // type id outside the types
  EXPECT_THROW(m.forward({{{2, 3}, {0}}}), Error);                          // lengths differ
  EXPECT_THROW(m.forward({{std::vector<int32_t>(17, 2), std::vector<int32_t>(17, 0)}}), Error);  // too long
  EXPECT_EQ(m.forward({}).size(), 0u);
  EncoderWeights bad = random_weights(c, 1);
  bad.layers[1].wi.pop_back();
  EXPECT_THROW(enc::BertModel(c, bad), Error);
}

std::vector<uint8_t> f16_bytes(const std::vector<float>& v, std::vector<float>* rounded) {
  std::vector<uint8_t> out(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = f32_to_f16(v[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
    (*rounded)[i] = f16_to_f32(h);
  }
  return out;
}

TEST(BertModel, LoadsSafetensorsWithPrefixAndF16) {
  EncoderConfig c = tiny_config(false);
  EncoderWeights w = random_weights(c, 11);
  const int64_t H = c.hidden, I = c.intermediate;
  std::vector<SafetensorsWriteTensor> ts;
  auto add = [&](const std::string& name, std::vector<float>& v, std::vector<int64_t> shape) {
    ts.push_back({"bert." + name, DType::F16, shape, f16_bytes(v, &v)});  // v becomes the f16-rounded values
  };
  add("embeddings.word_embeddings.weight", w.word, {c.vocab_size, H});
  add("embeddings.position_embeddings.weight", w.pos, {c.max_positions, H});
  add("embeddings.token_type_embeddings.weight", w.type, {c.type_vocab, H});
  add("embeddings.LayerNorm.gamma", w.emb_ln_g, {H});  // the old TF spelling
  add("embeddings.LayerNorm.beta", w.emb_ln_b, {H});
  for (int l = 0; l < c.layers; ++l) {
    auto& L = w.layers[l];
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    add(p + "attention.self.query.weight", L.wq, {H, H});
    add(p + "attention.self.query.bias", L.bq, {H});
    add(p + "attention.self.key.weight", L.wk, {H, H});
    add(p + "attention.self.key.bias", L.bk, {H});
    add(p + "attention.self.value.weight", L.wv, {H, H});
    add(p + "attention.self.value.bias", L.bv, {H});
    add(p + "attention.output.dense.weight", L.wo, {H, H});
    add(p + "attention.output.dense.bias", L.bo, {H});
    add(p + "attention.output.LayerNorm.weight", L.ln1_g, {H});
    add(p + "attention.output.LayerNorm.bias", L.ln1_b, {H});
    add(p + "intermediate.dense.weight", L.wi, {I, H});
    add(p + "intermediate.dense.bias", L.bi, {I});
    add(p + "output.dense.weight", L.wo2, {H, I});
    add(p + "output.dense.bias", L.bo2, {H});
    add(p + "output.LayerNorm.weight", L.ln2_g, {H});
    add(p + "output.LayerNorm.bias", L.ln2_b, {H});
  }
  fs::path dir = fs::temp_directory_path() / ("ignis_enc_st_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_safetensors((dir / "model.safetensors").string(), ts);
  enc::BertModel loaded(c, dir);
  enc::BertModel direct(c, w);
  auto batch = sample_batch(true);
  expect_close(loaded.forward(batch), direct.forward(batch), 0.0f);
  // A wrong shape is named.
  ts[0].shape = {c.vocab_size + 1, H};
  ts[0].bytes.resize((c.vocab_size + 1) * H * 2);
  write_safetensors((dir / "model.safetensors").string(), ts);
  try {
    enc::BertModel bad(c, dir);
    ADD_FAILURE() << "no error for a wrong shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("word_embeddings"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Pooling, ModesAndNormalize) {
  const float h[] = {1, 2, 3, -4, 5, 0};  // 3 tokens x 2
  float out[2];
  enc::pool(h, 3, 2, enc::Pooling::Cls, false, out);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 2);
  enc::pool(h, 3, 2, enc::Pooling::Mean, false, out);
  EXPECT_FLOAT_EQ(out[0], 3);
  EXPECT_FLOAT_EQ(out[1], -2.0f / 3);
  enc::pool(h, 3, 2, enc::Pooling::Max, false, out);
  EXPECT_EQ(out[0], 5);
  EXPECT_EQ(out[1], 2);
  enc::pool(h, 3, 2, enc::Pooling::LastToken, true, out);
  EXPECT_FLOAT_EQ(out[0], 1);
  EXPECT_FLOAT_EQ(out[1], 0);
  enc::pool(h, 2, 2, enc::Pooling::Cls, true, out);
  EXPECT_FLOAT_EQ(out[0], 1 / std::sqrt(5.0f));
  EXPECT_FLOAT_EQ(out[1], 2 / std::sqrt(5.0f));
  EXPECT_THROW(enc::pool(h, 0, 2, enc::Pooling::Mean, false, out), Error);
}

}  // namespace
}  // namespace ignis::test
