#include "encoder/bert_model.h"

#include <cblas.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/dtype.h"
#include "core/error.h"
#include "model/cpu/matmul.h"
#include "model/cpu/parallel.h"
#include "model/json_util.h"
#include "model/safetensors.h"

namespace ignis::enc {

namespace fs = std::filesystem;

namespace {

struct TensorSource {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsEntry*>> by_name;
  std::string prefix;  // "", "bert." or "roberta."

  explicit TensorSource(const fs::path& dir) {
    std::vector<std::string> paths;
    if (fs::exists(dir / "model.safetensors")) {
      paths.push_back((dir / "model.safetensors").string());
    } else {
      fs::path idx = dir / "model.safetensors.index.json";
      IGNIS_CHECK(fs::exists(idx), "{}: neither model.safetensors nor model.safetensors.index.json found", dir.string());
      std::set<std::string> shards;
      for (auto& [_, shard] : parse_safetensors_index(jsonf::read_text_file(idx.string()), idx.string()))
        shards.insert(shard);
      for (auto& s : shards) paths.push_back((dir / s).string());
    }
    for (auto& p : paths) {
      files.push_back(std::make_unique<SafetensorsFile>(p));
      for (const auto& e : files.back()->header().tensors) by_name[e.name] = {files.back().get(), &e};
    }
    for (const char* pre : {"", "bert.", "roberta.", "model."})
      if (by_name.count(std::string(pre) + "embeddings.word_embeddings.weight")) {
        prefix = pre;
        return;
      }
    IGNIS_FAIL("{}: no tensor embeddings.word_embeddings.weight (is this a BERT / XLM-R checkpoint?)", dir.string());
  }

