#include "tiny_checkpoint.h"

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "model/cpu/rope.h"
#include "quant/quantize.h"

namespace ignis::test {

ModelConfig tiny_config(Arch arch, int kv_heads, int sliding_window) {
  ModelConfig c;
  c.arch = arch;
  c.architecture = arch == Arch::Qwen2 ? "Qwen2ForCausalLM" : arch == Arch::Mistral ? "MistralForCausalLM"
                                                                                     : "LlamaForCausalLM";
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = kv_heads;
  c.head_dim = 8;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.sliding_window = sliding_window;
  c.attention_bias = arch == Arch::Qwen2;
  c.dtype = DType::F32;
  return c;
}

namespace {

void add_tensor(WeightStore& ws, const std::string& name, std::vector<int64_t> shape, DType dtype,
                std::mt19937_64& rng, float mean, float stddev) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<uint8_t> buf(size_t(n) * dtype_size(dtype));
  for (int64_t i = 0; i < n; ++i) {
    float f = dist(rng);
    if (dtype == DType::F32) std::memcpy(buf.data() + 4 * i, &f, 4);
    else {
      uint16_t h = dtype == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f);
      std::memcpy(buf.data() + 2 * i, &h, 2);
    }
  }
  TensorRef t;
  t.name = name;
  t.file = "<test>";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = buf.data();
  t.nbytes = buf.size();
  ws.keep_alive(std::move(buf));  // the vector's heap storage does not move
  ws.add(std::move(t));
}

std::vector<float> f32(const WeightStore& ws, const std::string& name) {
  const TensorRef& t = ws.all().at(name);
  std::vector<float> v(size_t(t.nbytes / dtype_size(t.dtype)));
  to_f32(t.dtype, t.data, v.data(), v.size());
  return v;
}

std::string ln(int l, const char* s) { return "model.layers." + std::to_string(l) + "." + s; }

// y (m, n) = x (m, k) W^T (W (n, k)) + b
std::vector<float> lin(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* b, int m,
                       int n, int k) {
  std::vector<float> y(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int t = 0; t < k; ++t) s += double(x[size_t(i) * k + t]) * w[size_t(j) * k + t];
      y[size_t(i) * n + j] = float(s + (b ? (*b)[j] : 0.0f));
    }
  return y;
}

std::vector<float> norm(const std::vector<float>& x, const std::vector<float>& w, int m, int d, float eps) {
  std::vector<float> y(x.size());
  for (int i = 0; i < m; ++i) {
    double ss = 0;
    for (int j = 0; j < d; ++j) ss += double(x[size_t(i) * d + j]) * x[size_t(i) * d + j];
    double r = 1.0 / std::sqrt(ss / d + eps);
    for (int j = 0; j < d; ++j) y[size_t(i) * d + j] = float(w[j] * (x[size_t(i) * d + j] * r));
  }
  return y;
}

}  // namespace

