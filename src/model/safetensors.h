// ignis model: safetensors files (https://huggingface.co/docs/safetensors), parsed
// strictly and memory-mapped. Layout: 8-byte little-endian header length N, N bytes
// of JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {str: str}}, then the data section, which the tensors must cover exactly
// (no gaps, no overlap). Every error names the file and, where there is one, the tensor.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace ignis {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets within the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // file offset of the data section (8 + header length)
};

// Largest header accepted (the reference implementation's limit is 100 MB).
inline constexpr uint64_t kMaxSafetensorsHeader = uint64_t(100) << 20;

// Validates the whole file layout given its bytes (only the header is read; the
// data section is checked by offsets against `size`). `file` names it in errors.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& file);

// One memory-mapped safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // maps and validates; throws Error
  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  const uint8_t* tensor_data(const SafetensorsEntry& e) const { return file_.data() + header_.data_start + e.begin; }
  MappedFile release_mapping() { return std::move(file_); }

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

// model.safetensors.index.json: tensor name -> shard file name (relative to the folder).
// Rejects absolute paths and "..", so a hostile index cannot reach outside the folder.
std::map<std::string, std::string> parse_safetensors_index(const std::string& json_text, const std::string& file);

// Writes a safetensors file (for tests, tools and tiny checkpoints). Each tensor:
// name, dtype, shape, raw bytes (size must match).
struct SafetensorsWriteTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Streaming variant for large files: each tensor's bytes come from `produce`, called once, in
// order, after the header is written; it hands its bytes to the sink (in one or more pieces, nbytes
// in all). Only one tensor's data is ever needed in memory.
struct SafetensorsStreamTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::function<void(const std::function<void(const void* data, size_t n)>& sink)> produce;
  size_t nbytes() const;
};
// `written(bytes)` (optional) is called after each tensor with its size (progress bars).
void write_safetensors_stream(const std::string& path, const std::vector<SafetensorsStreamTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {},
                              const std::function<void(size_t)>& written = {});

}  // namespace ignis
