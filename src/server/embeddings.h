// ignis server: POST /v1/embeddings (OpenAI format) over a sentence encoder. The server sees the
// encoder through this interface (apps/ wires enc::SentenceEncoder in; tests may too).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/http.h"
#include "server/metrics.h"

namespace ignis::server {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  virtual int max_tokens() const = 0;  // sentence-transformers' max_seq_length (specials included)
  // Token ids of a text as sentence-transformers tokenizes it: specials added, truncated to max_tokens().
  virtual std::vector<int32_t> tokenize(const std::string& text) const = 0;
  // One embedding of dim() floats per sequence, in order; throws Error for ids out of range.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const = 0;
};

struct EmbeddingModel {
  std::shared_ptr<const Embedder> embedder;  // null = no embedding model served
  std::string name;                          // the id /v1/models lists
  int64_t created = 0;
};

constexpr size_t kMaxEmbeddingInputs = 2048;

class EmbeddingBatcher;

// Parses `body`, queues its inputs on `batcher` (the encoder's one caller, which batches them with
// other requests'), waits for the vectors (the handler's fiber yields), sends the OpenAI list. A
// client that leaves while its inputs still wait has them dropped.
void handle_embeddings(const EmbeddingModel& em, EmbeddingBatcher& batcher, Metrics& metrics, const json& body,
                       HttpResponder& res);

}  // namespace ignis::server
