#include "fp8_writer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/cpu_model.h"
#include "model/quantize_checkpoint.h"
#include "model/safetensors.h"
#include "test_tensors.h"
#include "quant/quantize.h"

namespace fs = std::filesystem;
using OJ = nlohmann::ordered_json;

namespace ignis::test {

namespace {

LinearSpec format_spec(Fp8Format f) {
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  switch (f) {
    case Fp8Format::CtTensorStaticKv:
    case Fp8Format::ModelOpt:
    case Fp8Format::ModelOptConfig:
    case Fp8Format::Fp8TensorStatic:
      s.wscale = WeightScale::Tensor;
      s.act = ActScale::StaticTensor;
      break;
    case Fp8Format::CtChannelDynamic:
      s.wscale = WeightScale::Channel;
      s.act = ActScale::DynamicToken;
      break;
    case Fp8Format::CtBlockGroup:
      s.wscale = WeightScale::Block;
      s.block_n = 48;
      s.block_k = 32;
      s.act = ActScale::DynamicGroup;
      s.act_group = 32;
      break;
    case Fp8Format::Fp8Block:
      s.wscale = WeightScale::Block;
      s.act = ActScale::DynamicGroup;
      break;
  }
  return s;
}

bool is_ct(Fp8Format f) {
  return f == Fp8Format::CtTensorStaticKv || f == Fp8Format::CtChannelDynamic || f == Fp8Format::CtBlockGroup;
}
bool has_kv(Fp8Format f) {
  return f == Fp8Format::CtTensorStaticKv || f == Fp8Format::ModelOpt || f == Fp8Format::ModelOptConfig;
}

// compressed-tensors QuantizationArgs as llm-compressor writes them.
OJ ct_args(const char* strategy, bool dynamic, OJ group_size = nullptr, OJ block = nullptr) {
  return OJ{{"actorder", nullptr}, {"block_structure", block}, {"dynamic", dynamic}, {"group_size", group_size},
            {"num_bits", 8}, {"observer", dynamic ? OJ(nullptr) : OJ("minmax")}, {"observer_kwargs", OJ::object()},
            {"strategy", strategy}, {"symmetric", true}, {"type", "float"}};
}

OJ quant_json(Fp8Format f) {
  if (is_ct(f)) {
    OJ w, in;
    if (f == Fp8Format::CtTensorStaticKv) w = ct_args("tensor", false), in = ct_args("tensor", false);
    else if (f == Fp8Format::CtChannelDynamic) w = ct_args("channel", false), in = ct_args("token", true);
    else w = ct_args("block", false, nullptr, OJ::array({48, 32})), in = ct_args("group", true, 32);
    OJ group{{"format", "float-quantized"}, {"input_activations", in}, {"output_activations", nullptr},
             {"targets", OJ::array({"Linear"})}, {"weights", w}};
    return OJ{{"config_groups", {{"group_0", group}}},
              {"format", "float-quantized"},
              {"global_compression_ratio", nullptr},
              {"ignore", OJ::array({"lm_head"})},
              {"kv_cache_scheme", has_kv(f) ? ct_args("tensor", false) : OJ(nullptr)},
              {"quant_method", "compressed-tensors"},
              {"quantization_status", "compressed"},
              {"sparsity_config", OJ::object()}};
  }
  if (f == Fp8Format::ModelOptConfig)
    return OJ{{"quant_method", "modelopt"}, {"quant_algo", "FP8"}, {"kv_cache_quant_algo", "FP8"},
              {"exclude_modules", OJ::array({"lm_head"})}};
  if (f == Fp8Format::Fp8Block)
    return OJ{{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
              {"weight_block_size", OJ::array({128, 128})}};
  return OJ{{"activation_scheme", "static"}, {"quant_method", "fp8"}};  // Fp8TensorStatic
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> b(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(b.data() + 4 * i, &v[i], 4);
    } else {
      uint16_t h = f32_to_bf16(v[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

}  // namespace

const char* fp8_format_name(Fp8Format f) {
  switch (f) {
    case Fp8Format::CtTensorStaticKv: return "ct_tensor_static_kv";
    case Fp8Format::CtChannelDynamic: return "ct_channel_dynamic";
    case Fp8Format::CtBlockGroup: return "ct_block_group";
    case Fp8Format::ModelOpt: return "modelopt";
    case Fp8Format::ModelOptConfig: return "modelopt_config";
    case Fp8Format::Fp8Block: return "fp8_block";
    case Fp8Format::Fp8TensorStatic: return "fp8_tensor_static";
  }
  return "?";
}

std::vector<Fp8Format> all_fp8_formats() {
  return {Fp8Format::CtTensorStaticKv, Fp8Format::CtChannelDynamic, Fp8Format::CtBlockGroup, Fp8Format::ModelOpt,
          Fp8Format::ModelOptConfig,   Fp8Format::Fp8Block,         Fp8Format::Fp8TensorStatic};
}

Fp8Reference write_fp8_folder(const fs::path& base, const fs::path& out, Fp8Format f) {
  Fp8Reference ref;
  ref.dense_cfg = load_model_config(base);
  const ModelConfig& cfg = ref.dense_cfg;
  WeightStore ws = WeightStore::load(base, cfg, LoadFormat::Safetensors);
  CpuModel dense(cfg, ws);
  std::vector<std::vector<int32_t>> samples;
  for (uint64_t s = 0; s < 4; ++s) samples.push_back(random_tokens(24, cfg.vocab_size, 100 + s));
  const Calibration cal = calibrate(dense, samples, false);

  const LinearSpec spec = format_spec(f);
  const bool ct = is_ct(f);
  const bool modelopt = f == Fp8Format::ModelOpt || f == Fp8Format::ModelOptConfig;
  std::vector<int64_t> scalar = ct ? std::vector<int64_t>{1} : std::vector<int64_t>{};
  const DType scale_dtype = f == Fp8Format::CtChannelDynamic ? DType::BF16 : DType::F32;
  std::vector<SafetensorsWriteTensor> tensors;
  for (const auto& [name, t] : ws.all()) {
    const auto* p = static_cast<const uint8_t*>(t.data);
    if (!is_layer_projection(name)) {
      tensors.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes)});
      add_owned(ref.dequant, name, t.dtype, t.shape, std::vector<uint8_t>(p, p + t.nbytes));
      continue;
    }
    const std::string module = name.substr(0, name.size() - 7);
    const int64_t n = t.shape[0], k = t.shape[1];
    std::vector<float> w(size_t(n * k));
    to_f32(t.dtype, t.data, w.data(), w.size());
    QuantizedLinear q = quantize_weight_fp8(w.data(), n, k, spec);
    if (scale_dtype == DType::BF16)
      for (float& s : q.scale) s = bf16_to_f32(f32_to_bf16(s));  // what the file holds
    tensors.push_back({name, DType::F8_E4M3, {n, k}, q.data});
    std::vector<int64_t> sshape;
    if (spec.wscale == WeightScale::Tensor) sshape = scalar;
    else if (spec.wscale == WeightScale::Channel) sshape = {n, 1};
    else sshape = {(n + spec.block_n - 1) / spec.block_n, (k + spec.block_k - 1) / spec.block_k};
    tensors.push_back({module + (f == Fp8Format::Fp8Block ? ".weight_scale_inv" : ".weight_scale"), scale_dtype, sshape,
                       f32_bytes(q.scale, scale_dtype)});
    float in_scale = 0;
    if (spec.act == ActScale::StaticTensor) {
      in_scale = dynamic_scale(cal.input_amax.at(module));
      tensors.push_back({module + ".input_scale", DType::F32, scalar, f32_bytes({in_scale}, DType::F32)});
    }
    ref.quant.inputs[module] = {spec, in_scale};
    dequantize_weight(q, w.data());
    add_owned(ref.dequant, name, DType::F32, {n, k}, f32_bytes(w, DType::F32));
  }
  if (has_kv(f)) {
    for (int l = 0; l < cfg.num_layers; ++l) {
      const float ks = dynamic_scale(cal.kv_amax[size_t(l)].first), vs = dynamic_scale(cal.kv_amax[size_t(l)].second);
      const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
      tensors.push_back({p + (modelopt ? "k_proj.k_scale" : "k_scale"), DType::F32, {}, f32_bytes({ks}, DType::F32)});
      tensors.push_back({p + (modelopt ? "v_proj.v_scale" : "v_scale"), DType::F32, {}, f32_bytes({vs}, DType::F32)});
      ref.quant.kv_scales.push_back({ks, vs});
    }
  }
  fs::create_directories(out);
  write_safetensors((out / "model.safetensors").string(), tensors, {{"format", "pt"}});
  std::ifstream in(base / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  OJ cj = OJ::parse(ss.str());
  if (f == Fp8Format::ModelOpt) {
    OJ hq{{"producer", {{"name", "modelopt"}, {"version", "0.19.0"}}},
          {"quantization", {{"quant_algo", "FP8"}, {"kv_cache_quant_algo", "FP8"}, {"exclude_modules", OJ::array({"lm_head"})}}}};
    std::ofstream(out / "hf_quant_config.json") << hq.dump(4);
  } else {
    cj["quantization_config"] = quant_json(f);
  }
  std::ofstream(out / "config.json") << cj.dump(2);
  if (fs::exists(base / "generation_config.json")) fs::copy_file(base / "generation_config.json", out / "generation_config.json");
  return ref;
}

TempDir::TempDir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->name()) : std::string("x");
  for (char& c : name)
    if (c == '/') c = '_';
  path_ = fs::temp_directory_path() / ("ignis_" + tag + "_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace ignis::test
