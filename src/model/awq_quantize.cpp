// ignis quantize --method awq: activation collection, the scale search and the AutoAWQ gemm writer
// (see awq_quantize.h).
#include "model/awq_quantize.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "model/cpu/matmul.h"
#include "model/json_util.h"
#include "model/linear_weights.h"
#include "model/quantize_checkpoint.h"
#include "model/safetensors.h"
#include "quant/int_quant.h"

namespace ignis {

namespace fs = std::filesystem;

namespace {

class RowObserver : public CalibrationObserver {
 public:
  RowObserver(AwqActivations& a, int64_t stride) : a_(a), stride_(stride) {}
  void input_amax(int, LinearSlot, float) override {}
  void kv_amax(int, float, float) override {}
  void input_rows(int layer, LinearSlot slot, const float* x, int64_t rows, int64_t k) override {
    if (layer < 0 || slot == LinearSlot::LmHead) return;
    AwqActivations::Slot& s = a_.layers.at(size_t(layer))[size_t(slot)];
    if (s.k == 0) {
      s.k = k;
      s.abs_sum.assign(size_t(k), 0.0);
    }
    IGNIS_CHECK(s.k == k, "awq: layer {} slot {}: inputs of {} and {} channels", layer, int(slot), s.k, k);
    for (int64_t r = 0; r < rows; ++r, ++s.seen) {
      const float* row = x + r * k;
      for (int64_t c = 0; c < k; ++c) s.abs_sum[size_t(c)] += std::fabs(row[c]);
      if (s.seen % stride_ == 0 && s.rows < max_rows) {
        s.x.insert(s.x.end(), row, row + k);
        ++s.rows;
      }
    }
  }
  int64_t max_rows = 0;

