// ignis cuda: the file that keeps tuned cuBLASLt algorithms between loads of a model, so the GEMM
// tuning of CudaModel (tune_gemms) runs once per GPU kind and library version instead of at every
// start. Pure host code (the format and the path); Gemm applies the entries.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ignis::cuda {

struct GemmCacheEntry {
  int in = 0, out = 0, m = 0, n = 0, k = 0;  // DType values of x/w and y; y (m, n) = x (m, k) . w (n, k)^T
  std::array<uint64_t, 8> algo{};            // the cublasLtMatmulAlgo_t, as cuBLASLt stores it
  bool operator==(const GemmCacheEntry&) const = default;
};

// Text: a first line "ignis-gemm-cache 1 <key>", then one entry a line: in out m n k and the 8
// algorithm words in hex.
std::string format_gemm_cache(const std::string& key, const std::vector<GemmCacheEntry>& entries);

// The entries of `text` if its first line names `key` (a file for another GPU, library version or
// format gives none); malformed lines are skipped.
std::vector<GemmCacheEntry> parse_gemm_cache(const std::string& text, const std::string& key);

// `key` with every character outside [A-Za-z0-9._-] replaced by '_' (a file name).
std::string gemm_cache_file_name(const std::string& key);

// Folder of the cache files: $IGNIS_CACHE_DIR, else $XDG_CACHE_HOME/ignis, else $HOME/.cache/ignis;
// empty when none of them is set.
std::filesystem::path cache_dir();

}  // namespace ignis::cuda
