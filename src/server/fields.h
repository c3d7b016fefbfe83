// ignis server: the request fields each endpoint accepts, and the check that refuses any other.
// A field that is not accepted gets a 400 naming it (never silently ignored); a null value counts
// as absent. The lists are the endpoints' contract: README's "Request fields" section lists them and
// tests/server/test_server_fields.cpp checks that each one changes the output or is rejected.
#pragma once
#include <string>
#include <vector>

#include "server/api.h"

namespace ignis::server {

enum class Endpoint {
  Completions,      // /v1/completions
  Chat,             // /v1/chat/completions
  Triton,           // /v2/models/{m}/generate[_stream], {"text_input", ...} (top level and "parameters")
  TgiTop,           // the same URLs, text-generation-inference form: top-level keys
  TgiParameters,    // ... and the keys of its "parameters" object
  Embeddings,       // /v1/embeddings
  RagChat,          // /v1/rag/chat
  DocumentUpload,   // POST /v1/documents
};

// The accepted field names of an endpoint, in the order README lists them.
const std::vector<std::string>& accepted_fields(Endpoint e);

// 400 naming the first key of `obj` (an object) that `e` does not accept and whose value is not null.
// `prefix` is prepended to the name in the message and param (e.g. "parameters.").
void reject_unknown_fields(const json& obj, Endpoint e, const std::string& prefix = "");

}  // namespace ignis::server
