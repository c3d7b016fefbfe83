// ignis rag: opening (with validation) and querying an index.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "rag/index.h"
#include "rag/index/dense.h"
#include "rag/index/store.h"

namespace ignis::rag {
namespace fs = std::filesystem;

struct Index::Impl {
  fs::path dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<DenseIndex> dense;
  Bm25 bm25;
  IndexInfo info;
};

Index::Index(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Index::~Index() = default;
const IndexInfo& Index::info() const { return impl_->info; }
bool Index::dense() const { return impl_->dense != nullptr; }

std::unique_ptr<Index> Index::open(const fs::path& dir) {
  const fs::path db = dir / "index.sqlite";
  IGNIS_CHECK(fs::is_directory(dir) && fs::exists(db), "{}: no index here (build it with `ignis rag index`)",
              dir.string());
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->store = std::make_unique<Store>(db, /*create=*/false);
  Store& st = *impl->store;
  // One read transaction: an update cannot commit (and then delete the derived files this
  // generation names) while they are being loaded.
  st.begin_read();
  IGNIS_CHECK(st.has_schema() && st.meta("version"),
              "{}: the index is empty or incomplete (an interrupted first run?): run `ignis rag index` again",
              dir.string());
  auto get_int = [&](const char* key) {
    auto v = st.meta(key);
    IGNIS_CHECK(v, "{}: the index has no '{}' in its meta table", db.string(), key);
    try {
      return std::stoi(*v);
    } catch (const std::exception&) {
      IGNIS_FAIL("{}: meta '{}' is not a number: '{}'", db.string(), key, *v);
    }
  };
  IndexInfo& in = impl->info;
  in.version = get_int("version");
  IGNIS_CHECK(in.version == Store::kVersion, "{}: index format {} (this build reads {}): run `ignis rag index` again",
              dir.string(), in.version, Store::kVersion);
  in.model_id = st.meta("model_id").value_or("");
  in.model_dir = st.meta("model_dir").value_or("");
  in.dim = get_int("dim");
  in.chunk.chunk_tokens = get_int("chunk_tokens");
  in.chunk.overlap_tokens = get_int("overlap_tokens");
  in.docs = st.meta("docs").value_or("");
  in.files = st.count_files();
  in.chunks = st.count_chunks();

  if (in.dim > 0) {
    const std::string name = st.meta("faiss_file").value_or("");
    IGNIS_CHECK(!name.empty(), "{}: a dense index without a Faiss file in its meta table", db.string());
    const fs::path file = dir / name;
    IGNIS_CHECK(fs::exists(file), "{}: the Faiss file {} that index.sqlite names is missing: rebuild with "
                "`ignis rag index`", dir.string(), name);
    impl->dense = DenseIndex::load(file);
    DenseIndex& d = *impl->dense;
    IGNIS_CHECK(d.dim() == in.dim, "{}: Faiss dimension {} but the store says {}", file.string(), d.dim(), in.dim);
    IGNIS_CHECK(d.ntotal() == in.chunks,
                "{}: the Faiss index holds {} vectors but the store has {} chunks (index.sqlite is authoritative: "
                "rebuild with `ignis rag index`)", file.string(), d.ntotal(), in.chunks);
    std::vector<std::int64_t> ids = d.ids();
    std::sort(ids.begin(), ids.end());
    IGNIS_CHECK(ids == st.chunk_ids(), "{}: the Faiss ids are not the store's chunk ids (rebuild with `ignis rag index`)",
                file.string());
  }
  const std::string lexical = st.meta("lexical_file").value_or("");
  IGNIS_CHECK(!lexical.empty() && fs::exists(dir / lexical),
              "{}: the BM25 file {} that index.sqlite names is missing: rebuild with `ignis rag index`", dir.string(),
              lexical.empty() ? "(none)" : lexical);
  impl->bm25.load(dir / lexical);
  std::vector<std::int64_t> ids = impl->bm25.ids();
  std::sort(ids.begin(), ids.end());
  IGNIS_CHECK(ids == st.chunk_ids(),
              "{}: the BM25 snapshot holds {} chunks, not the store's {} (index.sqlite is authoritative: rebuild with "
              "`ignis rag index`)", (dir / lexical).string(), ids.size(), in.chunks);
  st.commit();
  return std::unique_ptr<Index>(new Index(std::move(impl)));
}

std::vector<Hit> Index::search(const std::string& query, int top_k, Retrieval mode, const Embedding* emb,
                               std::string* note) const {
  IGNIS_CHECK(top_k >= 1, "top-k must be at least 1 (got {})", top_k);
  if (note) note->clear();
  if (mode != Retrieval::Lexical && !impl_->dense) {
    IGNIS_CHECK(mode != Retrieval::Dense,
                "dense retrieval needs an index built with an embedding model (this one is lexical only)");
    mode = Retrieval::Lexical;
    if (note) *note = "lexical retrieval only: the index was built without an embedding model";
  }
  const int cand = std::max(top_k, 50);
  std::vector<std::pair<std::int64_t, float>> dense;
  std::vector<std::pair<std::int64_t, double>> lexical;
  if (mode != Retrieval::Lexical) {
    IGNIS_CHECK(emb, "{} retrieval needs the index's embedding model ({})", retrieval_name(mode), impl_->info.model_id);
    IGNIS_CHECK(emb->model_id == impl_->info.model_id,
                "the index was built with embedding model {} but the query uses {}: rebuild with `ignis rag index`",
                impl_->info.model_id, emb->model_id);
    std::vector<float> q = emb->embed_query ? emb->embed_query(query) : emb->embed_passages({query}).at(0);
    IGNIS_CHECK(int(q.size()) == impl_->info.dim, "query embedding of {} floats, the index has {}", q.size(),
                impl_->info.dim);
    double s = 0;
    for (float x : q) s += double(x) * x;
    if (s > 0)
      for (float& x : q) x = float(x / std::sqrt(s));
    dense = impl_->dense->search(q.data(), cand);
  }
  if (mode != Retrieval::Dense) lexical = impl_->bm25.search(query, cand);

  std::vector<Fused> ranked;
  if (mode == Retrieval::Hybrid) {
    std::vector<std::int64_t> d, l;
    for (auto& [id, sc] : dense) d.push_back(id);
    for (auto& [id, sc] : lexical) l.push_back(id);
    ranked = reciprocal_rank_fusion(d, l);
  } else if (mode == Retrieval::Dense) {
    for (size_t r = 0; r < dense.size(); r++) ranked.push_back({dense[r].first, double(dense[r].second), int(r) + 1, 0});
  } else {
    for (size_t r = 0; r < lexical.size(); r++) ranked.push_back({lexical[r].first, lexical[r].second, 0, int(r) + 1});
  }
  if (ranked.size() > size_t(top_k)) ranked.resize(size_t(top_k));
  std::vector<Hit> hits;
  for (const Fused& f : ranked) {
    ChunkRecord c;
    Hit h;
    // An update committed since open may have removed it: such a hit is left out.
    if (!impl_->store->chunk(f.id, &c, &h.file, &h.title)) continue;
    h.chunk_id = f.id;
    h.page = c.page;
    h.line = c.line;
    h.heading = std::move(c.heading);
    h.anchor = std::move(c.anchor);
    h.text = std::move(c.text);
    h.score = f.score;
    h.dense_rank = f.dense_rank;
    h.lexical_rank = f.lexical_rank;
    hits.push_back(std::move(h));
  }
  return hits;
}

std::vector<IndexedFile> Index::files() const {
  std::vector<IndexedFile> out;
  for (auto& [rel, f] : impl_->store->files())
    out.push_back({rel, f.format, f.title, static_cast<std::uint64_t>(f.size), f.chunks});
  return out;
}

}  // namespace ignis::rag
