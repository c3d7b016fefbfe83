// ignis rag (apps): what `ignis rag` and `ignis serve --docs` share: the sentence encoder adapted
// to rag::Embedding, where the index lives, and building / updating it with a progress bar.
#ifdef HAVE_IGNIS_RAG
#include "rag_index.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "embedder.h"
#include "rag/index/sha256.h"
#ifdef HAVE_IGNIS_ENCODER
#include "encoder/sentence_encoder.h"
#endif

namespace ignis::cli {
namespace {

// A progress bar on a terminal, plain lines otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(bool quiet) : quiet_(quiet), tty_(isatty(fileno(stderr))) {}
  void update(int done, int total, int chunks, const std::string& rel) {
    if (quiet_) return;
    if (tty_) {
      auto now = std::chrono::steady_clock::now();
      if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      const int width = 30;
      int fill = total > 0 ? done * width / total : width;
      std::string name = rel.size() > 40 ? "..." + rel.substr(rel.size() - 37) : rel;
      std::fprintf(stderr, "\r\033[K[%s%s] %d/%d files, %d chunks  %s", std::string(size_t(fill), '#').c_str(),
                   std::string(size_t(width - fill), '.').c_str(), done, total, chunks, name.c_str());
      shown_ = true;
    } else if (done > last_done_) {
      std::fprintf(stderr, "index: %d/%d files, %d chunks: %s\n", done, total, chunks, rel.c_str());
    }
    last_done_ = std::max(last_done_, done);
    std::fflush(stderr);
  }
  void finish() {
    if (shown_) std::fputs("\n", stderr);
    shown_ = false;
  }

 private:
  bool quiet_, tty_, shown_ = false;
  int last_done_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

// ---- the embedding model ----

// "<folder name>@<16 hex>": a hash over the folder's file names, sizes and contents (files over
// 64 MiB: their first and last 4 MiB), so another checkpoint under the same name re-embeds.
std::string model_fingerprint(const fs::path& dir) {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().rfind('.', 0) == 0) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  rag::Sha256 h;
  std::vector<char> buf(1 << 20);
  for (const fs::path& f : files) {
    const std::string rel = fs::relative(f, dir).generic_string();
    const uint64_t size = fs::file_size(f);
    h.update(rel.data(), rel.size() + 1);
    h.update(&size, sizeof size);
    std::FILE* fp = std::fopen(f.c_str(), "rb");
    IGNIS_CHECK(fp, "{}: cannot read", f.string());
    auto hash_range = [&](uint64_t from, uint64_t n) {
      std::fseek(fp, long(from), SEEK_SET);
      while (n > 0) {
        size_t got = std::fread(buf.data(), 1, std::min<uint64_t>(n, buf.size()), fp);
        if (got == 0) break;
        h.update(buf.data(), got);
        n -= got;
      }
    };
    const uint64_t big = 64ull << 20, edge = 4ull << 20;
    if (size <= big) {
      hash_range(0, size);
    } else {
      hash_range(0, edge);
      hash_range(size - edge, edge);
    }
    std::fclose(fp);
  }
  fs::path abs = fs::absolute(dir).lexically_normal();
  std::string name = abs.filename().string();
  if (name.empty()) name = abs.parent_path().filename().string();
  return name + "@" + h.hex().substr(0, 16);
}


std::unique_ptr<LoadedEmbedding> load_embedding(const std::string& dir, const std::string& device) {
#ifdef HAVE_IGNIS_ENCODER
  auto le = std::make_unique<LoadedEmbedding>();
  le->encoder = load_sentence_encoder(dir, device);
  const enc::SentenceEncoder* e = le->encoder.get();
  const auto& prompts = e->config().prompts;
  auto prompt = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (prompts.count(n)) return std::string(n);
    return std::string();  // the default prompt, if any
  };
  const std::string passage = prompt({"passage", "document"}), query = prompt({"query"});
  le->emb.model_id = model_fingerprint(dir);
  le->emb.model_dir = fs::absolute(dir).lexically_normal().string();
  le->emb.dim = e->dim();
  le->emb.count_tokens = [e](const std::string& t) { return int(e->tokenizer().encode(t, false).size()); };
  le->emb.embed_passages = [e, passage](const std::vector<std::string>& texts) { return e->embed(texts, passage); };
  le->emb.embed_query = [e, query](const std::string& q) { return e->embed({q}, query).at(0); };
  const int overhead = int(e->tokenize("", passage).ids.size());
  le->max_tokens = e->config().max_seq_length > 0 ? e->config().max_seq_length - overhead : 0;
  return le;
#else
  IGNIS_FAIL("--embedding-model {}: this build has no encoder library (needs OpenBLAS)", dir);
#endif
}

// ---- where the index is and what builds it ----


// The existing index's info, if there is a valid one.
std::unique_ptr<rag::Index> try_open(const fs::path& dir) {
  if (!fs::exists(dir / "index.sqlite")) return nullptr;
  try {
    return rag::Index::open(dir);
  } catch (const Error&) {
    return nullptr;
  }
}