  // Tensor `name` as float32, checked against `shape`; `alt` is an older spelling (gamma / beta).
  std::vector<float> get(const std::string& name, std::vector<int64_t> shape, const std::string& alt = "") const {
    auto it = by_name.find(prefix + name);
    if (it == by_name.end() && !alt.empty()) it = by_name.find(prefix + alt);
    IGNIS_CHECK(it != by_name.end(), "{}: tensor '{}' not found", files.front()->path(), prefix + name);
    const auto& [file, e] = it->second;
    IGNIS_CHECK(e->shape == shape, "{}: tensor '{}' has shape [{}], expected [{}]", file->path(), e->name,
                fmt::join(e->shape, ", "), fmt::join(shape, ", "));
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    std::vector<float> out(n);
    const uint8_t* p = file->tensor_data(*e);
    switch (e->dtype) {
      case DType::F32:
        std::memcpy(out.data(), p, n * 4);
        break;
      case DType::F16:
      case DType::BF16:
        for (size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[i] = e->dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        break;
      default:
        IGNIS_FAIL("{}: tensor '{}' has dtype {} (F32, F16 or BF16 expected)", file->path(), e->name,
                   dtype_name(e->dtype));
    }
    return out;
  }
};

void layer_norm(float* x, int64_t rows, int dim, const float* g, const float* b, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x + r * dim;
    double mean = 0, var = 0;
    for (int i = 0; i < dim; ++i) mean += v[i];
    mean /= dim;
    for (int i = 0; i < dim; ++i) var += (v[i] - mean) * (v[i] - mean);
    var /= dim;
    float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    for (int i = 0; i < dim; ++i) v[i] = (v[i] - static_cast<float>(mean)) * inv * g[i] + b[i];
  }
}

// y (n, out) = x (n, in) @ w^T + b, w: (out, in).
void linear(const float* x, int64_t n, int in, const std::vector<float>& w, const std::vector<float>& b, int out,
            float* y) {
  cpu::linear(y, x, w.data(), b.data(), static_cast<int>(n), out, in);
}

float activate(float x, Activation a) {
  switch (a) {
    case Activation::GeluErf: return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
    case Activation::GeluTanh: {
      const float k = 0.7978845608028654f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
    }
    case Activation::Relu: return x > 0 ? x : 0;
  }
  return x;
}

}  // namespace

BertModel::BertModel(const EncoderConfig& cfg, const fs::path& dir) : cfg_(cfg) {
  TensorSource src(dir);
  const int64_t H = cfg.hidden, I = cfg.intermediate;
  w_.word = src.get("embeddings.word_embeddings.weight", {cfg.vocab_size, H});
  w_.pos = src.get("embeddings.position_embeddings.weight", {cfg.max_positions, H});
  if (cfg.type_vocab > 0) w_.type = src.get("embeddings.token_type_embeddings.weight", {cfg.type_vocab, H});
  w_.emb_ln_g = src.get("embeddings.LayerNorm.weight", {H}, "embeddings.LayerNorm.gamma");
  w_.emb_ln_b = src.get("embeddings.LayerNorm.bias", {H}, "embeddings.LayerNorm.beta");
  for (int l = 0; l < cfg.layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    EncoderLayer L;
    L.wq = src.get(p + "attention.self.query.weight", {H, H});
    L.bq = src.get(p + "attention.self.query.bias", {H});
    L.wk = src.get(p + "attention.self.key.weight", {H, H});
    L.bk = src.get(p + "attention.self.key.bias", {H});
    L.wv = src.get(p + "attention.self.value.weight", {H, H});
    L.bv = src.get(p + "attention.self.value.bias", {H});
    L.wo = src.get(p + "attention.output.dense.weight", {H, H});
    L.bo = src.get(p + "attention.output.dense.bias", {H});
    L.ln1_g = src.get(p + "attention.output.LayerNorm.weight", {H}, p + "attention.output.LayerNorm.gamma");
    L.ln1_b = src.get(p + "attention.output.LayerNorm.bias", {H}, p + "attention.output.LayerNorm.beta");
    L.wi = src.get(p + "intermediate.dense.weight", {I, H});
    L.bi = src.get(p + "intermediate.dense.bias", {I});
    L.wo2 = src.get(p + "output.dense.weight", {H, I});
    L.bo2 = src.get(p + "output.dense.bias", {H});
    L.ln2_g = src.get(p + "output.LayerNorm.weight", {H}, p + "output.LayerNorm.gamma");
    L.ln2_b = src.get(p + "output.LayerNorm.bias", {H}, p + "output.LayerNorm.beta");
    w_.layers.push_back(std::move(L));
  }
}

BertModel::BertModel(const EncoderConfig& cfg, EncoderWeights w) : cfg_(cfg), w_(std::move(w)) { check_shapes(); }

void BertModel::check_shapes() const {
  const size_t H = cfg_.hidden, I = cfg_.intermediate;
  IGNIS_CHECK(w_.word.size() == cfg_.vocab_size * H && w_.pos.size() == cfg_.max_positions * H &&
                  w_.type.size() == cfg_.type_vocab * H && w_.emb_ln_g.size() == H && w_.emb_ln_b.size() == H &&
                  w_.layers.size() == static_cast<size_t>(cfg_.layers),
              "encoder weights do not match the config");
  for (const auto& L : w_.layers)
    IGNIS_CHECK(L.wq.size() == H * H && L.wk.size() == H * H && L.wv.size() == H * H && L.wo.size() == H * H &&
                    L.wi.size() == I * H && L.wo2.size() == H * I && L.bi.size() == I && L.bo2.size() == H,
                "encoder layer weights do not match the config");
}

void BertModel::check_inputs(const std::vector<EncoderInput>& batch) const {
  for (const auto& s : batch) {
    IGNIS_CHECK(s.ids.size() == s.type_ids.size(), "encoder input: {} ids but {} type ids", s.ids.size(),
                s.type_ids.size());
    IGNIS_CHECK(static_cast<int64_t>(s.ids.size()) + cfg_.position_offset <= cfg_.max_positions,
                "encoder input of {} tokens is longer than the model's {} positions", s.ids.size(),
                cfg_.max_positions - cfg_.position_offset);
    for (size_t i = 0; i < s.ids.size(); ++i) {
      int32_t id = s.ids[i], ty = s.type_ids[i];
      IGNIS_CHECK(id >= 0 && id < cfg_.vocab_size, "encoder input: token id {} outside the vocabulary of {}", id,
                  cfg_.vocab_size);
      IGNIS_CHECK(ty >= 0 && (ty < cfg_.type_vocab || (cfg_.type_vocab == 0 && ty == 0)),
                  "encoder input: token type id {} outside the {} types", ty, cfg_.type_vocab);
    }
  }
}

void pool(const float* h, int n, int dim, Pooling mode, bool normalize, float* out) {
  IGNIS_CHECK(n > 0, "encoder: cannot pool an empty sequence");
  switch (mode) {
    case Pooling::Cls:
      std::copy(h, h + dim, out);
      break;
    case Pooling::LastToken:
      std::copy(h + static_cast<int64_t>(n - 1) * dim, h + static_cast<int64_t>(n) * dim, out);
      break;
    case Pooling::Mean:
      for (int k = 0; k < dim; ++k) {
        double s = 0;
        for (int i = 0; i < n; ++i) s += h[static_cast<int64_t>(i) * dim + k];
        out[k] = static_cast<float>(s / n);
      }
      break;
    case Pooling::Max:
      for (int k = 0; k < dim; ++k) {
        float m = h[k];
        for (int i = 1; i < n; ++i) m = std::max(m, h[static_cast<int64_t>(i) * dim + k]);
        out[k] = m;
      }
      break;
  }
  if (normalize) {  // torch.nn.functional.normalize: x / max(||x||, 1e-12)
    double ss = 0;
    for (int k = 0; k < dim; ++k) ss += static_cast<double>(out[k]) * out[k];
    float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), 1e-12));
    for (int k = 0; k < dim; ++k) out[k] *= inv;
  }
}

