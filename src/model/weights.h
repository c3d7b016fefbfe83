// ignis model: the named tensors of a checkpoint, memory-mapped from safetensors
// (single file or sharded with model.safetensors.index.json) or seeded random
// ("dummy") at the right shapes. Host memory only; backends upload what they need.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "model/config.h"

namespace ignis {

struct TensorRef {
  std::string name;
  std::string file;  // which file it came from ("<dummy>" for dummy weights)
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

enum class LoadFormat { Auto, Safetensors, Dummy };
// "auto" | "safetensors" | "dummy" (as in --load-format); throws Error otherwise.
LoadFormat parse_load_format(const std::string& s);

class WeightStore {
 public:
  // Loads every tensor of the model folder (or dummy weights from config) and
  // validates names and shapes against `cfg`; throws Error naming file + tensor.
  static WeightStore load(const std::filesystem::path& dir, const ModelConfig& cfg,
                          LoadFormat fmt = LoadFormat::Auto, uint64_t seed = 0);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws Error("<dir>: missing tensor <name>") if absent.
  const TensorRef& get(const std::string& name) const;
  const std::map<std::string, TensorRef>& all() const { return tensors_; }

  // Internal use by the loader.
  void add(TensorRef t) { tensors_[t.name] = std::move(t); }
  bool erase(const std::string& name) { return tensors_.erase(name) > 0; }
  void keep_alive(MappedFile f) { files_.push_back(std::make_shared<MappedFile>(std::move(f))); }
  void keep_alive(std::vector<uint8_t> buf) { buffers_.push_back(std::make_shared<std::vector<uint8_t>>(std::move(buf))); }
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  // Where the weights came from (model folder, or "<dummy>"), for messages.
  const std::string& origin() const { return origin_; }
  void set_origin(std::string o) { origin_ = std::move(o); }
  // Total bytes of all tensors.
  int64_t total_bytes() const;

 private:
  std::string origin_;
  std::map<std::string, TensorRef> tensors_;
  std::vector<std::shared_ptr<const void>> owners_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<std::shared_ptr<std::vector<uint8_t>>> buffers_;
};

// Hugging Face tensor names of the Llama family.
std::string layer_tensor_name(int layer, const char* suffix);  // "model.layers.{i}.{suffix}"

// Every tensor the model needs, with its shape, in a stable order (embedding,
// layers 0..n-1, final norm, lm_head unless tied). Extra tensors in a checkpoint
// (e.g. rotary_emb.inv_freq) are not listed and are ignored by the loader.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const ModelConfig& cfg);

// Checks that `ws` has every expected tensor with the expected shape and a float
// dtype (F32/F16/BF16), or, where cfg.quant stores a projection as FP8, an F8_E4M3 weight and its
// scale tensors (checkpoint_tensors in model/linear_weights.h); throws Error naming file + tensor +
// expected vs got. Scale values are checked where they are read (load_linear, load_kv_scales).
void validate_weights(const WeightStore& ws, const ModelConfig& cfg);

// Seeded random weights at the config's shapes and dtype, no file needed
// (deterministic from `seed`, independent of the thread count): N(0, 0.02) for
// matrices and biases, 1 + N(0, 0.02) for RMSNorm weights. Multi-threaded. A config whose
// checkpoint stores projections as FP8 (cfg.quant, not OnLoad) gets e4m3 codes of the same
// distribution with one scale everywhere (0.02 / 112), static input and KV scales of 8 / 448.
WeightStore make_dummy_weights(const ModelConfig& cfg, uint64_t seed);

}  // namespace ignis
