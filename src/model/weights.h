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
  void keep_alive(MappedFile f) { files_.push_back(std::make_shared<MappedFile>(std::move(f))); }
  void keep_alive(std::vector<uint8_t> buf) { buffers_.push_back(std::make_shared<std::vector<uint8_t>>(std::move(buf))); }

 private:
  std::map<std::string, TensorRef> tensors_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<std::shared_ptr<std::vector<uint8_t>>> buffers_;
};

// Hugging Face tensor names of the Llama family.
std::string layer_tensor_name(int layer, const char* suffix);  // "model.layers.{i}.{suffix}"

}  // namespace ignis
