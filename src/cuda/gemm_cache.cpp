#include "cuda/gemm_cache.h"

#include <cstdlib>
#include <sstream>

namespace ignis::cuda {

namespace {
constexpr const char* kMagic = "ignis-gemm-cache 1 ";
}  // namespace

std::string format_gemm_cache(const std::string& key, const std::vector<GemmCacheEntry>& entries) {
  std::ostringstream o;
  o << kMagic << key << "\n";
  for (const auto& e : entries) {
    o << e.in << ' ' << e.out << ' ' << e.m << ' ' << e.n << ' ' << e.k << std::hex;
    for (uint64_t w : e.algo) o << ' ' << w;
    o << std::dec << "\n";
  }
  return o.str();
}

std::vector<GemmCacheEntry> parse_gemm_cache(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  std::vector<GemmCacheEntry> out;
  if (!std::getline(in, line) || line != kMagic + key) return out;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    GemmCacheEntry e;
    if (!(ls >> e.in >> e.out >> e.m >> e.n >> e.k)) continue;
    ls >> std::hex;
    bool ok = true;
    for (uint64_t& w : e.algo) ok = ok && static_cast<bool>(ls >> w);
    std::string rest;
    if (!ok || (ls >> rest) || e.m <= 0 || e.n <= 0 || e.k <= 0) continue;
    out.push_back(e);
  }
  return out;
}

std::string gemm_cache_file_name(const std::string& key) {
  std::string s = key;
  for (char& c : s) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    if (!keep) c = '_';
  }
  return s;
}

std::filesystem::path cache_dir() {
  if (const char* d = std::getenv("IGNIS_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::filesystem::path(d) / "ignis";
  if (const char* d = std::getenv("HOME"); d && *d) return std::filesystem::path(d) / ".cache" / "ignis";
  return {};
}

}  // namespace ignis::cuda