WeightStore tiny_weights(const ModelConfig& c, uint64_t seed, DType dtype) {
  WeightStore ws;
  std::mt19937_64 rng(seed);
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_size(), KV = c.kv_size();
  const float sh = 1.0f / std::sqrt(float(H)), si = 1.0f / std::sqrt(float(I)), sq = 1.0f / std::sqrt(float(Q));
  add_tensor(ws, "model.embed_tokens.weight", {c.vocab_size, H}, dtype, rng, 0.0f, 1.0f);
  if (c.fusion.enabled) {
    add_tensor(ws, "model.fc.weight", {H, 2 * H}, dtype, rng, 0.0f, 1.0f / std::sqrt(float(2 * H)));
    if (c.fusion.fc_bias) add_tensor(ws, "model.fc.bias", {H}, dtype, rng, 0.0f, 0.2f);
  }
  for (int l = 0; l < c.num_layers; ++l) {
    if (l > 0 || !c.fusion.enabled || c.fusion.first_input_norm)
      add_tensor(ws, ln(l, "input_layernorm.weight"), {H}, dtype, rng, 1.0f, 0.2f);
    add_tensor(ws, ln(l, "post_attention_layernorm.weight"), {H}, dtype, rng, 1.0f, 0.2f);
    add_tensor(ws, ln(l, "self_attn.q_proj.weight"), {Q, H}, dtype, rng, 0.0f, sh);
    add_tensor(ws, ln(l, "self_attn.k_proj.weight"), {KV, H}, dtype, rng, 0.0f, sh);
    add_tensor(ws, ln(l, "self_attn.v_proj.weight"), {KV, H}, dtype, rng, 0.0f, sh);
    if (c.attention_bias || c.arch == Arch::Qwen2) {
      add_tensor(ws, ln(l, "self_attn.q_proj.bias"), {Q}, dtype, rng, 0.0f, 0.2f);
      add_tensor(ws, ln(l, "self_attn.k_proj.bias"), {KV}, dtype, rng, 0.0f, 0.2f);
      add_tensor(ws, ln(l, "self_attn.v_proj.bias"), {KV}, dtype, rng, 0.0f, 0.2f);
    }
    add_tensor(ws, ln(l, "self_attn.o_proj.weight"), {H, Q}, dtype, rng, 0.0f, sq);
    if (c.o_proj_bias) add_tensor(ws, ln(l, "self_attn.o_proj.bias"), {H}, dtype, rng, 0.0f, 0.2f);
    add_tensor(ws, ln(l, "mlp.gate_proj.weight"), {I, H}, dtype, rng, 0.0f, sh);
    add_tensor(ws, ln(l, "mlp.up_proj.weight"), {I, H}, dtype, rng, 0.0f, sh);
    add_tensor(ws, ln(l, "mlp.down_proj.weight"), {H, I}, dtype, rng, 0.0f, si);
  }
  if (!c.fusion.enabled || c.fusion.final_norm) add_tensor(ws, "model.norm.weight", {H}, dtype, rng, 1.0f, 0.2f);
  if (!c.tie_word_embeddings) add_tensor(ws, "lm_head.weight", {c.vocab_size, H}, dtype, rng, 0.0f, 2.0f * sh);
  return ws;
}

namespace {

// True when y (= x / scale) is within a relative 1e-5 of the midpoint between two e4m3 neighbours.
bool near_midpoint(float y) {
  const float a = std::fabs(y);
  if (a >= 448.0f) return false;  // saturates either way
  const float r = e4m3_to_f32(f32_to_e4m3(a));
  // the neighbour on the other side of a: step to the next code up or down
  const uint8_t c = f32_to_e4m3(a);
  const float other = r <= a ? e4m3_to_f32(uint8_t(c + 1)) : (c == 0 ? 0.0f : e4m3_to_f32(uint8_t(c - 1)));
  const float mid = 0.5f * (r + other);
  return std::fabs(a - mid) <= 1e-5f * std::max(a, 1.0f / 512.0f);
}

// First row of x (m, k) with a value near a rounding midpoint under spec's input scales, or m.
int first_ambiguous_row(const std::vector<float>& x, int m, int k, const LinearSpec& s, float input_scale) {
  for (int r = 0; r < m; ++r) {
    const float* v = x.data() + size_t(r) * k;
    const int g = s.act == ActScale::DynamicGroup ? s.act_group : k;
    for (int j0 = 0; j0 < k; j0 += g) {
      const int len = std::min(g, k - j0);
      float sc = input_scale;
      if (s.act != ActScale::StaticTensor) {
        float amax = 0;
        for (int j = 0; j < len; ++j) amax = std::max(amax, std::fabs(v[j0 + j]));
        sc = dynamic_scale(amax);
      }
      const float inv = 1.0f / sc;
      for (int j = 0; j < len; ++j)
        if (near_midpoint(v[j0 + j] * inv)) return r;
    }
  }
  return m;
}

}  // namespace