// The embedding model: --embedding-model, else the one recorded in the existing index.
std::unique_ptr<LoadedEmbedding> resolve_embedding(const IndexFlags& f, const rag::Index* existing) {
  if (f.embedding_model == "none") return nullptr;
  if (!f.embedding_model.empty()) return load_embedding(f.embedding_model, f.embedding_device);
  if (existing && existing->dense()) {
    const std::string& dir = existing->info().model_dir;
    IGNIS_CHECK(!dir.empty() && fs::is_directory(dir),
                "the index was built with embedding model {} from '{}', which is not there: pass --embedding-model DIR",
                existing->info().model_id, dir);
    return load_embedding(dir, f.embedding_device);
  }
  return nullptr;
}

rag::ChunkOptions chunk_options(const IndexFlags& f, const LoadedEmbedding* le) {
  rag::ChunkOptions c;
  if (f.chunk_tokens > 0) {
    c.chunk_tokens = f.chunk_tokens;
  } else if (le && le->max_tokens > 0 && le->max_tokens < c.chunk_tokens) {
    // The encoder would truncate a 512-token chunk: fit the chunk to it, overlap in proportion.
    c.overlap_tokens = std::max(0, c.overlap_tokens * le->max_tokens / c.chunk_tokens);
    c.chunk_tokens = le->max_tokens;
  }
  if (f.chunk_overlap >= 0) c.overlap_tokens = f.chunk_overlap;
  if (f.chunk_tokens > 0 && f.chunk_overlap < 0) c.overlap_tokens = std::min(c.overlap_tokens, c.chunk_tokens / 2);
  IGNIS_CHECK(c.overlap_tokens < c.chunk_tokens, "--chunk-overlap ({}) must be less than --chunk-tokens ({})",
              c.overlap_tokens, c.chunk_tokens);
  if (le && le->max_tokens > 0 && c.chunk_tokens > le->max_tokens)
    std::fprintf(stderr, "note: the embedding model reads %d tokens; chunks of %d are truncated when embedded\n",
                 le->max_tokens, c.chunk_tokens);
  return c;
}

void print_report(const rag::IndexReport& r, const fs::path& dir, const LoadedEmbedding* le) {
  std::fprintf(stderr, "index %s (%s)\n", dir.string().c_str(),
               le ? ("dense " + le->emb.model_id + " + BM25").c_str() : "BM25 only: no embedding model");
  if (r.rebuilt) std::fprintf(stderr, "rebuilt: %s\n", r.rebuild_reason.c_str());
  std::fprintf(stderr,
               "indexed %d, unchanged %d, removed %d, skipped %zu files; chunks +%d -%d, %d in the index; %.2f s\n",
               r.files_indexed, r.files_unchanged, r.files_removed, r.skipped.size(), r.chunks_added, r.chunks_removed,
               r.chunks_total, r.seconds);
  if (r.chunks_added > 0 && r.seconds > 0)
    std::fprintf(stderr, "%.0f chunks/s (%d embedding calls); read+parse+chunk %.2f s, embed %.2f s, write %.2f s\n",
                 r.chunks_added / r.seconds, r.embed_calls, r.prepare_seconds, r.embed_seconds, r.write_seconds);
  for (const auto& s : r.skipped) std::fprintf(stderr, "skipped %s: %s\n", s.rel.c_str(), s.reason.c_str());
}

rag::IndexReport build_folder_index(const IndexFlags& f, const fs::path& dir, const LoadedEmbedding* le) {
  auto existing = try_open(dir);
  rag::BuildOptions bo;
  bo.chunk = chunk_options(f, le);
  bo.threads = f.index_threads;
  bo.embed_batch = f.embed_batch;
  // Without chunk flags an existing index of the same model keeps its own options (no rebuild by surprise).
  if (f.chunk_tokens == 0 && f.chunk_overlap < 0 && existing &&
      existing->info().model_id == (le ? le->emb.model_id : ""))
    bo.chunk = existing->info().chunk;
  existing.reset();
  ProgressBar bar(f.quiet);
  bo.progress.on_file = [&](int done, int total, int chunks, const std::string& rel) { bar.update(done, total, chunks, rel); };
  rag::IndexReport r;
  try {
    r = rag::build_index(f.docs, dir, le ? &le->emb : nullptr, bo, rag::default_source());
  } catch (...) {
    bar.finish();
    throw;
  }
  bar.finish();
  if (!f.quiet) print_report(r, dir, le);
  return r;
}

std::unique_ptr<LoadedEmbedding> update_index(const IndexFlags& f, const fs::path& dir) {
  std::unique_ptr<LoadedEmbedding> le;
  {
    auto existing = try_open(dir);
    le = resolve_embedding(f, existing.get());
  }
  build_folder_index(f, dir, le.get());
  return le;
}

}  // namespace ignis::cli
#endif  // HAVE_IGNIS_RAG
