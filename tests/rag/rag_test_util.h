// Shared by the rag parser tests: a temporary folder removed at the end, and file writing.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "rag/document.h"

namespace ignis::rag::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ignis_rag_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    // chmod'ed-away entries must be made removable again first
    for (auto it = std::filesystem::recursive_directory_iterator(
             path_, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_symlink(ec))
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    }
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

// Parses `bytes` as a file named `name` in a fresh temp folder.
inline ParsedDocument parse_bytes(const std::string& name, std::string_view bytes, const ParseLimits& limits = {}) {
  TempDir dir;
  return parse_file(write_file(dir / name, bytes), limits);
}

// The ParseError message of parsing `bytes` as `name` ("" if it parsed).
inline std::string parse_error_of(const std::string& name, std::string_view bytes, const ParseLimits& limits = {}) {
  try {
    parse_bytes(name, bytes, limits);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}

}  // namespace ignis::rag::test