std::vector<std::vector<float>> BertModel::embed(const std::vector<EncoderInput>& batch) const {
  std::vector<float> hidden = forward(batch);
  std::vector<std::vector<float>> out;
  out.reserve(batch.size());
  int64_t off = 0;
  for (const auto& in : batch) {
    out.emplace_back(cfg_.hidden);
    int n = static_cast<int>(in.ids.size());
    pool(hidden.data() + off * cfg_.hidden, n, cfg_.hidden, cfg_.pooling, cfg_.normalize, out.back().data());
    off += n;
  }
  return out;
}

std::vector<float> BertModel::forward(const std::vector<EncoderInput>& batch) const {
  const int H = cfg_.hidden, I = cfg_.intermediate, nh = cfg_.heads, dh = H / nh;
  check_inputs(batch);
  int64_t T = 0;
  std::vector<int64_t> start;  // token offset of each sequence
  for (const auto& s : batch) {
    start.push_back(T);
    T += static_cast<int64_t>(s.ids.size());
  }
  std::vector<float> x(T * H);  // (T, H)
  for (size_t b = 0; b < batch.size(); ++b)
    for (size_t i = 0; i < batch[b].ids.size(); ++i) {
      int32_t id = batch[b].ids[i], ty = batch[b].type_ids[i];
      float* row = x.data() + (start[b] + i) * H;
      const float* we = w_.word.data() + static_cast<int64_t>(id) * H;
      const float* pe = w_.pos.data() + (static_cast<int64_t>(i) + cfg_.position_offset) * H;
      for (int k = 0; k < H; ++k) row[k] = we[k] + pe[k];
      if (cfg_.type_vocab > 0) {
        const float* te = w_.type.data() + static_cast<int64_t>(ty) * H;
        for (int k = 0; k < H; ++k) row[k] += te[k];
      }
    }
  layer_norm(x.data(), T, H, w_.emb_ln_g.data(), w_.emb_ln_b.data(), cfg_.ln_eps);

  std::vector<float> q(T * H), k(T * H), v(T * H), ctx(T * H), tmp(T * H), inter(T * I);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (const auto& L : w_.layers) {
    linear(x.data(), T, H, L.wq, L.bq, H, q.data());
    linear(x.data(), T, H, L.wk, L.bk, H, k.data());
    linear(x.data(), T, H, L.wv, L.bv, H, v.data());
    for (size_t b = 0; b < batch.size(); ++b) {
      const int n = static_cast<int>(batch[b].ids.size());
      if (n == 0) continue;
      const int64_t o = start[b] * H;
      // Heads on parallel_for's threads (OpenBLAS is single-threaded: model/cpu/matmul.h).
      cpu::parallel_for(nh, n >= 64 ? 1 : nh, [&](int64_t h0, int64_t h1) {
        thread_local std::vector<float> scores;  // reused across heads, sequences and layers
        scores.resize(static_cast<size_t>(n) * n);
        for (int64_t h = h0; h < h1; ++h) {
          // scores (n, n) = q_h k_h^T * scale; softmax over keys; ctx_h = p v_h
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, scale, q.data() + o + h * dh, H,
                      k.data() + o + h * dh, H, 0.0f, scores.data(), n);
          for (int r = 0; r < n; ++r) {
            float* s = scores.data() + static_cast<size_t>(r) * n;
            float mx = s[0];
            for (int c = 1; c < n; ++c) mx = std::max(mx, s[c]);
            float sum = 0;
            for (int c = 0; c < n; ++c) sum += (s[c] = std::exp(s[c] - mx));
            for (int c = 0; c < n; ++c) s[c] /= sum;
          }
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f, scores.data(), n,
                      v.data() + o + h * dh, H, 0.0f, ctx.data() + o + h * dh, H);
        }
      });
    }
    linear(ctx.data(), T, H, L.wo, L.bo, H, tmp.data());
    for (int64_t i = 0; i < T * H; ++i) x[i] += tmp[i];
    layer_norm(x.data(), T, H, L.ln1_g.data(), L.ln1_b.data(), cfg_.ln_eps);
    linear(x.data(), T, H, L.wi, L.bi, I, inter.data());
    for (auto& e : inter) e = activate(e, cfg_.act);
    linear(inter.data(), T, I, L.wo2, L.bo2, H, tmp.data());
    for (int64_t i = 0; i < T * H; ++i) x[i] += tmp[i];
    layer_norm(x.data(), T, H, L.ln2_g.data(), L.ln2_b.data(), cfg_.ln_eps);
  }
  return x;
}

}  // namespace ignis::enc
