// WeightStore::load: a Hugging Face model folder's safetensors (single or sharded),
// memory-mapped, or dummy weights; then every expected tensor is validated
// against config.json.
#include "model/weights.h"

#include <filesystem>
#include <fmt/ranges.h>

#include <set>

#include "core/error.h"
#include "model/json_util.h"
#include "model/linear_weights.h"
#include "model/safetensors.h"

namespace ignis {

namespace fs = std::filesystem;

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorRef& WeightStore::get(const std::string& name) const {
  auto it = tensors_.find(name);
  IGNIS_CHECK(it != tensors_.end(), "{}: missing tensor {}", origin_, name);
  return it->second;
}

int64_t WeightStore::total_bytes() const {
  int64_t n = 0;
  for (auto& [_, t] : tensors_) n += int64_t(t.nbytes);
  return n;
}

LoadFormat parse_load_format(const std::string& s) {
  if (s == "auto") return LoadFormat::Auto;
  if (s == "safetensors") return LoadFormat::Safetensors;
  if (s == "dummy") return LoadFormat::Dummy;
  IGNIS_FAIL("unknown load format '{}' (expected auto, safetensors or dummy)", s);
}

std::string layer_tensor_name(int layer, const char* suffix) { return fmt::format("model.layers.{}.{}", layer, suffix); }

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), ff = c.intermediate_size, v = c.vocab_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  t.push_back({"model.embed_tokens.weight", {v, h}});
  if (c.fusion.enabled) {
    t.push_back({"model.fc.weight", {h, 2 * h}});
    if (c.fusion.fc_bias) t.push_back({"model.fc.bias", {h}});
  }
  for (int i = 0; i < c.num_layers; i++) {
    auto n = [&](const char* s) { return layer_tensor_name(i, s); };
    if (i > 0 || !c.fusion.enabled || c.fusion.first_input_norm) t.push_back({n("input_layernorm.weight"), {h}});
    t.push_back({n("self_attn.q_proj.weight"), {q, h}});
    t.push_back({n("self_attn.k_proj.weight"), {kv, h}});
    t.push_back({n("self_attn.v_proj.weight"), {kv, h}});
    if (c.attention_bias) {
      t.push_back({n("self_attn.q_proj.bias"), {q}});
      t.push_back({n("self_attn.k_proj.bias"), {kv}});
      t.push_back({n("self_attn.v_proj.bias"), {kv}});
    }
    t.push_back({n("self_attn.o_proj.weight"), {h, q}});
    if (c.o_proj_bias) t.push_back({n("self_attn.o_proj.bias"), {h}});
    t.push_back({n("post_attention_layernorm.weight"), {h}});
    t.push_back({n("mlp.gate_proj.weight"), {ff, h}});
    t.push_back({n("mlp.up_proj.weight"), {ff, h}});
    t.push_back({n("mlp.down_proj.weight"), {h, ff}});
  }
  if (!c.fusion.enabled || c.fusion.final_norm) t.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {v, h}});
  return t;
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// Adds every tensor of one mapped file to the store and keeps the mapping alive.
void add_file(WeightStore& ws, SafetensorsFile sf, std::set<std::string>* seen_names) {
  std::string path = sf.path();
  for (const auto& e : sf.header().tensors) {
    if (seen_names) {
      IGNIS_CHECK(seen_names->insert(e.name).second, "{}: tensor '{}' also appears in another shard", path, e.name);
    }
    TensorRef t;
    t.name = e.name;
    t.file = path;
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.data = sf.tensor_data(e);
    t.nbytes = size_t(e.end - e.begin);
    ws.add(std::move(t));
  }
  ws.keep_alive(sf.release_mapping());
}

WeightStore load_sharded(const fs::path& dir, const fs::path& index_path) {
  std::string index_file = index_path.string();
  auto weight_map = parse_safetensors_index(jsonf::read_text_file(index_file), index_file);
  // shard -> names the index places there (first name for messages)
  std::map<std::string, std::vector<std::string>> shards;
  for (auto& [name, shard] : weight_map) shards[shard].push_back(name);
  WeightStore ws;
  ws.set_origin(dir.string());
  std::set<std::string> seen;
  for (auto& [shard, names] : shards) {
    fs::path sp = dir / shard;
    std::error_code ec;
    IGNIS_CHECK(fs::is_regular_file(sp, ec), "{}: shard file '{}' (holding tensor '{}') not found: {}", index_file,
                shard, names.front(), sp.string());
    SafetensorsFile sf(sp.string());
    std::set<std::string> in_file;
    for (auto& e : sf.header().tensors) in_file.insert(e.name);
    for (auto& n : names)
      IGNIS_CHECK(in_file.count(n), "{}: tensor '{}' is mapped to shard '{}' but that file does not contain it",
                  index_file, n, sp.string());
    add_file(ws, std::move(sf), &seen);
  }
  return ws;
}

}  // namespace

