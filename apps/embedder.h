// ignis serve: the CPU sentence encoder (src/encoder) behind the server's Embedder interface.
#pragma once
#include <memory>
#include <string>

#include "server/embeddings.h"

namespace ignis::cli {

// Loads a sentence-transformers folder; throws Error naming the file. Without the encoder
// library in the build, throws Error saying so.
std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir);

}  // namespace ignis::cli
