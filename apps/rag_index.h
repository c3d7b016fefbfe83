// ignis rag (apps): what `ignis rag` and `ignis serve --docs` share: the sentence encoder adapted
// to rag::Embedding (src/rag never sees encoder/), the index flags, and building / updating a
// folder's index with a progress bar and a report on stderr.
#pragma once
#ifdef HAVE_IGNIS_RAG
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "rag/index.h"

namespace ignis::enc {
class SentenceEncoder;
}

namespace ignis::cli {
namespace fs = std::filesystem;

// "<folder name>@<16 hex>": a hash over the folder's file names, sizes and contents.
std::string model_fingerprint(const fs::path& dir);

struct LoadedEmbedding {
  std::shared_ptr<enc::SentenceEncoder> encoder;  // null in a build without the encoder library
  rag::Embedding emb;
  int max_tokens = 0;  // the encoder's max_seq_length less its special tokens
};

// Loads a sentence-transformers folder; throws Error (also in a build without the encoder).
// device: where it runs, as --embedding-device (auto: the GPU when there is one).
std::unique_ptr<LoadedEmbedding> load_embedding(const std::string& dir, const std::string& device = "auto");

struct IndexFlags {
  std::string docs, index, embedding_model, embedding_device = "auto";
  int chunk_tokens = 0, chunk_overlap = -1;  // 0 / -1 = defaults (512 / 200, fitted to the encoder)
  int index_threads = 0;                      // 0 = the machine's cores (at most 8)
  int embed_batch = 128;                      // chunks per encoder call
  bool quiet = false;

  void add(CLI::App& app, bool docs_required) {
    auto* d = app.add_option("--docs", docs, "the folder of documents")->check(CLI::ExistingDirectory);
    if (docs_required) d->required();
    app.add_option("--index", index, "the index directory (default: DOCS/.ignis-index)");
    app.add_option("--embedding-model", embedding_model,
                   "sentence-transformers folder for dense retrieval (default: the one the index was built with; "
                   "'none': BM25 only)")
        ->check(CLI::ExistingDirectory | CLI::IsMember({"none"}));
    app.add_option("--embedding-device", embedding_device, "where the embedding model runs: auto (GPU if any), cpu, cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    app.add_option("--chunk-tokens", chunk_tokens, "tokens per chunk (default 512, at most what the encoder reads)")
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("--chunk-overlap", chunk_overlap, "tokens shared by consecutive chunks (default 200)")
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("--index-threads", index_threads, "threads reading, parsing and chunking files (0: the cores, at most 8)")
        ->check(CLI::Range(0, 256));
    app.add_option("--embed-batch", embed_batch, "chunks per embedding call (batches span files)")
        ->check(CLI::Range(1, 65536))->capture_default_str();
    app.add_flag("--quiet", quiet, "no progress or report on stderr");
  }
  fs::path index_dir() const {
    IGNIS_CHECK(!docs.empty() || !index.empty(), "give --docs DIR or --index PATH");
    return index.empty() ? fs::path(docs) / ".ignis-index" : fs::path(index);
  }
};

// The existing valid index at `dir`, else null.
std::unique_ptr<rag::Index> try_open(const fs::path& dir);
// The embedding model: --embedding-model, else the one recorded in the existing index (null: BM25 only).
std::unique_ptr<LoadedEmbedding> resolve_embedding(const IndexFlags& f, const rag::Index* existing);
rag::ChunkOptions chunk_options(const IndexFlags& f, const LoadedEmbedding* le);
void print_report(const rag::IndexReport& r, const fs::path& dir, const LoadedEmbedding* le);
// Builds or updates the index of f.docs at `dir` with `le` (null: lexical only); progress and the
// report on stderr unless f.quiet. Without chunk flags an existing index of the same model keeps
// its chunk options.
rag::IndexReport build_folder_index(const IndexFlags& f, const fs::path& dir, const LoadedEmbedding* le);
// resolve_embedding + build_folder_index; returns the embedding used (null: lexical only).
std::unique_ptr<LoadedEmbedding> update_index(const IndexFlags& f, const fs::path& dir);

}  // namespace ignis::cli
#endif  // HAVE_IGNIS_RAG
