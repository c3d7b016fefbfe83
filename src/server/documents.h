// ignis server: chat with your documents over HTTP. `ignis serve --docs DIR` serves a folder's
// document index beside the chat model:
//   GET    /v1/documents          the indexed files with their chunk counts
//   POST   /v1/documents          {"name", "content" | "content_base64"}: stored into the folder, re-indexed
//   DELETE /v1/documents/{name}   removes a file from the folder and the index
//   POST   /v1/documents/reindex  re-reads the folder (files changed on disk since)
//   POST   /v1/rag/chat           chat-completions-like; retrieves the top chunks, answers from them and
//                                 returns the sources (first SSE event, or a field of the response)
// The server sees the index through this interface (apps/ wires src/rag in; tests may give a fake).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/generation.h"
#include "server/http.h"

namespace ignis::server {

struct DocumentFile {
  std::string name;    // relative to the docs folder, '/'-separated
  std::string format;  // "txt", "md", "pdf", ...
  std::string title;
  std::uint64_t bytes = 0;
  int chunks = 0;
};

// A chunk in an answer's prompt, cited as [index].
struct DocumentSource {
  int index = 0;  // 1-based
  std::string file, title;
  int page = 0, line = 0;  // 0 = none
  std::string heading, anchor;
  std::string citation;  // "file, page 3, "Heading""
  std::string text;      // the chunk's text (as retrieved; the prompt may hold it cut)
  double score = 0;
};

struct DocumentTurn {
  std::string role;  // "user" | "assistant"
  std::string content;
};

struct DocumentPrompt {
  std::vector<int32_t> ids;              // the prompt's tokens
  std::vector<DocumentSource> sources;   // the chunks in it, in [n] order
  int retrieved = 0;                     // chunks retrieved (more than sources when some did not fit)
  bool cut = false;                      // the last source was cut to fit
  std::string note;                      // e.g. "lexical retrieval only: ..."
};

class Documents {
 public:
  virtual ~Documents() = default;
  // {"docs", "index", "retrieval", "embedding_model", "files", "chunks"} for GET /v1/documents.
  virtual json describe() = 0;
  virtual std::vector<DocumentFile> list() = 0;
  // Stores `content` as <docs>/<name> (name already checked by check_document_name; replaces a
  // regular file of that name) and brings the index up to date. Returns the file as indexed and
  // whether it replaced one. Throws ApiError (415 unsupported type, 409 not a regular file, 422 the
  // file cannot be indexed: it is removed again) or Error.
  virtual DocumentFile add(const std::string& name, const std::string& content, bool* replaced) = 0;
  // Removes an indexed file (name as list() gives it) from the folder and the index; false if
  // there is no such indexed file.
  virtual bool remove(const std::string& name) = 0;
  // Brings the index up to date with the folder (files changed on disk since).
  virtual void reindex() = 0;
  // Retrieves top_k chunks for `question` and builds the answer prompt (rag/answer.h) within
  // `budget` tokens. retrieval: "hybrid" | "dense" | "lexical". Throws ApiError / Error.
  virtual DocumentPrompt prepare(const std::vector<DocumentTurn>& history, const std::string& question, int top_k,
                                 const std::string& retrieval, int budget) = 0;
  // The most bytes one uploaded document may have.
  virtual std::uint64_t max_document_bytes() const = 0;
};

// 400 unless `name` is a plain file name: 1..255 bytes of UTF-8 without '/', '\\', control
// characters or a leading '.' (so "..", ".hidden" and any path are refused).
void check_document_name(const std::string& name);
// Standard base64 (padding optional, no whitespace other than line breaks); 400 naming `field` otherwise.
std::string decode_base64(const std::string& text, const std::string& field);
// %XX decoding of a URL path segment; 400 on a malformed escape.
std::string decode_path_segment(const std::string& s);

// The endpoints (docs null: 404 "start with --docs DIR").
void handle_documents_list(Documents* docs, HttpResponder& res);
void handle_documents_upload(Documents* docs, Metrics& metrics, const json& body, HttpResponder& res);
void handle_documents_reindex(Documents* docs, Metrics& metrics, HttpResponder& res);
void handle_documents_delete(Documents* docs, Metrics& metrics, const std::string& name, HttpResponder& res);
void handle_rag_chat(ServerContext& ctx, Documents* docs, const json& body, HttpResponder& res);

}  // namespace ignis::server
