// ignis serve: the CPU sentence encoder (src/encoder) behind the server's Embedder interface.
#pragma once
#include <memory>
#include <string>

#include "server/embeddings.h"

namespace ignis::cli {

// Loads a sentence-transformers folder; throws Error naming the file. Without the encoder
// library in the build, throws Error saying so. device: "auto" (the GPU when there is one and
// the build has the CUDA encoder), "cpu" or "cuda".
std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir, const std::string& device = "auto");

}  // namespace ignis::cli

namespace ignis::enc {
class SentenceEncoder;
}

namespace ignis::cli {

// The sentence encoder of `dir` on `device` (as load_embedder): what load_embedder and the rag
// index (`ignis rag`, `serve --docs`) share. Throws Error without the encoder library.
std::unique_ptr<enc::SentenceEncoder> load_sentence_encoder(const std::string& dir, const std::string& device = "auto");

}  // namespace ignis::cli
