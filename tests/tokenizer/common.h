// Shared helpers for the tokenizer tests: asset paths and a per-process cache of
// loaded tokenizers (loading Llama 3's 280k merges takes a moment).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace ignis::test {

inline const char* kTokenizerNames[] = {"llama3", "llama3_1", "mistral", "qwen3"};

inline std::filesystem::path tokenizer_dir(const std::string& name) {
  return std::filesystem::path(IGNIS_ASSETS_DIR) / ("tokenizer-" + name) / "models";
}

// nullptr when the npm assets are not fetched (callers GTEST_SKIP).
inline const Tokenizer* cached_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  if (!std::filesystem::exists(tokenizer_dir(name) / "tokenizer.json")) return nullptr;
  return (cache[name] = Tokenizer::load(tokenizer_dir(name))).get();
}

inline nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << p;
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

inline std::filesystem::path tokenizer_data_dir() { return std::filesystem::path(IGNIS_TEST_DATA_DIR) / "tokenizer"; }

// Escapes control and non-ASCII bytes so failure messages stay readable.
inline std::string printable(const std::string& s, size_t max = 120) {
  std::string o;
  for (unsigned char c : s.substr(0, max)) {
    if (c == '\n') o += "\\n";
    else if (c < 0x20 || c == 0x7f) o += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    else o += static_cast<char>(c);
  }
  return s.size() > max ? o + "..." : o;
}

inline std::string ids_str(const std::vector<int32_t>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? "," : "") + std::to_string(v[i]);
  return o + "]";
}

#define IGNIS_TOKENIZER_OR_SKIP(var, name)                                                                \
  const ::ignis::Tokenizer* var = ::ignis::test::cached_tokenizer(name);                                  \
  if (!var) GTEST_SKIP() << "tokenizer assets missing under " << ::ignis::test::tokenizer_dir(name)       \
                         << " (run scripts/fetch-assets.sh or `make assets`)"

}  // namespace ignis::test