 private:
  AwqActivations& a_;
  int64_t stride_;
};

std::vector<float> to_f32_vec(const TensorRef& t) {
  std::vector<float> v(size_t(t.numel()));
  to_f32(t.dtype, t.data, v.data(), v.size());
  return v;
}

std::vector<uint8_t> from_f32(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> b(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(b.data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h = t == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

template <typename T>
std::vector<uint8_t> raw_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

LinearSpec awq_spec(int group) {
  LinearSpec s;
  s.bits = 4;
  s.group = group;
  s.zero_point = true;
  s.layout = IntLayout::AwqGemm;
  return s;
}

// mean over (m, n) of (x (a - b)^T)^2.
double output_mse(const float* x, int64_t m, const std::vector<float>& diff, int64_t n, int64_t k) {
  std::vector<float> y(size_t(m * n));
  cpu::linear(y.data(), x, diff.data(), nullptr, int(m), int(n), int(k));
  double s = 0;
  for (float v : y) s += double(v) * double(v);
  return s / double(std::max<int64_t>(1, m * n));
}

}  // namespace

std::vector<float> AwqActivations::Slot::mean() const {
  std::vector<float> m(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c) m[size_t(c)] = float(abs_sum[size_t(c)] / double(std::max<int64_t>(1, seen)));
  return m;
}

AwqActivations collect_awq_activations(Model& model, const std::vector<std::vector<int32_t>>& samples, int max_rows,
                                       bool progress) {
  IGNIS_CHECK(!samples.empty(), "awq: no calibration samples");
  IGNIS_CHECK(max_rows > 0, "awq: max_rows must be positive");
  AwqActivations a;
  a.layers.resize(size_t(model.config().num_layers));
  int64_t total = 0;
  for (auto& s : samples) total += int64_t(s.size());
  RowObserver obs(a, std::max<int64_t>(1, total / max_rows));
  obs.max_rows = max_rows;
  IGNIS_CHECK(model.set_calibration_observer(&obs), "awq: the {} backend cannot report activations (use the CPU)",
              model.backend_name());
  size_t max_len = 0;
  for (auto& s : samples) max_len = std::max(max_len, s.size());
  const int bs = 16, blocks = int((max_len + bs - 1) / bs);
  model.init_kv_cache(blocks, bs);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int b = 0; b < blocks; ++b) table[size_t(b)] = b;
  std::vector<float> logits;
  try {
    for (size_t i = 0; i < samples.size(); ++i) {
      IGNIS_CHECK(!samples[i].empty() && samples[i].size() <= size_t(model.config().max_position_embeddings),
                  "awq: calibration sample {} has {} tokens", i, samples[i].size());
      ForwardBatch b;
      b.tokens = samples[i];
      b.seqs.push_back({0, int32_t(samples[i].size()), table, false});
      model.forward(b, logits);
      if (progress) std::fprintf(stderr, "\rawq: collecting activations %zu/%zu", i + 1, samples.size());
    }
  } catch (...) {
    model.set_calibration_observer(nullptr);
    throw;
  }
  model.set_calibration_observer(nullptr);
  if (progress) std::fprintf(stderr, "\n");
  for (size_t l = 0; l < a.layers.size(); ++l)
    for (auto& s : a.layers[l]) IGNIS_CHECK(s.rows > 0, "awq: layer {}: the backend reported no input rows", l);
  return a;
}

AwqSearch awq_search_scale(const float* w, int64_t n, int64_t k, const float* x, int64_t m,
                           const std::vector<float>& x_mean, int group, int grid) {
  IGNIS_CHECK(int64_t(x_mean.size()) == k && grid >= 1 && m > 0, "awq_search_scale: bad arguments");
  const LinearSpec spec = awq_spec(group);
  AwqSearch best;
  best.loss = INFINITY;
  std::vector<float> s(static_cast<size_t>(k)), diff(static_cast<size_t>(n * k)), deq(static_cast<size_t>(n * k));
  for (int i = 0; i < grid; ++i) {
    const float alpha = float(i) / float(grid);
    float mx = 0, mn = INFINITY;
    for (int64_t c = 0; c < k; ++c) {
      s[size_t(c)] = std::max(std::pow(x_mean[size_t(c)], alpha), 1e-4f);
      mx = std::max(mx, s[size_t(c)]), mn = std::min(mn, s[size_t(c)]);
    }
    const float norm = std::sqrt(mx * mn);
    for (float& v : s) v /= norm;
    const IntLinear q = quantize_weight_int(w, n, k, spec, s.data());
    dequantize_int(q, deq.data());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) diff[size_t(r * k + c)] = w[r * k + c] - deq[size_t(r * k + c)] / s[size_t(c)];
    const double loss = output_mse(x, m, diff, n, k);
    if (i == 0) best.loss_rtn = loss;
    if (loss < best.loss) {
      best.loss = loss;
      best.alpha = alpha;
      best.s = s;
    }
  }
  return best;
}

AwqReport write_awq_checkpoint(const fs::path& in_dir, const fs::path& out_dir, const ModelConfig& cfg,
                               const WeightStore& ws, const AwqActivations& act, const AwqOptions& opt) {
  std::error_code ec;
  IGNIS_CHECK(!cfg.quant.quantized(), "{}: the checkpoint is quantized already ({}, {})", in_dir.string(),
              quant_method_name(cfg.quant.method), cfg.quant.source);
  IGNIS_CHECK(!fs::exists(out_dir, ec) || (fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec)),
              "{}: the output folder exists and is not empty", out_dir.string());
  IGNIS_CHECK(int(act.layers.size()) == cfg.num_layers, "awq: activations of {} layers for {}", act.layers.size(),
              cfg.num_layers);
  const int g = opt.group_size;
  IGNIS_CHECK(g > 0, "awq: --group-size must be positive");
  for (int64_t k : {int64_t(cfg.hidden_size), int64_t(cfg.q_size()), int64_t(cfg.intermediate_size)})
    IGNIS_CHECK(k % g == 0, "awq: --group-size {} does not divide the input dimension {} of a projection (hidden {}, "
                "attention {}, intermediate {}); try 64 or 32", g, k, cfg.hidden_size, cfg.q_size(),
                cfg.intermediate_size);
  const LinearSpec spec = awq_spec(g);
  AwqReport rep;
  std::map<std::string, std::vector<float>> dense;  // the layer's tensors being scaled (fp32)
  std::vector<SafetensorsWriteTensor> out;
  auto get = [&](const std::string& name) -> std::vector<float>& {
    auto it = dense.find(name);
    if (it == dense.end()) it = dense.emplace(name, to_f32_vec(ws.get(name))).first;
    return it->second;
  };
  auto search = [&](const std::vector<std::string>& mods, const AwqActivations::Slot& sl) {
    int64_t n = 0;
    const int64_t k = sl.k;
    std::vector<float> w;
    for (auto& m : mods) {
      auto& p = get(m + ".weight");
      w.insert(w.end(), p.begin(), p.end());
      n += int64_t(p.size()) / k;
    }
    IGNIS_CHECK(int64_t(w.size()) == n * k, "awq: {}: weights are not ({}, {})", mods[0], n, k);
    AwqSearch r = awq_search_scale(w.data(), n, k, sl.x.data(), sl.rows, sl.mean(), g, opt.grid);
    rep.loss_rtn += r.loss_rtn;
    rep.loss += r.loss;
    rep.groups++;
    for (auto& m : mods) {  // columns * s
      auto& p = get(m + ".weight");
      for (size_t i = 0; i < p.size(); ++i) p[i] *= r.s[i % size_t(k)];
    }
    return r.s;
  };
  auto divide_rows = [&](const std::string& name, const std::vector<float>& s) {  // (k) rows, or a (k) vector
    auto& p = get(name);
    const size_t cols = p.size() / s.size();
    for (size_t i = 0; i < p.size(); ++i) p[i] /= s[i / cols];
  };
  const bool one_kv_per_head = cfg.num_kv_heads == cfg.num_heads;
  for (int l = 0; l < cfg.num_layers; ++l) {
    const LayerLinears L = layer_linears(l);
    const auto& a = act.layers[size_t(l)];
    const std::string attn_norm = layer_tensor_name(l, "input_layernorm.weight");
    const std::string mlp_norm = layer_tensor_name(l, "post_attention_layernorm.weight");
    divide_rows(attn_norm, search(L.qkv, a[size_t(LinearSlot::Qkv)]));
    if (one_kv_per_head) {
      const std::vector<float> s = search(L.o, a[size_t(LinearSlot::O)]);
      divide_rows(L.qkv[2] + ".weight", s);
      if (ws.has(L.qkv[2] + ".bias")) divide_rows(L.qkv[2] + ".bias", s);
    }
    divide_rows(mlp_norm, search(L.gate_up, a[size_t(LinearSlot::GateUp)]));
    divide_rows(L.gate_up[1] + ".weight", search(L.down, a[size_t(LinearSlot::Down)]));
    std::vector<std::string> mods = L.qkv;
    for (auto* v : {&L.o, &L.gate_up, &L.down}) mods.insert(mods.end(), v->begin(), v->end());
    for (const std::string& m : mods) {
      const TensorRef& t = ws.get(m + ".weight");
      const int64_t n = t.shape[0], k = t.shape[1];
      const IntLinear q = quantize_weight_int(get(m + ".weight").data(), n, k, spec);
      const AwqTensors p = pack_awq(q);
      out.push_back({m + ".qweight", DType::I32, {k, n / 8}, raw_bytes(p.qweight)});
      out.push_back({m + ".qzeros", DType::I32, {k / g, n / 8}, raw_bytes(p.qzeros)});
      out.push_back({m + ".scales", DType::F16, {k / g, n}, raw_bytes(p.scales)});
      dense.erase(m + ".weight");
    }
    for (auto& [name, v] : dense) {  // scaled norms and biases, in their dtype
      const TensorRef& t = ws.get(name);
      out.push_back({name, t.dtype, t.shape, from_f32(v, t.dtype)});
    }
    dense.clear();
    if (opt.progress)
      std::fprintf(stderr, "\rawq: layer %d/%d, output error %.3g (rtn %.3g)", l + 1, cfg.num_layers, rep.loss,
                   rep.loss_rtn);
  }
  if (opt.progress) std::fprintf(stderr, "\n");
  std::set<std::string> written;
  for (auto& t : out) written.insert(t.name);
  for (const auto& [name, t] : ws.all()) {  // everything else as it is
    const bool proj = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && t.shape.size() == 2 &&
                      name.rfind("model.layers.", 0) == 0;
    if (proj || written.count(name)) continue;
    const auto* p = static_cast<const uint8_t*>(t.data);
    out.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  fs::create_directories(out_dir);
  write_safetensors((out_dir / "model.safetensors").string(), out, {{"format", "pt"}});
  nlohmann::ordered_json cj = nlohmann::ordered_json::parse(jsonf::read_text_file((in_dir / "config.json").string()));
  nlohmann::ordered_json q = nlohmann::ordered_json::object();  // AutoAWQ's to_transformers_dict, in its order
  q["quant_method"] = "awq";
  q["zero_point"] = true;
  q["group_size"] = g;
  q["bits"] = 4;
  q["version"] = "gemm";
  q["modules_to_not_convert"] = nullptr;
  cj["quantization_config"] = q;
  {
    std::ofstream f(out_dir / "config.json");
    f << cj.dump(2) << "\n";
    IGNIS_CHECK(f.good(), "{}: write failed", (out_dir / "config.json").string());
  }
  copy_side_files(in_dir, out_dir);
  return rep;
}

}  // namespace ignis
