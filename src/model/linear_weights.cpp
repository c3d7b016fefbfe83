// load_linear / load_kv_scales: projections and KV scales read from a WeightStore as cfg.quant says,
// checked (shapes, dtypes, finite positive scales) with errors naming the file and the tensor.
#include "model/linear_weights.h"

#include <algorithm>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "quant/config.h"

namespace ignis {

namespace {

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string leaf(const std::string& module) {
  size_t p = module.rfind('.');
  return p == std::string::npos ? module : module.substr(p + 1);
}

// (n, k) config.json implies for a projection module, by its leaf name; nullopt for other names.
std::optional<std::pair<int64_t, int64_t>> module_shape(const ModelConfig& c, const std::string& module) {
  const int64_t H = c.hidden_size, Q = c.q_size(), KV = c.kv_size(), I = c.intermediate_size, V = c.vocab_size;
  const std::string l = leaf(module);
  if (l == "q_proj") return std::pair{Q, H};
  if (l == "k_proj" || l == "v_proj") return std::pair{KV, H};
  if (l == "o_proj") return std::pair{H, Q};
  if (l == "gate_proj" || l == "up_proj") return std::pair{I, H};
  if (l == "down_proj") return std::pair{H, I};
  if (l == "lm_head") return std::pair{V, H};
  return std::nullopt;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

std::vector<std::vector<int64_t>> weight_scale_shapes(const LinearSpec& s, int64_t n, int64_t k) {
  switch (s.wscale) {
    case WeightScale::Tensor: return {{}, {1}};
    case WeightScale::Channel: return {{n, 1}, {n}};
    case WeightScale::Block: return {{(n + s.block_n - 1) / s.block_n, (k + s.block_k - 1) / s.block_k}};
    case WeightScale::None: break;
  }
  return {};
}

const std::vector<std::vector<int64_t>> kScalarShapes = {{}, {1}};

// Names of layer l's KV scale tensors: compressed-tensors' first, then ModelOpt's.
std::vector<std::string> kv_scale_names(int l, char which) {
  std::string w(1, which);
  return {fmt::format("model.layers.{}.self_attn.{}_scale", l, w),
          fmt::format("model.layers.{}.self_attn.{}_proj.{}_scale", l, w, w)};
}

std::string shapes_str(const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<std::string> s;
  for (auto& x : shapes) s.push_back(shape_str(x));
  return fmt::format("{}", fmt::join(s, " or "));
}

// A scale tensor's values as fp32, checked: float dtype, one of `shapes`, every value finite and > 0.
std::vector<float> read_scales(const TensorRef& t, const std::vector<std::vector<int64_t>>& shapes) {
  IGNIS_CHECK(is_float(t.dtype), "{}: tensor '{}': scale dtype {} is not supported (F32, BF16 or F16)", t.file,
              t.name, dtype_name(t.dtype));
  bool ok = false;
  for (auto& s : shapes) ok = ok || s == t.shape;
  IGNIS_CHECK(ok, "{}: tensor '{}': shape {} is not a valid scale shape here (expected {})", t.file, t.name,
              shape_str(t.shape), shapes_str(shapes));
  const size_t n = size_t(t.numel());
  IGNIS_CHECK(t.data && t.nbytes == n * dtype_size(t.dtype), "{}: tensor '{}' has {} bytes for {} elements", t.file,
              t.name, t.nbytes, n);
  std::vector<float> v(n);
  to_f32(t.dtype, t.data, v.data(), n);
  for (size_t i = 0; i < n; ++i)
    IGNIS_CHECK(std::isfinite(v[i]) && v[i] > 0.0f,
                "{}: tensor '{}': scale [{}] = {} must be finite and positive", t.file, t.name, i, v[i]);
  return v;
}

// One FP8 part as stored in the checkpoint.
QuantizedLinear read_fp8_part(const WeightStore& ws, const ModelConfig& cfg, const std::string& module,
                              const LinearSpec& spec, int64_t n, int64_t k) {
  const TensorRef& w = ws.get(module + ".weight");
  IGNIS_CHECK(w.dtype == DType::F8_E4M3, "{}: tensor '{}': dtype {}, but {} ({}) stores it as F8_E4M3 ({})", w.file,
              w.name, dtype_name(w.dtype), cfg.quant.source, quant_method_name(cfg.quant.method), spec.describe());
  IGNIS_CHECK(w.data && w.nbytes == size_t(n * k), "{}: tensor '{}' has {} bytes for {} FP8 elements", w.file, w.name,
              w.nbytes, n * k);
  QuantizedLinear q;
  q.spec = spec;
  q.n = n;
  q.k = k;
  q.data.resize(size_t(n * k));
  std::memcpy(q.data.data(), w.data, q.data.size());
  const std::string sname = module + "." + cfg.quant.weight_scale_name();
  IGNIS_CHECK(ws.has(sname), "{}: missing tensor '{}' (the weight scale of FP8 tensor '{}', {})", ws.origin(), sname,
              w.name, spec.describe());
  q.scale = read_scales(ws.get(sname), weight_scale_shapes(spec, n, k));
  if (spec.act == ActScale::StaticTensor) {
    const std::string iname = module + ".input_scale";
    IGNIS_CHECK(ws.has(iname), "{}: missing tensor '{}' (static input scale of '{}', {})", ws.origin(), iname, w.name,
                spec.describe());
    q.input_scale = read_scales(ws.get(iname), kScalarShapes)[0];
  }
  return q;
}


// ---- integer weight-only checkpoints ----

struct IntTensorShape {  // one published tensor of an integer projection
  std::string suffix;
  std::vector<int64_t> shape;
  CheckpointTensor::Kind kind;
  bool required = true;
};

// The published tensors of an integer projection `module` (n, k) stored as `s` says.
std::vector<IntTensorShape> int_tensor_shapes(const QuantConfig& qc, const LinearSpec& s, const std::string& module,
                                              int64_t n, int64_t k) {
  using K = CheckpointTensor::Kind;
  const int64_t g = s.group_size(k);
  IGNIS_CHECK(k % g == 0, "{}: group_size {} does not divide the input dimension {} of {}", qc.source, g, k, module);
  const int64_t G = k / g, pack = 32 / s.bits;
  switch (s.layout) {
    case IntLayout::AwqGemm:
      IGNIS_CHECK(n % 8 == 0, "{}: {} has {} outputs: AWQ packs 8 outputs per int32", qc.source, module, n);
      return {{"qweight", {k, n / 8}, K::Packed}, {"qzeros", {G, n / 8}, K::Packed}, {"scales", {G, n}, K::Scale}};
    case IntLayout::Gptq: {
      IGNIS_CHECK(k % pack == 0 && n % pack == 0, "{}: {} is ({}, {}): GPTQ packs {} values per int32", qc.source,
                  module, n, k, pack);
      std::vector<IntTensorShape> t = {{"qweight", {k / pack, n}, K::Packed},
                                       {"qzeros", {G, n / pack}, K::Packed},
                                       {"scales", {G, n}, K::Scale},
                                       {"g_idx", {k}, K::Index, s.act_order}};
      return t;
    }
    case IntLayout::CtPacked: {
      IGNIS_CHECK(k % pack == 0, "{}: {} has {} inputs: not a multiple of {} ({}-bit codes per int32)", qc.source,
                  module, k, pack, s.bits);
      std::vector<IntTensorShape> t = {{"weight_packed", {n, k / pack}, K::Packed},
                                       {"weight_scale", {n, G}, K::Scale},
                                       {"weight_shape", {2}, K::Index}};
      if (s.zero_point) t.push_back({"weight_zero_point", {(n + pack - 1) / pack, G}, K::Packed});
      if (s.act_order) t.push_back({"weight_g_idx", {k}, K::Index});
      return t;
    }
    default: break;
  }
  IGNIS_FAIL("{}: {}: no checkpoint layout for {}", qc.source, module, s.describe());
}

const TensorRef& int_tensor(const WeightStore& ws, const std::string& name, const std::vector<int64_t>& shape,
                            const std::string& why, bool i64_ok = false) {
  IGNIS_CHECK(ws.has(name), "{}: missing tensor '{}' ({})", ws.origin(), name, why);
  const TensorRef& t = ws.get(name);
  IGNIS_CHECK(t.dtype == DType::I32 || (i64_ok && t.dtype == DType::I64),
              "{}: tensor '{}': dtype {}, expected I32 ({})", t.file, name, dtype_name(t.dtype), why);
  IGNIS_CHECK(t.shape == shape, "{}: tensor '{}': shape {}, expected {} ({})", t.file, name, shape_str(t.shape),
              shape_str(shape), why);
  IGNIS_CHECK(t.data && t.nbytes == size_t(t.numel()) * dtype_size(t.dtype), "{}: tensor '{}' has {} bytes for {} "
              "elements (truncated?)", t.file, name, t.nbytes, t.numel());
  return t;
}

std::vector<float> float_tensor(const WeightStore& ws, const std::string& name, const std::vector<int64_t>& shape,
                                const std::string& why) {
  IGNIS_CHECK(ws.has(name), "{}: missing tensor '{}' ({})", ws.origin(), name, why);
  const TensorRef& t = ws.get(name);
  IGNIS_CHECK(is_float(t.dtype), "{}: tensor '{}': scale dtype {} is not supported (F16, BF16 or F32)", t.file, name,
              dtype_name(t.dtype));
  IGNIS_CHECK(t.shape == shape, "{}: tensor '{}': shape {}, expected {} ({})", t.file, name, shape_str(t.shape),
              shape_str(shape), why);
  const size_t n = size_t(t.numel());
  IGNIS_CHECK(t.data && t.nbytes == n * dtype_size(t.dtype), "{}: tensor '{}' has {} bytes for {} elements (truncated?)",
              t.file, name, t.nbytes, n);
  std::vector<float> v(n);
  to_f32(t.dtype, t.data, v.data(), n);
  for (size_t i = 0; i < n; ++i)
    IGNIS_CHECK(std::isfinite(v[i]), "{}: tensor '{}': scale [{}] = {} is not finite", t.file, name, i, v[i]);
  return v;
}

const int32_t* i32(const TensorRef& t) { return static_cast<const int32_t*>(t.data); }

// One integer part as the checkpoint stores it, unpacked to the internal layout and checked.
IntLinear read_int_part(const WeightStore& ws, const ModelConfig& cfg, const std::string& module,
                        const LinearSpec& spec, int64_t n, int64_t k) {
  const std::string why = fmt::format("{} of {}, {}", spec.describe(), module, cfg.quant.source);
  const auto shapes = int_tensor_shapes(cfg.quant, spec, module, n, k);
  auto shape_of = [&](const char* suffix) {
    for (auto& t : shapes)
      if (t.suffix == suffix) return t.shape;
    IGNIS_FAIL("internal: no tensor {}", suffix);
  };
  auto name = [&](const char* suffix) { return module + "." + suffix; };
  IntLinear q;
  std::string file;
  if (spec.layout == IntLayout::AwqGemm) {
    const TensorRef& qw = int_tensor(ws, name("qweight"), shape_of("qweight"), why);
    const TensorRef& qz = int_tensor(ws, name("qzeros"), shape_of("qzeros"), why);
    const std::vector<float> sc = float_tensor(ws, name("scales"), shape_of("scales"), why);
    q = unpack_awq(i32(qw), i32(qz), sc.data(), n, k, spec);
    file = qw.file;
  } else if (spec.layout == IntLayout::Gptq) {
    const TensorRef& qw = int_tensor(ws, name("qweight"), shape_of("qweight"), why);
    const TensorRef& qz = int_tensor(ws, name("qzeros"), shape_of("qzeros"), why);
    const std::vector<float> sc = float_tensor(ws, name("scales"), shape_of("scales"), why);
    const TensorRef* gi = nullptr;
    if (spec.act_order || ws.has(name("g_idx"))) gi = &int_tensor(ws, name("g_idx"), shape_of("g_idx"), why);
    q = unpack_gptq(i32(qw), i32(qz), sc.data(), gi ? i32(*gi) : nullptr, n, k, spec);
    file = qw.file;
  } else if (spec.layout == IntLayout::CtPacked) {
    const TensorRef& wp = int_tensor(ws, name("weight_packed"), shape_of("weight_packed"), why);
    const std::vector<float> sc = float_tensor(ws, name("weight_scale"), shape_of("weight_scale"), why);
    const TensorRef& wsh = int_tensor(ws, name("weight_shape"), {2}, why, true);
    int64_t dims[2];
    for (int i = 0; i < 2; ++i)
      dims[i] = wsh.dtype == DType::I64 ? static_cast<const int64_t*>(wsh.data)[i] : int64_t(i32(wsh)[i]);
    IGNIS_CHECK(dims[0] == n && dims[1] == k, "{}: tensor '{}' = [{}, {}], expected [{}, {}] (config.json)", wsh.file,
                wsh.name, dims[0], dims[1], n, k);
    const TensorRef* zp = spec.zero_point ? &int_tensor(ws, name("weight_zero_point"), shape_of("weight_zero_point"), why)
                                          : nullptr;
    const TensorRef* gi = spec.act_order ? &int_tensor(ws, name("weight_g_idx"), shape_of("weight_g_idx"), why) : nullptr;
    q = unpack_compressed(i32(wp), sc.data(), zp ? i32(*zp) : nullptr, gi ? i32(*gi) : nullptr, n, k, spec);
    file = wp.file;
  } else {
    IGNIS_FAIL("{}: {}: {} is not a checkpoint layout", cfg.quant.source, module, spec.describe());
  }
  check_int_linear(q, file + ": " + module);
  drop_trivial_g_idx(q);
  return q;
}

// Fuses FP8 parts along n (see load_linear).
QuantizedLinear fuse(std::vector<QuantizedLinear> parts, const std::string& name) {
  if (parts.size() == 1) return std::move(parts[0]);
  QuantizedLinear f;
  f.spec = parts[0].spec;
  f.k = parts[0].k;
  for (auto& p : parts) f.n += p.n;
  f.data.reserve(size_t(f.n * f.k));
  for (auto& p : parts) f.data.insert(f.data.end(), p.data.begin(), p.data.end());
  const WeightScale ws = f.spec.wscale;
  if (ws == WeightScale::Tensor || ws == WeightScale::Channel) {
    bool same = ws == WeightScale::Tensor;
    for (auto& p : parts) same = same && p.scale[0] == parts[0].scale[0];
    if (same) {
      f.scale = {parts[0].scale[0]};
    } else {
      f.spec.wscale = WeightScale::Channel;
      f.scale.reserve(size_t(f.n));
      for (auto& p : parts)
        for (int64_t r = 0; r < p.n; ++r) f.scale.push_back(p.scale_at(r, 0));
    }
  } else {  // Block: re-block along n at gcd(block_n, part row counts) so every boundary is a block edge
    int64_t bn = f.spec.block_n;
    for (size_t i = 0; i + 1 < parts.size(); ++i) bn = std::gcd(bn, parts[i].n);
    const int64_t kb = (f.k + f.spec.block_k - 1) / f.spec.block_k;
    f.spec.block_n = int(bn);
    for (auto& p : parts)
      for (int64_t r = 0; r < p.n; r += bn)
        for (int64_t c = 0; c < kb; ++c) f.scale.push_back(p.scale_at(r, c * f.spec.block_k));
  }
  if (f.spec.act == ActScale::StaticTensor) {
    float mx = 0.0f, mn = INFINITY;
    for (auto& p : parts) mx = std::max(mx, p.input_scale), mn = std::min(mn, p.input_scale);
    if (mx != mn)
      IGNIS_LOG(Warn, "{}: the fused parts have different static input scales ({} to {}); using the largest", name,
                mn, mx);
    f.input_scale = mx;
  }
  return f;
}

std::string fused_name(const std::vector<std::string>& modules) {
  if (modules.size() == 1) return modules[0];
  const std::string& m0 = modules[0];
  const size_t dot = m0.rfind('.');
  std::string prefix = dot == std::string::npos ? "" : m0.substr(0, dot + 1);
  std::vector<std::string> stems;
  bool short_stems = true;
  for (auto& m : modules) {
    std::string s = leaf(m);
    if (s.size() > 5 && s.compare(s.size() - 5, 5, "_proj") == 0) s.resize(s.size() - 5);
    short_stems = short_stems && s.size() == 1;
    stems.push_back(s);
  }
  return prefix + fmt::format("{}", fmt::join(stems, short_stems ? "" : "_")) + " (fused)";
}

}  // namespace

bool checkpoint_fp8(const ModelConfig& cfg, const std::string& module) {
  return cfg.quant.method != QuantConfig::Method::OnLoad && cfg.quant.spec_for(module, cfg.dtype).fp8();
}

bool checkpoint_int(const ModelConfig& cfg, const std::string& module) {
  return cfg.quant.method != QuantConfig::Method::OnLoad && cfg.quant.spec_for(module, cfg.dtype).wint();
}

int on_load_int_group(int64_t k) {
  for (int g = kOnLoadIntGroup; g >= 32; g /= 2)
    if (k % g == 0) return g;
  return 0;
}

LayerLinears layer_linears(int l) {
  auto n = [l](const char* s) { return fmt::format("model.layers.{}.{}", l, s); };
  return {{n("self_attn.q_proj"), n("self_attn.k_proj"), n("self_attn.v_proj")},
          {n("self_attn.o_proj")},
          {n("mlp.gate_proj"), n("mlp.up_proj")},
          {n("mlp.down_proj")}};
}

HostLinear load_linear(const WeightStore& ws, const ModelConfig& cfg, const std::vector<std::string>& modules,
                       int64_t k) {
  IGNIS_CHECK(!modules.empty() && k > 0, "load_linear: no modules or bad k {}", k);
  HostLinear h;
  h.name = fused_name(modules);
  h.k = k;
  const LinearSpec spec = cfg.quant.spec_for(modules[0], cfg.dtype);
  const bool on_load = cfg.quant.method == QuantConfig::Method::OnLoad;
  std::vector<QuantizedLinear> parts;
  std::vector<IntLinear> iparts;
  LinearSpec ispec = spec;  // integer on load: the group this k takes
  if (spec.wint() && on_load) ispec.group = on_load_int_group(k);
  for (const std::string& m : modules) {
    const LinearSpec s = cfg.quant.spec_for(m, cfg.dtype);
    IGNIS_CHECK(s == spec, "{}: the parts of {} are quantized differently ({}: {}; {}: {}); fused projections need "
                "one scheme (check the ignore list)", cfg.quant.source, h.name, modules[0], spec.describe(), m,
                s.describe());
    if (spec.wint() && !on_load) {  // published integer tensors, no .weight
      const auto want = module_shape(cfg, m);
      const TensorRef* any = nullptr;
      for (const char* suf : {".qweight", ".weight_packed"})
        if (ws.has(m + suf)) any = &ws.get(m + suf);
      IGNIS_CHECK(any, "{}: missing tensor '{}' ({} stores {} as {})", ws.origin(),
                  m + (spec.layout == IntLayout::CtPacked ? ".weight_packed" : ".qweight"), cfg.quant.source, m,
                  spec.describe());
      IGNIS_CHECK(want, "{}: {}: not a projection of the model", cfg.quant.source, m);
      IGNIS_CHECK(want->second == k, "{}: {}: k {} does not match config.json ({})", cfg.quant.source, m, k, want->second);
      iparts.push_back(read_int_part(ws, cfg, m, spec, want->first, k));
      h.n += want->first;
      continue;
    }
    const std::string wname = m + ".weight";
    IGNIS_CHECK(ws.has(wname), "{}: missing tensor '{}'", ws.origin(), wname);
    const TensorRef& t = ws.get(wname);
    IGNIS_CHECK(t.shape.size() == 2 && t.shape[1] == k, "{}: tensor '{}': shape {} does not match config.json "
                "(expected [n, {}])", t.file, wname, shape_str(t.shape), k);
    const int64_t n = t.shape[0];
    if (auto want = module_shape(cfg, m))
      IGNIS_CHECK(want->first == n && want->second == k, "{}: tensor '{}': shape {} does not match config.json "
                  "(expected [{}, {}])", t.file, wname, shape_str(t.shape), want->first, want->second);
    h.n += n;
    if (!spec.quantized() || on_load) {
      IGNIS_CHECK(is_float(t.dtype), "{}: tensor '{}': dtype {} is not supported (expected F32, F16 or BF16{})",
                  t.file, wname, dtype_name(t.dtype),
                  t.dtype == DType::F8_E4M3 ? "; FP8 weights need a quantization_config in config.json" : "");
      IGNIS_CHECK(t.data && t.nbytes == size_t(n * k) * dtype_size(t.dtype), "{}: tensor '{}' has {} bytes for {} "
                  "elements", t.file, wname, t.nbytes, n * k);
      if (spec.fp8()) parts.push_back(quantize_weight_fp8(t.dtype, t.data, n, k, spec));
      else if (spec.wint()) iparts.push_back(quantize_weight_int(t.dtype, t.data, n, k, ispec));
      else h.dense.push_back(&t);
    } else {
      parts.push_back(read_fp8_part(ws, cfg, m, spec, n, k));
    }
  }
  h.spec = spec;
  if (spec.fp8()) {
    h.q = fuse(std::move(parts), h.name);
    h.spec = h.q.spec;
  } else if (spec.wint()) {
    h.wq = fuse_int(std::move(iparts), h.name);
    check_int_linear(h.wq, h.name);
    h.spec = h.wq.spec;
  }
  return h;
}

std::optional<std::vector<std::pair<float, float>>> load_kv_scales(const WeightStore& ws, const ModelConfig& cfg) {
  if (!cfg.quant.kv_cache_fp8) return std::nullopt;
  std::vector<std::pair<float, float>> out;
  for (int l = 0; l < cfg.num_layers; ++l) {
    float kv[2];
    for (int i = 0; i < 2; ++i) {
      const auto names = kv_scale_names(l, i == 0 ? 'k' : 'v');
      const std::string* found = nullptr;
      for (auto& n : names)
        if (ws.has(n)) found = &n;
      IGNIS_CHECK(found, "{}: missing tensor '{}' (or '{}'): {} declares an FP8 KV cache with per-layer scales",
                  ws.origin(), names[0], names[1], cfg.quant.source);
      kv[i] = read_scales(ws.get(*found), kScalarShapes)[0];
    }
    out.push_back({kv[0], kv[1]});
  }
  return out;
}

void apply_quantization_flag(ModelConfig& cfg, const std::string& flag) {
  std::optional<QuantConfig> q = parse_quantization_method(flag);
  if (!q) return;
  IGNIS_CHECK(!cfg.quant.quantized(), "--quantization {}: the checkpoint is quantized already ({}, {}); load it as "
              "published (drop --quantization)", flag, quant_method_name(cfg.quant.method), cfg.quant.source);
  cfg.quant = *q;
}

DType resolve_kv_cache_dtype(const std::string& flag, const ModelConfig& cfg, DType compute) {
  if (flag == "auto" || flag.empty()) return cfg.quant.kv_cache_fp8 ? DType::F8_E4M3 : compute;
  if (flag == "fp8" || flag == "fp8_e4m3") return DType::F8_E4M3;
  if (flag == "bf16") return compute;
  IGNIS_FAIL("--kv-cache-dtype must be auto, bf16 or fp8 (got '{}')", flag);
}

std::vector<std::pair<float, float>> kv_scales_or_default(const WeightStore& ws, const ModelConfig& cfg,
                                                          const std::vector<std::pair<float, float>>& calibrated,
                                                          const char* who) {
  if (auto s = load_kv_scales(ws, cfg)) return *s;
  if (!calibrated.empty()) {
    IGNIS_CHECK(int(calibrated.size()) == cfg.num_layers, "{}: {} KV scale pairs for {} layers", who,
                calibrated.size(), cfg.num_layers);
    return calibrated;
  }
  IGNIS_LOG(Warn, "{}: FP8 KV cache without KV scales in the checkpoint: using k_scale = v_scale = 1.0 in every "
            "layer (calibrate with `ignis quantize --kv-cache-dtype fp8`)", who);
  return std::vector<std::pair<float, float>>(size_t(cfg.num_layers), {1.0f, 1.0f});
}

int64_t model_weight_bytes(const ModelConfig& cfg) {
  int64_t bytes = 0;
  const int64_t es = int64_t(dtype_size(cfg.dtype));
  for (auto& [name, shape] : expected_tensors(cfg)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const bool proj = shape.size() == 2 && name != "model.embed_tokens.weight";
    const LinearSpec spec = proj ? cfg.quant.spec_for(name.substr(0, name.size() - 7), cfg.dtype) : LinearSpec{};
    if (proj && spec.wint() && name != "lm_head.weight")  // codes + one 4-byte scale / zero per group and row
      bytes += n * spec.bits / 8 + (shape[1] / std::max<int64_t>(1, spec.group_size(shape[1]))) * shape[0] * 4;
    else
      bytes += proj && spec.fp8() ? n : n * es;
  }
  return bytes;
}

std::vector<CheckpointTensor> checkpoint_tensors(const ModelConfig& cfg) {
  std::vector<CheckpointTensor> out;
  using K = CheckpointTensor::Kind;
  for (auto& [name, shape] : expected_tensors(cfg)) {
    const bool proj = shape.size() == 2 && name != "model.embed_tokens.weight" && name.size() > 7 &&
                      name.compare(name.size() - 7, 7, ".weight") == 0;
    const std::string module = proj ? name.substr(0, name.size() - 7) : "";
    if (proj && checkpoint_int(cfg, module)) {
      const LinearSpec s = cfg.quant.spec_for(module, cfg.dtype);
      for (const IntTensorShape& t : int_tensor_shapes(cfg.quant, s, module, shape[0], shape[1]))
        if (t.required) out.push_back({{module + "." + t.suffix}, {t.shape}, t.kind});
      continue;
    }
    if (!proj || !checkpoint_fp8(cfg, module)) {
      out.push_back({{name}, {shape}, K::Float});
      continue;
    }
    const LinearSpec s = cfg.quant.spec_for(module, cfg.dtype);
    out.push_back({{name}, {shape}, K::Fp8});
    out.push_back({{module + "." + cfg.quant.weight_scale_name()}, weight_scale_shapes(s, shape[0], shape[1]), K::Scale});
    if (s.act == ActScale::StaticTensor) out.push_back({{module + ".input_scale"}, kScalarShapes, K::Scale});
  }
  if (cfg.quant.kv_cache_fp8) {
    for (int l = 0; l < cfg.num_layers; ++l)
      for (char w : {'k', 'v'}) {
        auto names = kv_scale_names(l, w);
        if (cfg.quant.method == QuantConfig::Method::ModelOpt) std::swap(names[0], names[1]);
        out.push_back({names, kScalarShapes, K::Scale});
      }
  }
  return out;
}

}  // namespace ignis
