// ignis quantize, library half: calibration through CalibrationObserver and the compressed-tensors
// writer (see quantize_checkpoint.h).
#include "model/quantize_checkpoint.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "model/json_util.h"
#include "model/linear_weights.h"
#include "model/safetensors.h"
#include "quant/config.h"
#include "quant/quantize.h"

namespace ignis {

namespace fs = std::filesystem;

namespace {

// "\r<what> [=====     ] 42% <detail>" on stderr, at most every 100 ms.
class ProgressBar {
 public:
  ProgressBar(bool on, std::string what, double total) : on_(on), what_(std::move(what)), total_(total) {}
  ~ProgressBar() {
    if (on_ && shown_) std::fprintf(stderr, "\n");
  }
  void update(double done, const std::string& detail = "") {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (shown_ && done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    const double f = total_ > 0 ? std::min(1.0, done / total_) : 1.0;
    const int w = 30, full = int(f * w);
    std::string bar(size_t(full), '=');
    if (full < w) bar += '>' + std::string(size_t(w - full - 1), ' ');
    std::fprintf(stderr, "\r%s [%s] %3d%% %s", what_.c_str(), bar.c_str(), int(f * 100), detail.c_str());
    std::fflush(stderr);
  }

 private:
  bool on_;
  std::string what_;
  double total_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

std::vector<std::string> slot_modules(int layer, LinearSlot slot) {
  if (slot == LinearSlot::LmHead) return {"lm_head"};
  LayerLinears l = layer_linears(layer);
  switch (slot) {
    case LinearSlot::Qkv: return l.qkv;
    case LinearSlot::O: return l.o;
    case LinearSlot::GateUp: return l.gate_up;
    case LinearSlot::Down: return l.down;
    case LinearSlot::LmHead: break;
  }
  return {};
}

class AmaxObserver : public CalibrationObserver {
 public:
  explicit AmaxObserver(Calibration& c) : c_(c) {}
  void input_amax(int layer, LinearSlot slot, float amax) override {
    for (const std::string& m : slot_modules(layer, slot)) {
      float& a = c_.input_amax[m];
      a = std::max(a, amax);
    }
  }
  void kv_amax(int layer, float k, float v) override {
    if (layer < 0) return;
    if (size_t(layer) >= c_.kv_amax.size()) c_.kv_amax.resize(size_t(layer) + 1, {0.0f, 0.0f});
    c_.kv_amax[size_t(layer)].first = std::max(c_.kv_amax[size_t(layer)].first, k);
    c_.kv_amax[size_t(layer)].second = std::max(c_.kv_amax[size_t(layer)].second, v);
  }

 private:
  Calibration& c_;
};

bool is_quantizable(const std::string& name) {  // the projections ignis quantize converts
  static const char* kLeaves[] = {".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
                                  ".self_attn.o_proj.weight", ".mlp.gate_proj.weight",   ".mlp.up_proj.weight",
                                  ".mlp.down_proj.weight"};
  if (name.rfind("model.layers.", 0) != 0) return false;
  for (const char* l : kLeaves) {
    const std::string s(l);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

struct Planned {
  std::string shard;  // file name in out_dir
  SafetensorsStreamTensor t;
};

SafetensorsStreamTensor scalar_tensor(std::string name, float v) {
  SafetensorsStreamTensor t{std::move(name), DType::F32, {1}, {}};
  t.produce = [v](const auto& sink) { sink(&v, sizeof(float)); };
  return t;
}

void copy_tokenizer_files(const fs::path& in, const fs::path& out) {
  static const char* kFiles[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                 "special_tokens_map.json", "chat_template.json", "chat_template.jinja",
                                 "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json"};
  std::error_code ec;
  for (const char* f : kFiles)
    if (fs::is_regular_file(in / f, ec)) fs::copy_file(in / f, out / f, fs::copy_options::overwrite_existing);
  for (const auto& e : fs::directory_iterator(in, ec))  // other chat templates (*.jinja)
    if (e.is_regular_file() && e.path().extension() == ".jinja" && !fs::exists(out / e.path().filename(), ec))
      fs::copy_file(e.path(), out / e.path().filename());
}

}  // namespace

void copy_side_files(const fs::path& in_dir, const fs::path& out_dir) { copy_tokenizer_files(in_dir, out_dir); }

Calibration calibrate(Model& model, const std::vector<std::vector<int32_t>>& samples, bool progress) {
  IGNIS_CHECK(!samples.empty(), "calibration: no samples");
  const ModelConfig& cfg = model.config();
  size_t max_len = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    IGNIS_CHECK(!samples[i].empty(), "calibration: sample {} is empty", i);
    IGNIS_CHECK(samples[i].size() <= size_t(cfg.max_position_embeddings),
                "calibration: sample {} has {} tokens, more than the model's context {}", i, samples[i].size(),
                cfg.max_position_embeddings);
    for (int32_t t : samples[i])
      IGNIS_CHECK(t >= 0 && t < cfg.vocab_size, "calibration: sample {} has token id {} outside the vocabulary ({})", i,
                  t, cfg.vocab_size);
    max_len = std::max(max_len, samples[i].size());
  }
  Calibration c;
  c.kv_amax.assign(size_t(cfg.num_layers), {0.0f, 0.0f});
  AmaxObserver obs(c);
  IGNIS_CHECK(model.set_calibration_observer(&obs),
              "calibration: the {} backend cannot report activation statistics (use --device cpu)",
              model.backend_name());
  const int bs = 16, blocks = int((max_len + bs - 1) / bs);
  model.init_kv_cache(blocks, bs);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int b = 0; b < blocks; ++b) table[size_t(b)] = b;
  std::vector<float> logits;
  ProgressBar bar(progress, "calibrating", double(samples.size()));
  try {
    for (size_t i = 0; i < samples.size(); ++i) {
      ForwardBatch b;
      b.tokens = samples[i];
      b.seqs.push_back({0, int32_t(samples[i].size()), table, false});
      model.forward(b, logits);
      c.tokens += int64_t(samples[i].size());
      c.samples++;
      bar.update(double(i + 1), fmt::format("{}/{} samples, {} tokens", i + 1, samples.size(), c.tokens));
    }
  } catch (...) {
    model.set_calibration_observer(nullptr);
    throw;
  }
  model.set_calibration_observer(nullptr);
  return c;
}

LinearSpec quantize_spec(const QuantizeCheckpointOptions& opt) {
  IGNIS_CHECK(opt.act == ActScale::DynamicToken || opt.act == ActScale::StaticTensor,
              "ignis quantize: input scheme must be dynamic per token or static per tensor");
  LinearSpec s;
  s.weight = DType::F8_E4M3;
  s.wscale = WeightScale::Channel;
  s.act = opt.act;
  return s;
}

void write_fp8_checkpoint(const fs::path& in_dir, const fs::path& out_dir, const ModelConfig& cfg,
                          const WeightStore& ws, const QuantizeCheckpointOptions& opt, const Calibration* calib) {
  std::error_code ec;
  IGNIS_CHECK(!cfg.quant.quantized(), "{}: the checkpoint is quantized already ({}, {})", in_dir.string(),
              quant_method_name(cfg.quant.method), cfg.quant.source);
  IGNIS_CHECK(!fs::exists(out_dir, ec) || (fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec)),
              "{}: the output folder exists and is not empty", out_dir.string());
  IGNIS_CHECK(!fs::exists(out_dir, ec) || !fs::equivalent(in_dir, out_dir, ec),
              "{}: the output folder is the input folder", out_dir.string());
  const LinearSpec spec = quantize_spec(opt);
  const bool need_calib = spec.act == ActScale::StaticTensor || opt.kv_fp8;
  IGNIS_CHECK(!need_calib || calib, "ignis quantize: {} need calibration data (--calib-data)",
              spec.act == ActScale::StaticTensor ? "static input scales" : "KV cache scales");
  if (opt.kv_fp8) IGNIS_CHECK(int(calib->kv_amax.size()) == cfg.num_layers, "calibration: KV statistics for {} of {} "
                              "layers", calib->kv_amax.size(), cfg.num_layers);
  const bool lm_head = opt.quantize_lm_head && !cfg.tie_word_embeddings;
  if (opt.quantize_lm_head && cfg.tie_word_embeddings)
    IGNIS_LOG(Warn, "{}: lm_head is tied to the embeddings; it stays dense", in_dir.string());
  std::vector<std::string> ignore;
  if (!lm_head) ignore.push_back("lm_head");

