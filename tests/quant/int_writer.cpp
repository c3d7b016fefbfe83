#include "int_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "core/error.h"
#include "model/safetensors.h"
#include "test_tensors.h"

namespace fs = std::filesystem;
using OJ = nlohmann::ordered_json;

namespace ignis::test {

namespace {

struct Fmt {
  enum Layout { Awq, Gptq, Ct } layout;
  int bits;
  int group;  // 0: per channel
  bool asym;
  bool act_order;
};

Fmt fmt_of(IntFormat f) {
  switch (f) {
    case IntFormat::Awq: return {Fmt::Awq, 4, 32, true, false};
    case IntFormat::GptqSym4: return {Fmt::Gptq, 4, 32, false, false};
    case IntFormat::GptqAsym4Act: return {Fmt::Gptq, 4, 32, true, true};
    case IntFormat::Gptq8: return {Fmt::Gptq, 8, 0, true, false};
    case IntFormat::CtW4Asym: return {Fmt::Ct, 4, 32, true, false};
    case IntFormat::CtW4SymActOrder: return {Fmt::Ct, 4, 32, false, true};
    case IntFormat::CtW8Channel: return {Fmt::Ct, 8, 0, false, false};
  }
  return {};
}

// One projection quantized by the test's own round to nearest: codes (n, k), zeros (n, G), scales (n, G)
// (already rounded to the file's dtype), g_idx (k).
struct Q {
  int64_t n, k, G;
  std::vector<int> code, zero;
  std::vector<float> scale;
  std::vector<int32_t> g_idx;
};

float to_file(float s, DType t) { return t == DType::F16 ? f16_to_f32(f32_to_f16(s)) : bf16_to_f32(f32_to_bf16(s)); }

Q quantize(const std::vector<float>& w, int64_t n, int64_t k, const Fmt& f, DType sdt, uint64_t seed) {
  Q q{n, k, 0, {}, {}, {}, {}};
  const int64_t g = f.group ? f.group : k;
  q.G = k / g;
  q.g_idx.resize(size_t(k));
  for (int64_t c = 0; c < k; ++c) q.g_idx[size_t(c)] = int32_t(c / g);
  if (f.act_order) {
    std::mt19937_64 rng(seed);
    std::shuffle(q.g_idx.begin(), q.g_idx.end(), rng);  // each group keeps g columns, scattered
  }
  const int qmax = (1 << f.bits) - 1, half = 1 << (f.bits - 1);
  q.code.assign(size_t(n * k), 0);
  q.zero.assign(size_t(n * q.G), half);
  q.scale.assign(size_t(n * q.G), 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t gi = 0; gi < q.G; ++gi) {
      float mn = 0, mx = 0;
      for (int64_t c = 0; c < k; ++c)
        if (q.g_idx[size_t(c)] == gi) mn = std::min(mn, w[size_t(r * k + c)]), mx = std::max(mx, w[size_t(r * k + c)]);
      float s;
      int z;
      if (f.asym) {
        s = to_file(std::max(mx - mn, 1e-6f) / float(qmax), sdt);
        z = std::clamp(int(std::lround(-mn / s)), 0, qmax);
      } else {
        s = to_file(std::max(std::max(-mn, mx), 1e-6f) / float(half - 1), sdt);
        z = half;
      }
      q.scale[size_t(r * q.G + gi)] = s;
      q.zero[size_t(r * q.G + gi)] = z;
      for (int64_t c = 0; c < k; ++c)
        if (q.g_idx[size_t(c)] == gi)
          q.code[size_t(r * k + c)] = std::clamp(int(std::lround(w[size_t(r * k + c)] / s)) + z, 0, qmax);
    }
  return q;
}

std::vector<uint8_t> bytes_i32(const std::vector<int32_t>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> bytes_scales(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> b(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = t == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
    std::memcpy(b.data() + 2 * i, &h, 2);
  }
  return b;
}

// Word of `pack` values, value j at bits [j * bits, +bits) ("natural" order of GPTQ and compressed-tensors).
int32_t pack_natural(const int* v, int pack, int bits) {
  uint32_t w = 0;
  for (int j = 0; j < pack; ++j) w |= (uint32_t(v[j]) & ((1u << bits) - 1u)) << (j * bits);
  return int32_t(w);
}

OJ quant_json(IntFormat f) {
  const Fmt m = fmt_of(f);
  if (m.layout == Fmt::Awq)
    return OJ{{"bits", 4}, {"group_size", m.group}, {"modules_to_not_convert", nullptr}, {"quant_method", "awq"},
              {"version", "gemm"}, {"zero_point", true}};
  if (m.layout == Fmt::Gptq)
    return OJ{{"bits", m.bits}, {"checkpoint_format", "gptq"}, {"damp_percent", 0.01}, {"desc_act", m.act_order},
              {"group_size", m.group ? m.group : -1}, {"lm_head", false}, {"model_file_base_name", nullptr},
              {"model_name_or_path", nullptr}, {"quant_method", "gptq"}, {"static_groups", false}, {"sym", !m.asym},
              {"true_sequential", true}};
  OJ w{{"actorder", m.act_order ? OJ("group") : OJ(nullptr)}, {"block_structure", nullptr}, {"dynamic", false},
       {"group_size", m.group ? OJ(m.group) : OJ(nullptr)}, {"num_bits", m.bits}, {"observer", "minmax"},
       {"observer_kwargs", OJ::object()}, {"strategy", m.group ? "group" : "channel"}, {"symmetric", !m.asym},
       {"type", "int"}};
  OJ group{{"input_activations", nullptr}, {"output_activations", nullptr}, {"targets", OJ::array({"Linear"})},
           {"weights", w}};
  return OJ{{"config_groups", {{"group_0", group}}}, {"format", "pack-quantized"},
            {"global_compression_ratio", nullptr}, {"ignore", OJ::array({"lm_head"})}, {"kv_cache_scheme", nullptr},
            {"quant_method", "compressed-tensors"}, {"quantization_status", "compressed"}};
}

}  // namespace

std::vector<int32_t> awq_pack_cols(const std::vector<int>& v, int64_t rows_out, int64_t cols_in) {
  // v: (rows_out, cols_in) values; AWQ packs along the output dim: word (c, w) holds outputs 8w + order[i] in
  // nibble i, order = 0, 2, 4, 6, 1, 3, 5, 7 (AutoAWQ's WQLinear_GEMM.from_linear).
  static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  std::vector<int32_t> out(size_t(cols_in * (rows_out / 8)));
  for (int64_t c = 0; c < cols_in; ++c)
    for (int64_t w = 0; w < rows_out / 8; ++w) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= (uint32_t(v[size_t((w * 8 + order[i]) * cols_in + c)]) & 0xfu) << (4 * i);
      out[size_t(c * (rows_out / 8) + w)] = int32_t(word);
    }
  return out;
}

const char* int_format_name(IntFormat f) {
  switch (f) {
    case IntFormat::Awq: return "awq";
    case IntFormat::GptqSym4: return "gptq_sym4";
    case IntFormat::GptqAsym4Act: return "gptq_asym4_act";
    case IntFormat::Gptq8: return "gptq8_channel";
    case IntFormat::CtW4Asym: return "ct_w4_asym";
    case IntFormat::CtW4SymActOrder: return "ct_w4_sym_actorder";
    case IntFormat::CtW8Channel: return "ct_w8_channel";
  }
  return "?";
}

std::vector<IntFormat> all_int_formats() {
  return {IntFormat::Awq,      IntFormat::GptqSym4,        IntFormat::GptqAsym4Act, IntFormat::Gptq8,
          IntFormat::CtW4Asym, IntFormat::CtW4SymActOrder, IntFormat::CtW8Channel};
}

IntReference write_int_folder(const fs::path& base, const fs::path& out, IntFormat f) {
  IntReference ref;
  ref.dense_cfg = load_model_config(base);
  WeightStore ws = WeightStore::load(base, ref.dense_cfg, LoadFormat::Safetensors);
  const Fmt m = fmt_of(f);
  const DType sdt = m.layout == Fmt::Ct ? DType::BF16 : DType::F16;
  const int pack = 32 / m.bits;
  std::vector<SafetensorsWriteTensor> tensors;
  for (const auto& [name, t] : ws.all()) {
    const auto* p = static_cast<const uint8_t*>(t.data);
    if (!is_layer_projection(name)) {
      tensors.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes)});
      add_owned(ref.dequant, name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes));
      continue;
    }
    const std::string mod = name.substr(0, name.size() - 7);
    const int64_t n = t.shape[0], k = t.shape[1];
    std::vector<float> w(size_t(n * k));
    to_f32(t.dtype, t.data, w.data(), w.size());
    // GPTQ shares one g_idx between the parts of a fused projection (one Hessian per input): seeded by the
    // layer and the input (q/k/v, gate/up share one)
    std::string input = mod.substr(0, mod.rfind('.') + 1);
    const std::string leaf = mod.substr(mod.rfind('.') + 1);
    input += leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj" ? "qkv"
             : leaf == "gate_proj" || leaf == "up_proj"              ? "gate_up"
                                                                     : leaf;
    const uint64_t seed = std::hash<std::string>{}(input);
    const Q q = quantize(w, n, k, m, sdt, seed);
    for (int64_t r = 0; r < n; ++r)  // the reference weights
      for (int64_t c = 0; c < k; ++c) {
        const int64_t gi = q.g_idx[size_t(c)];
        w[size_t(r * k + c)] = float(q.code[size_t(r * k + c)] - q.zero[size_t(r * q.G + gi)]) * q.scale[size_t(r * q.G + gi)];
      }
    std::vector<uint8_t> wb(w.size() * 4);
    std::memcpy(wb.data(), w.data(), wb.size());
    add_owned(ref.dequant, name, DType::F32, {n, k}, std::move(wb));
    // scales / zeros transposed to [G, n] for AWQ and GPTQ
    std::vector<float> sT(size_t(q.G * n));
    std::vector<int> zT(size_t(q.G * n));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t gi = 0; gi < q.G; ++gi)
        sT[size_t(gi * n + r)] = q.scale[size_t(r * q.G + gi)], zT[size_t(gi * n + r)] = q.zero[size_t(r * q.G + gi)];
    if (m.layout == Fmt::Awq) {
      tensors.push_back({mod + ".qweight", DType::I32, {k, n / 8}, bytes_i32(awq_pack_cols(q.code, n, k))});
      std::vector<int> zr(size_t(n * q.G));  // (n, G) for the packer
      for (size_t i = 0; i < zr.size(); ++i) zr[i] = q.zero[i];
      tensors.push_back({mod + ".qzeros", DType::I32, {q.G, n / 8}, bytes_i32(awq_pack_cols(zr, n, q.G))});
      tensors.push_back({mod + ".scales", DType::F16, {q.G, n}, bytes_scales(sT, DType::F16)});
    } else if (m.layout == Fmt::Gptq) {
      std::vector<int32_t> qw(size_t((k / pack) * n));
      for (int64_t wr = 0; wr < k / pack; ++wr)
        for (int64_t r = 0; r < n; ++r) {
          int v[8];
          for (int j = 0; j < pack; ++j) v[j] = q.code[size_t(r * k + wr * pack + j)];
          qw[size_t(wr * n + r)] = pack_natural(v, pack, m.bits);
        }
      std::vector<int32_t> qz(size_t(q.G * (n / pack)));
      for (int64_t gi = 0; gi < q.G; ++gi)
        for (int64_t wc = 0; wc < n / pack; ++wc) {
          int v[8];
          for (int j = 0; j < pack; ++j) v[j] = zT[size_t(gi * n + wc * pack + j)] - 1;  // the -1 offset
          qz[size_t(gi * (n / pack) + wc)] = pack_natural(v, pack, m.bits);
        }
      tensors.push_back({mod + ".qweight", DType::I32, {k / pack, n}, bytes_i32(qw)});
      tensors.push_back({mod + ".qzeros", DType::I32, {q.G, n / pack}, bytes_i32(qz)});
      tensors.push_back({mod + ".scales", DType::F16, {q.G, n}, bytes_scales(sT, DType::F16)});
      tensors.push_back({mod + ".g_idx", DType::I32, {k}, bytes_i32(q.g_idx)});
    } else {
      std::vector<int32_t> wp(size_t(n * (k / pack)));
      for (int64_t r = 0; r < n; ++r)
        for (int64_t wc = 0; wc < k / pack; ++wc) wp[size_t(r * (k / pack) + wc)] = pack_natural(&q.code[size_t(r * k + wc * pack)], pack, m.bits);
      tensors.push_back({mod + ".weight_packed", DType::I32, {n, k / pack}, bytes_i32(wp)});
      tensors.push_back({mod + ".weight_scale", DType::BF16, {n, q.G}, bytes_scales(q.scale, DType::BF16)});
      std::vector<uint8_t> shp(16);
      const int64_t dims[2] = {n, k};
      std::memcpy(shp.data(), dims, 16);
      tensors.push_back({mod + ".weight_shape", DType::I64, {2}, shp});
      if (m.asym) {
        const int64_t zr = (n + pack - 1) / pack;
        std::vector<int32_t> zp(size_t(zr * q.G));
        for (int64_t wr = 0; wr < zr; ++wr)
          for (int64_t gi = 0; gi < q.G; ++gi) {
            int v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int j = 0; j < pack && wr * pack + j < n; ++j) v[j] = q.zero[size_t((wr * pack + j) * q.G + gi)];
            zp[size_t(wr * q.G + gi)] = pack_natural(v, pack, m.bits);
          }
        tensors.push_back({mod + ".weight_zero_point", DType::I32, {zr, q.G}, bytes_i32(zp)});
      }
      if (m.act_order) tensors.push_back({mod + ".weight_g_idx", DType::I32, {k}, bytes_i32(q.g_idx)});
    }
  }
  fs::create_directories(out);
  write_safetensors((out / "model.safetensors").string(), tensors, {{"format", "pt"}});
  std::ifstream in(base / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  OJ cj = OJ::parse(ss.str());
  cj["quantization_config"] = quant_json(f);
  std::ofstream(out / "config.json") << cj.dump(2);
  if (fs::exists(base / "generation_config.json")) fs::copy_file(base / "generation_config.json", out / "generation_config.json");
  return ref;
}

}  // namespace ignis::test