void validate_weights(const WeightStore& ws, const ModelConfig& cfg) {
  using K = CheckpointTensor::Kind;
  for (const CheckpointTensor& e : checkpoint_tensors(cfg)) {
    const std::string* name = nullptr;
    for (auto& n : e.names)
      if (!name && ws.has(n)) name = &n;
    if (!name) {
      std::string also = e.names.size() > 1 ? fmt::format(" (or '{}')", fmt::join(e.names.begin() + 1, e.names.end(), "', '")) : "";
      if (e.kind == K::Float)
        IGNIS_FAIL("{}: missing tensor '{}' (expected shape {} from config.json)", ws.origin(), e.names[0],
                   shape_str(e.shapes[0]));
      IGNIS_FAIL("{}: missing tensor '{}'{} ({} of {} declares it)", ws.origin(), e.names[0], also,
                 quant_method_name(cfg.quant.method), cfg.quant.source);
    }
    const TensorRef& t = ws.get(*name);
    bool shape_ok = false;
    for (auto& s : e.shapes) shape_ok = shape_ok || t.shape == s;
    if (!shape_ok) {
      std::vector<std::string> want;
      for (auto& s : e.shapes) want.push_back(shape_str(s));
      IGNIS_FAIL("{}: tensor '{}': shape {} does not match config.json (expected {})", t.file, *name,
                 shape_str(t.shape), fmt::join(want, " or "));
    }
    const bool is_float = t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16;
    if (e.kind == K::Fp8) {
      IGNIS_CHECK(t.dtype == DType::F8_E4M3, "{}: tensor '{}': dtype {}, but {} ({}) stores it as F8_E4M3", t.file,
                  *name, dtype_name(t.dtype), cfg.quant.source, quant_method_name(cfg.quant.method));
    } else if (e.kind == K::Packed || e.kind == K::Index) {
      IGNIS_CHECK(t.dtype == DType::I32 || (e.kind == K::Index && t.dtype == DType::I64),
                  "{}: tensor '{}': dtype {}, but {} ({}) stores it as I32", t.file, *name, dtype_name(t.dtype),
                  cfg.quant.source, quant_method_name(cfg.quant.method));
    } else if (e.kind == K::Scale) {
      IGNIS_CHECK(is_float, "{}: tensor '{}': scale dtype {} is not supported (F32, BF16 or F16)", t.file, *name,
                  dtype_name(t.dtype));
    } else {
      IGNIS_CHECK(is_float, "{}: tensor '{}': dtype {} is not supported (expected F32, F16 or BF16{})", t.file, *name,
                  dtype_name(t.dtype),
                  t.dtype == DType::F8_E4M3 ? (cfg.quant.quantized() ? "; the quantization config keeps this tensor dense"
                                                                     : "; FP8 weights need a quantization_config in config.json")
                                            : "");
    }
  }
}

WeightStore WeightStore::load(const fs::path& dir, const ModelConfig& cfg, LoadFormat fmt, uint64_t seed) {
  if (fmt == LoadFormat::Dummy) return make_dummy_weights(cfg, seed);
  std::error_code ec;
  IGNIS_CHECK(fs::is_directory(dir, ec), "{}: model folder does not exist or is not a directory", dir.string());
  fs::path index = dir / "model.safetensors.index.json";
  fs::path single = dir / "model.safetensors";
  WeightStore ws;
  if (fs::exists(index, ec)) {
    ws = load_sharded(dir, index);
  } else if (fs::exists(single, ec)) {
    ws.set_origin(dir.string());
    add_file(ws, SafetensorsFile(single.string()), nullptr);
  } else {
    IGNIS_FAIL("{}: no weights found (expected model.safetensors or model.safetensors.index.json); use "
               "--load-format dummy for seeded random weights",
               dir.string());
  }
  validate_weights(ws, cfg);
  return ws;
}

}  // namespace ignis