  const bool sharded_input = fs::exists(in_dir / "model.safetensors.index.json", ec);
  auto shard_of = [&](const TensorRef& t) { return sharded_input ? fs::path(t.file).filename().string() : std::string(); };
  auto input_scale = [&](const std::string& module) {
    auto it = calib->input_amax.find(module);
    IGNIS_CHECK(it != calib->input_amax.end(), "calibration: no statistics for the input of {}", module);
    return dynamic_scale(it->second);
  };

  std::vector<Planned> plan;
  for (const auto& [name, t] : ws.all()) {
    const std::string module = name.size() > 7 ? name.substr(0, name.size() - 7) : "";
    const bool quantize = is_quantizable(name) || (lm_head && name == "lm_head.weight");
    if (!quantize) {
      SafetensorsStreamTensor c{name, t.dtype, t.shape, {}};
      const TensorRef* src = &t;
      c.produce = [src](const auto& sink) { sink(src->data, src->nbytes); };
      plan.push_back({shard_of(t), std::move(c)});
      continue;
    }
    IGNIS_CHECK(t.shape.size() == 2 && (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16),
                "{}: tensor '{}': expected a 2-D F32/F16/BF16 weight", t.file, name);
    const int64_t n = t.shape[0], k = t.shape[1];
    auto held = std::make_shared<QuantizedLinear>();
    const TensorRef* src = &t;
    SafetensorsStreamTensor w{name, DType::F8_E4M3, {n, k}, {}};
    w.produce = [src, held, spec, n, k](const auto& sink) {
      *held = quantize_weight_fp8(src->dtype, src->data, n, k, spec);
      sink(held->data.data(), held->data.size());
      held->data = {};
    };
    SafetensorsStreamTensor s{module + ".weight_scale", DType::F32, {n, 1}, {}};
    s.produce = [held](const auto& sink) {
      sink(held->scale.data(), held->scale.size() * sizeof(float));
      *held = {};
    };
    plan.push_back({shard_of(t), std::move(w)});
    plan.push_back({shard_of(t), std::move(s)});
    if (spec.act == ActScale::StaticTensor) plan.push_back({shard_of(t), scalar_tensor(module + ".input_scale", input_scale(module))});
  }
  if (opt.kv_fp8) {
    for (int l = 0; l < cfg.num_layers; ++l) {
      const std::string shard = shard_of(ws.get(layer_tensor_name(l, "self_attn.k_proj.weight")));
      plan.push_back({shard, scalar_tensor(layer_tensor_name(l, "self_attn.k_scale"), dynamic_scale(calib->kv_amax[size_t(l)].first))});
      plan.push_back({shard, scalar_tensor(layer_tensor_name(l, "self_attn.v_scale"), dynamic_scale(calib->kv_amax[size_t(l)].second))});
    }
  }

