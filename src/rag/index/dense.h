// ignis rag (internal): the dense side: a Faiss IndexIDMap over IndexFlatIP (ids = chunk ids).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

namespace faiss {
struct Index;
}

namespace ignis::rag {

class DenseIndex {
 public:
  explicit DenseIndex(int dim);
  ~DenseIndex();
  // Reads a Faiss file; throws Error naming it when it cannot be read or is not an IndexIDMap
  // over a flat inner-product index.
  static std::unique_ptr<DenseIndex> load(const std::filesystem::path& file);
  void add(std::int64_t n, const float* vectors, const std::int64_t* ids);
  // Writes `file` atomically: a temporary name beside it, fsync, rename.
  void write(const std::filesystem::path& file) const;
  std::int64_t ntotal() const;
  int dim() const { return dim_; }
  std::vector<std::int64_t> ids() const;
  // Best k (id, inner product), best first.
  std::vector<std::pair<std::int64_t, float>> search(const float* query, int k) const;

 private:
  DenseIndex(int dim, faiss::Index* index);
  int dim_;
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace ignis::rag
