// ignis rag: a document index over one folder: chunks (token windows with overlap along
// passage boundaries) stored with their source positions, a dense Faiss index when an
// embedding function is given, BM25 always, hybrid retrieval fused by reciprocal rank.
//
// On disk an index is a directory:
//   index.sqlite        THE authoritative file: meta (embedding model id, dim, chunk options,
//                       schema version, the names of the current derived files), files (relative
//                       path, sha256, size, mtime, format, title) and chunks (source position,
//                       text, and the embedding vector as a blob when dense).
//   dense-<gen>.faiss   IndexIDMap(IndexFlatIP) over the normalized chunk vectors, ids = chunk
//                       ids (dense indexes only), rebuilt from the vectors in index.sqlite.
//   lexical-<gen>.bm25  the BM25 inverted index, rebuilt from the chunk texts in index.sqlite.
// An update runs in one SQLite transaction; the derived files are written under temporary names,
// fsynced and renamed to a fresh generation before the transaction (which names them in meta)
// commits, so the old index.sqlite with its old files or the new one with the new files is always
// complete; files of other generations are removed after the commit. Index::open checks that the
// files named by the store exist and hold exactly the store's chunk ids (Faiss: also ntotal, dim).
// BM25 is stored, not rebuilt at open: on 20k chunks of 100 words (2M terms, 2-core shared CPU)
// building it from the texts takes 0.55 s (~10 s at 100k chunks of 512 tokens), opening the
// index with the snapshot 0.075 s (a 14 MB file next to a 10 MB store).
// Depends on core/ only (plus SQLite, Faiss); apps/ adapts enc::SentenceEncoder to Embedding.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rag/document.h"

namespace ignis::rag {

// What the index needs from an encoder (apps/ adapts enc::SentenceEncoder to it): token
// counting for chunking and batched embedding. count_tokens is called from several threads at once
// (BuildOptions::threads); embed_passages and embed_query from one thread at a time.
// Vectors must be L2-normalized (inner product = cosine).
struct Embedding {
  std::string model_id;  // name + a hash of the model folder's files: a change re-embeds everything
  std::string model_dir; // where it was loaded from (recorded so that `ask` can reload it); may be ""
  int dim = 0;
  std::function<int(const std::string&)> count_tokens;  // tokens of a text, special tokens excluded
  std::function<std::vector<std::vector<float>>(const std::vector<std::string>&)> embed_passages;
  std::function<std::vector<float>(const std::string&)> embed_query;  // applies the query prompt
};

struct ChunkOptions {
  int chunk_tokens = 512;   // Chat with RTX's defaults
  int overlap_tokens = 200;
};

// ---- chunking (index/chunker.cpp) ----

// A window of consecutive passages (or pieces of one long passage) of one page.
struct Chunk {
  std::string text;  // passages joined by "\n\n", pieces of one passage by " "
  int page = 0, line = 0;       // of its first passage
  std::string heading, anchor;  // of its first passage
  int tokens = 0;               // sum of its pieces' token counts
};

// Whitespace-separated words: the token count when there is no embedding model.
int count_words(const std::string& text);

// Packs whole passages into chunks of at most chunk_tokens; a passage longer than that is split
// at sentence ends, a sentence longer than that at words (a single longer word at characters).
// Consecutive chunks share trailing pieces of at most overlap_tokens. A chunk never spans two
// pages. Throws Error for options out of range (chunk_tokens < 1, overlap not in [0, chunk_tokens)).
std::vector<Chunk> chunk_passages(const std::vector<Passage>& passages, const ChunkOptions& opt,
                                  const std::function<int(const std::string&)>& count_tokens);

// ---- lexical retrieval (index/lexical.cpp) ----

// Lowercased words (letters, digits, marks; Latin diacritics folded to ASCII: "Café" -> "cafe");
// every CJK ideograph is a word of its own.
std::vector<std::string> lexical_terms(const std::string& text);

// Okapi BM25 over an in-memory inverted index; idf = ln(1 + (N - df + 0.5) / (df + 0.5)).
class Bm25 {
 public:
  explicit Bm25(double k1 = 1.2, double b = 0.75) : k1_(k1), b_(b) {}
  void add(std::int64_t id, const std::string& text);
  // add() with the text's lexical_terms computed beforehand (e.g. on other threads).
  void add_terms(std::int64_t id, std::vector<std::string> terms);
  // The best k ids with their scores, best first (ties: smaller id first); only ids sharing a term.
  std::vector<std::pair<std::int64_t, double>> search(const std::string& query, int k) const;
  std::size_t size() const { return ids_.size(); }
  const std::vector<std::int64_t>& ids() const { return ids_; }
  // A binary snapshot (lexical-<gen>.bm25 in an index): written under a temporary name, fsynced,
  // renamed; load replaces this one's content and throws Error naming the file if it is not one.
  void save(const std::filesystem::path& file) const;
  void load(const std::filesystem::path& file);