  // Shards: the input's (by file name) when it was sharded, else split above max_shard_bytes.
  int64_t total = 0;
  for (auto& p : plan) total += int64_t(p.t.nbytes());
  if (!sharded_input) {
    int shard = 0;
    int64_t in_shard = 0;
    for (auto& p : plan) {
      if (in_shard > 0 && in_shard + int64_t(p.t.nbytes()) > opt.max_shard_bytes) ++shard, in_shard = 0;
      in_shard += int64_t(p.t.nbytes());
      p.shard = std::to_string(shard);
    }
    const int count = shard + 1;
    for (auto& p : plan)
      p.shard = count == 1 ? "model.safetensors"
                           : fmt::format("model-{:05d}-of-{:05d}.safetensors", std::stoi(p.shard) + 1, count);
  }
  std::map<std::string, std::vector<SafetensorsStreamTensor>> shards;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (auto& p : plan) {
    weight_map[p.t.name] = p.shard;
    shards[p.shard].push_back(std::move(p.t));
  }

  fs::create_directories(out_dir);
  {
    ProgressBar bar(opt.progress, "writing", double(total));
    double done = 0;
    for (auto& [file, tensors] : shards)
      write_safetensors_stream((out_dir / file).string(), tensors, {{"format", "pt"}}, [&](size_t b) {
        done += double(b);
        bar.update(done, fmt::format("{:.1f} of {:.1f} MB", done / 1e6, double(total) / 1e6));
      });
  }
  auto write_json = [&](const fs::path& p, const nlohmann::ordered_json& j) {
    std::ofstream f(p);
    f << j.dump(2) << "\n";
    IGNIS_CHECK(f.good(), "{}: write failed", p.string());
  };
  if (shards.size() > 1 || sharded_input) {
    nlohmann::ordered_json index = nlohmann::ordered_json::object();
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = weight_map;
    write_json(out_dir / "model.safetensors.index.json", index);
  }
  const std::string cfg_text = jsonf::read_text_file((in_dir / "config.json").string());
  nlohmann::ordered_json cj = nlohmann::ordered_json::parse(cfg_text);
  cj["quantization_config"] = compressed_tensors_config(spec, ignore, opt.kv_fp8);
  write_json(out_dir / "config.json", cj);
  copy_tokenizer_files(in_dir, out_dir);
}

}  // namespace ignis
