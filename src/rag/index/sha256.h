// ignis rag (internal): SHA-256 of a file's content, the index's change detector.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace ignis::rag {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; lowercase hex of the 32-byte digest

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);
// Streams the file; throws ignis::Error naming it when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

}  // namespace ignis::rag