std::vector<float> naive_logits(const ModelConfig& c, const WeightStore& ws, const std::vector<int32_t>& tokens,
                                const NaiveQuant* nq, const std::vector<float>* features) {
  if (nq) nq->ambiguous_from = int(tokens.size());
  // The input a module sees: x itself, or a fake-quantized copy when nq says so.
  auto in = [&](const std::string& module, const std::vector<float>& x, int m, int k) {
    if (!nq) return x;
    auto it = nq->inputs.find(module);
    if (it == nq->inputs.end()) return x;
    std::vector<float> y = x;
    nq->ambiguous_from = std::min(nq->ambiguous_from, first_ambiguous_row(x, m, k, it->second.first, it->second.second));
    fake_quant_activations(y.data(), m, k, it->second.first, it->second.second);
    return y;
  };
  const int n = int(tokens.size()), H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int Q = c.q_size(), KV = c.kv_size(), hd = c.head_dim, half = hd / 2;
  const int group = c.num_heads / c.num_kv_heads;
  auto emb = f32(ws, "model.embed_tokens.weight");
  std::vector<float> h(size_t(n) * H);
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < H; ++j) h[size_t(t) * H + j] = emb[size_t(tokens[t]) * H + j];
  if (c.fusion.enabled) {  // h = fc(concat(embed, feature)) (+ bias)
    IGNIS_CHECK(features && features->size() == size_t(n) * H, "naive_logits: a fusion model needs (n, hidden) features");
    std::vector<float> cat(size_t(n) * 2 * H);
    for (int t = 0; t < n; ++t)
      for (int j = 0; j < H; ++j) {
        cat[size_t(t) * 2 * H + j] = h[size_t(t) * H + j];
        cat[size_t(t) * 2 * H + H + j] = (*features)[size_t(t) * H + j];
      }
    std::vector<float> bias;
    if (c.fusion.fc_bias) bias = f32(ws, "model.fc.bias");
    h = lin(cat, f32(ws, "model.fc.weight"), c.fusion.fc_bias ? &bias : nullptr, n, H, 2 * H);
  }
  // Explicit mask: query i may see key j iff j <= i and (no window or i - j < window).
  std::vector<char> mask(size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) mask[size_t(i) * n + j] = j <= i && (c.sliding_window == 0 || i - j < c.sliding_window);
  auto inv = cpu::rope_inv_freq(hd, c.rope_theta, c.rope_scaling);
  auto rope = [&](std::vector<float>& x, int heads) {
    for (int t = 0; t < n; ++t)
      for (int hh = 0; hh < heads; ++hh) {
        float* v = x.data() + (size_t(t) * heads + hh) * hd;
        std::vector<float> r(hd);
        for (int i = 0; i < hd; ++i) {
          float a = float(t) * inv[i % half];
          float rot = i < half ? -v[i + half] : v[i - half];  // rotate_half
          r[i] = v[i] * float(std::cos(double(a))) + rot * float(std::sin(double(a)));
        }
        std::copy(r.begin(), r.end(), v);
      }
  };
  for (int l = 0; l < c.num_layers; ++l) {
    auto x = l == 0 && c.fusion.enabled && !c.fusion.first_input_norm
                 ? h
                 : norm(h, f32(ws, ln(l, "input_layernorm.weight")), n, H, c.rms_norm_eps);
    bool qb = c.attention_bias || c.arch == Arch::Qwen2;
    std::vector<float> bq, bk, bv, bo;
    if (qb) bq = f32(ws, ln(l, "self_attn.q_proj.bias")), bk = f32(ws, ln(l, "self_attn.k_proj.bias")),
            bv = f32(ws, ln(l, "self_attn.v_proj.bias"));
    if (c.o_proj_bias) bo = f32(ws, ln(l, "self_attn.o_proj.bias"));
    auto q = lin(in(ln(l, "self_attn.q_proj"), x, n, H), f32(ws, ln(l, "self_attn.q_proj.weight")), qb ? &bq : nullptr, n, Q, H);
    auto k = lin(in(ln(l, "self_attn.k_proj"), x, n, H), f32(ws, ln(l, "self_attn.k_proj.weight")), qb ? &bk : nullptr, n, KV, H);
    auto v = lin(in(ln(l, "self_attn.v_proj"), x, n, H), f32(ws, ln(l, "self_attn.v_proj.weight")), qb ? &bv : nullptr, n, KV, H);
    rope(q, c.num_heads);
    rope(k, c.num_kv_heads);
    if (nq && !nq->kv_scales.empty()) {
      for (size_t i = 0; i < k.size(); ++i) {
        const int t = int(i / size_t(KV));
        if (near_midpoint(k[i] / nq->kv_scales[size_t(l)].first) || near_midpoint(v[i] / nq->kv_scales[size_t(l)].second))
          nq->ambiguous_from = std::min(nq->ambiguous_from, t);
        k[i] = fake_quant_kv(k[i], nq->kv_scales[size_t(l)].first);
        v[i] = fake_quant_kv(v[i], nq->kv_scales[size_t(l)].second);
      }
    }
    std::vector<float> att(size_t(n) * Q);
    for (int hh = 0; hh < c.num_heads; ++hh) {
      int kh = hh / group;
      for (int i = 0; i < n; ++i) {
        std::vector<double> s(n, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < n; ++j) {
          if (!mask[size_t(i) * n + j]) continue;
          double d = 0;
          for (int e = 0; e < hd; ++e) d += double(q[(size_t(i) * c.num_heads + hh) * hd + e]) * k[(size_t(j) * c.num_kv_heads + kh) * hd + e];
          s[j] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += mask[size_t(i) * n + j] ? std::exp(s[j] - mx) : 0.0;
        for (int e = 0; e < hd; ++e) {
          double acc = 0;
          for (int j = 0; j < n; ++j)
            if (mask[size_t(i) * n + j]) acc += std::exp(s[j] - mx) / sum * v[(size_t(j) * c.num_kv_heads + kh) * hd + e];
          att[(size_t(i) * c.num_heads + hh) * hd + e] = float(acc);
        }
      }
    }
    auto o = lin(in(ln(l, "self_attn.o_proj"), att, n, Q), f32(ws, ln(l, "self_attn.o_proj.weight")), c.o_proj_bias ? &bo : nullptr, n, H, Q);
    for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
    x = norm(h, f32(ws, ln(l, "post_attention_layernorm.weight")), n, H, c.rms_norm_eps);
    auto g = lin(in(ln(l, "mlp.gate_proj"), x, n, H), f32(ws, ln(l, "mlp.gate_proj.weight")), nullptr, n, I, H);
    auto u = lin(in(ln(l, "mlp.up_proj"), x, n, H), f32(ws, ln(l, "mlp.up_proj.weight")), nullptr, n, I, H);
    for (size_t i = 0; i < g.size(); ++i) g[i] = float(g[i] / (1.0 + std::exp(-double(g[i]))) * u[i]);
    auto d = lin(in(ln(l, "mlp.down_proj"), g, n, I), f32(ws, ln(l, "mlp.down_proj.weight")), nullptr, n, H, I);
    for (size_t i = 0; i < h.size(); ++i) h[i] += d[i];
  }
  auto x = c.fusion.enabled && !c.fusion.final_norm ? h : norm(h, f32(ws, "model.norm.weight"), n, H, c.rms_norm_eps);
  auto head = f32(ws, c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  return lin(in("lm_head", x, n, H), head, nullptr, n, V, H);
}

double rel_err(const float* a, const float* b, size_t n) {
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) {
    md = std::max(md, std::fabs(double(a[i]) - b[i]));
    mb = std::max(mb, std::fabs(double(b[i])));
  }
  return mb > 0 ? md / mb : md;
}

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = int32_t(rng() % uint64_t(vocab));
  return t;
}

}  // namespace ignis::test
