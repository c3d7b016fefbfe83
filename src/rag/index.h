// ignis rag: a document index over one folder: chunks (token windows with overlap along
// passage boundaries) stored with their source positions, a dense Faiss index when an
// embedding function is given, BM25 always, hybrid retrieval fused by reciprocal rank.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rag/document.h"

namespace ignis::rag {

// What the index needs from an encoder (apps/ adapts enc::SentenceEncoder to it): token
// counting for chunking and batched embedding. All callbacks may be called from one thread only.
struct Embedding {
  std::string model_id;  // name + a hash of the model folder's files: a change re-embeds everything
  int dim = 0;
  std::function<int(const std::string&)> count_tokens;
  std::function<std::vector<std::vector<float>>(const std::vector<std::string>&)> embed_passages;
  std::function<std::vector<float>(const std::string&)> embed_query;  // applies the query prompt
};

struct ChunkOptions {
  int chunk_tokens = 512;
  int overlap_tokens = 200;
};

// A retrieved chunk with where it came from.
struct Hit {
  std::int64_t chunk_id = 0;
  std::string file;  // relative path (FolderEntry::rel)
  int page = 0, line = 0;
  std::string heading, anchor;
  std::string text;
  double score = 0;       // fused score (RRF) or the single retriever's score
  int dense_rank = 0;     // 1-based, 0 if not in the dense list
  int lexical_rank = 0;   // 1-based, 0 if not in the BM25 list
};

enum class Retrieval { Hybrid, Dense, Lexical };

struct IndexReport {
  int files_seen = 0, files_indexed = 0, files_unchanged = 0, files_removed = 0;
  int chunks_added = 0, chunks_total = 0;
  std::vector<SkippedEntry> skipped;  // one line each in the report
  double seconds = 0;
};

struct Progress {
  // Called after each file: (files done, files total, chunks so far, current file rel path).
  std::function<void(int, int, int, const std::string&)> on_file;
};

}  // namespace ignis::rag
