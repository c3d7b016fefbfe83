// ignis rag: the Faiss side of an index (see rag/index.h for the commit protocol).
#include "rag/index/dense.h"

#include "rag/index/atomic_file.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "core/error.h"

namespace ignis::rag {

DenseIndex::DenseIndex(int dim) : dim_(dim) {
  IGNIS_CHECK(dim > 0, "dense index: dimension must be positive (got {})", dim);
  auto* map = new faiss::IndexIDMap(new faiss::IndexFlatIP(dim));
  map->own_fields = true;
  index_.reset(map);
}

DenseIndex::DenseIndex(int dim, faiss::Index* index) : dim_(dim), index_(index) {}

DenseIndex::~DenseIndex() = default;

std::unique_ptr<DenseIndex> DenseIndex::load(const std::filesystem::path& file) {
  faiss::Index* raw = nullptr;
  try {
    raw = faiss::read_index(file.c_str());
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    IGNIS_FAIL("{}: cannot read the Faiss index: {}", file.string(), msg);
  }
  std::unique_ptr<faiss::Index> owned(raw);
  auto* map = dynamic_cast<faiss::IndexIDMap*>(raw);
  IGNIS_CHECK(map && dynamic_cast<faiss::IndexFlatIP*>(map->index),
              "{}: not an IndexIDMap over IndexFlatIP (not written by ignis rag)", file.string());
  IGNIS_CHECK(map->id_map.size() == size_t(map->ntotal), "{}: {} ids for {} vectors", file.string(),
              map->id_map.size(), map->ntotal);
  return std::unique_ptr<DenseIndex>(new DenseIndex(int(raw->d), owned.release()));
}

void DenseIndex::add(std::int64_t n, const float* vectors, const std::int64_t* ids) {
  if (n <= 0) return;
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(std::int64_t));
  index_->add_with_ids(n, vectors, reinterpret_cast<const faiss::Index::idx_t*>(ids));
}

void DenseIndex::write(const std::filesystem::path& file) const {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  try {
    faiss::write_index(index_.get(), tmp.c_str());
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    IGNIS_FAIL("{}: cannot write the Faiss index: {}", tmp.string(), e.what());
  }
  fsync_and_rename(tmp, file);
}

std::int64_t DenseIndex::ntotal() const { return index_->ntotal; }

std::vector<std::int64_t> DenseIndex::ids() const {
  auto* map = static_cast<faiss::IndexIDMap*>(index_.get());
  return std::vector<std::int64_t>(map->id_map.begin(), map->id_map.end());
}

std::vector<std::pair<std::int64_t, float>> DenseIndex::search(const float* query, int k) const {
  std::vector<std::pair<std::int64_t, float>> out;
  k = int(std::min<std::int64_t>(k, index_->ntotal));
  if (k <= 0) return out;
  std::vector<float> dist(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(k));
  index_->search(1, query, k, dist.data(), labels.data());
  for (int i = 0; i < k; i++)
    if (labels[i] >= 0) out.push_back({std::int64_t(labels[i]), dist[i]});
  return out;
}

}  // namespace ignis::rag
