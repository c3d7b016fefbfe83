// ignis serve --docs: src/rag's folder index adapted to server::Documents (documents.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "server/documents.h"

namespace ignis {
class Tokenizer;
}

namespace ignis::cli {

struct DocumentsOptions {
  std::string docs;             // the folder (created if missing)
  std::string index;            // "" = DOCS/.ignis-index
  std::string embedding_model;  // "" = the one the index was built with; "none" = BM25 only
  std::string embedding_device = "auto";  // where it runs (--embedding-device)
  std::string chat_model_dir;   // its chat template renders the answer prompt (as `ignis rag ask`)
  std::shared_ptr<const Tokenizer> tok;  // the chat model's tokenizer
  std::uint64_t max_document_bytes = 16ull << 20;
};

// Builds / updates the index at start (progress on stderr) and opens it. Throws Error.
std::shared_ptr<server::Documents> open_documents(const DocumentsOptions& opts);

}  // namespace ignis::cli