 private:
  double k1_, b_;
  std::vector<std::int64_t> ids_;
  std::vector<int> lengths_;
  double total_length_ = 0;
  std::unordered_map<std::string, int> terms_;             // term -> index into postings_
  std::vector<std::vector<std::pair<int, int>>> postings_;  // term -> (doc index, tf)
};

// ---- fusion (index/fusion.cpp) ----

struct Fused {
  std::int64_t id = 0;
  double score = 0;      // sum over the lists of 1 / (k + rank)
  int dense_rank = 0;    // 1-based, 0 if absent
  int lexical_rank = 0;  // 1-based, 0 if absent
};
// Reciprocal rank fusion of two ranked id lists, best first (ties: better best rank, then smaller id).
std::vector<Fused> reciprocal_rank_fusion(const std::vector<std::int64_t>& dense,
                                          const std::vector<std::int64_t>& lexical, int k = 60);

// ---- building (index/build.cpp) ----

struct IndexReport {
  int files_seen = 0, files_indexed = 0, files_unchanged = 0, files_removed = 0;
  int chunks_added = 0, chunks_removed = 0, chunks_total = 0;
  bool rebuilt = false;              // everything re-embedded (new index, model or chunk options changed)
  std::string rebuild_reason;        // why, when rebuilt ("new index", "embedding model changed", ...)
  std::vector<SkippedEntry> skipped; // one line each in the report
  int embed_calls = 0;               // embed_passages calls made (batches)
  double seconds = 0;
  // Where the time went: reading, parsing and chunking (the threads' wall time), embedding, and
  // writing the store and the derived files (Faiss, BM25).
  double prepare_seconds = 0, embed_seconds = 0, write_seconds = 0;
};

struct Progress {
  // Called after each file and each embedding batch: (files done, files total, chunks added so
  // far in this run, current file's rel path).
  std::function<void(int, int, int, const std::string&)> on_file;
};

// How files are found and read. The defaults (default_source(), index/source.cpp) are
// scan_folder and parse_file; tests give their own.
struct IndexSource {
  std::function<FolderScan(const std::filesystem::path&)> scan;
  std::function<ParsedDocument(const FolderEntry&)> parse;
};
IndexSource default_source(const ParseLimits& limits = {});

struct BuildOptions {
  ChunkOptions chunk;
  int embed_batch = 16;  // passages per embed_passages call (a batch may span files)
  // Threads reading, hashing, parsing and chunking files at once (0: the machine's cores, at most 8);
  // they work through windows of up to 4 x threads files and about window_bytes of file data.
  int threads = 0;
  std::uint64_t window_bytes = 256ull << 20;
  // Files above this are skipped before they are hashed (the parsers' own limit, ParseLimits).
  std::uint64_t max_file_bytes = ParseLimits{}.max_file_bytes;
  Progress progress;
};

// Brings the index at `index_dir` (created if missing) up to date with the folder `docs`:
// files whose (size, mtime) changed are hashed and re-chunked / re-embedded only if their sha256
// changed; deleted files lose their chunks; a different embedding model_id (or none instead of
// one), other chunk options or an older schema rebuild everything. `embedding` null = lexical
// only. Throws Error when the folder cannot be read; on any exception the previous index is
// left as it was.
IndexReport build_index(const std::filesystem::path& docs, const std::filesystem::path& index_dir,
                        const Embedding* embedding, const BuildOptions& options, const IndexSource& source);

// ---- querying (index/index.cpp) ----

struct IndexInfo {
  int version = 0;
  std::string model_id;   // "" for a lexical-only index
  std::string model_dir;  // as recorded at build time
  int dim = 0;
  ChunkOptions chunk;
  int files = 0, chunks = 0;
  std::string docs;       // the folder it was built from (absolute)
};

// A retrieved chunk with where it came from.
struct Hit {
  std::int64_t chunk_id = 0;
  std::string file;  // relative path (FolderEntry::rel)
  std::string title;
  int page = 0, line = 0;
  std::string heading, anchor;
  std::string text;
  double score = 0;       // fused score (RRF) or the single retriever's score
  int dense_rank = 0;     // 1-based, 0 if not in the dense list
  int lexical_rank = 0;   // 1-based, 0 if not in the BM25 list
};

enum class Retrieval { Hybrid, Dense, Lexical };
// "hybrid" | "dense" | "lexical"; throws Error otherwise.
Retrieval parse_retrieval(const std::string& name);
const char* retrieval_name(Retrieval r);

// The citation of a hit: `guide/a.pdf, page 3, "Heading"`: file, then page and line, then the heading
// and anchor where present.
std::string cite(const Hit& h);

// A file in the index (Index::files).
struct IndexedFile {
  std::string rel;  // FolderEntry::rel
  std::string format, title;
  std::uint64_t size = 0;
  int chunks = 0;
};

// One Index is not safe for concurrent calls (one SQLite connection): callers serialize them. An
// update by build_index on the same directory may run meanwhile (another connection); an open
// Index keeps serving its generation's vectors and BM25 (hits of chunks deleted since are left out).
class Index {
 public:
  // Opens and validates an index directory. Throws Error when it is missing, not an index,
  // of another schema version, or its Faiss file does not match the store (ntotal, dim, ids).
  static std::unique_ptr<Index> open(const std::filesystem::path& index_dir);
  ~Index();

  const IndexInfo& info() const;
  bool dense() const;

  // The top_k chunks for `query`. Dense and Hybrid need `embedding` with the index's model_id
  // (Error otherwise); on a lexical-only index Hybrid falls back to Lexical and says so in *note
  // (Dense is an Error). Each retriever contributes its best candidates (max(top_k, 50)) to fusion.
  std::vector<Hit> search(const std::string& query, int top_k, Retrieval mode, const Embedding* embedding,
                          std::string* note = nullptr) const;

  // The files of the store as it is now, by rel.
  std::vector<IndexedFile> files() const;

 private:
  struct Impl;
  explicit Index(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ignis::rag
