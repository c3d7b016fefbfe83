// ignis server: structured-output request fields -> a compiled constraint (src/structured).
//
// The forms each endpoint reads (one per request; two -> 400):
//   OpenAI  response_format {"type": "text" | "json_object" | "json_schema", "json_schema": {"name",
//           "schema", "strict", "description"}} (chat and completions)
//   vLLM    guided_json (schema object or text), guided_regex, guided_grammar (GBNF), guided_choice,
//           and the newer structured_outputs {"json" | "regex" | "grammar" | "choice" | "json_object"}
//   Triton  the same vLLM names, and TensorRT-LLM's guided_decoding_guide_type ("json", "json_schema",
//           "regex", "ebnf_grammar") with guided_decoding_guide
//   TGI     parameters.grammar {"type": "json" | "json_schema" | "regex", "value": ...}
// Compile errors become a 400 naming the field, with the library's message.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api.h"
#include "structured/structured.h"

namespace ignis::server {

// A constraint as the request gave it: the spec and the field that gave it (for error messages).
struct RequestConstraint {
  structured::ConstraintSpec spec;
  std::string field;
};

// One ConstraintCache per served tokenizer, built on first use (building the vocabulary's byte
// strings costs a pass over the vocabulary, so a server that never sees a constraint never pays it).
class ConstraintCompiler {
 public:
  ConstraintCompiler(std::shared_ptr<const Tokenizer> tok, std::vector<int32_t> end_ids);
  // Throws a 400 ApiError naming c.field on a compile error.
  std::shared_ptr<const structured::CompiledConstraint> compile(const RequestConstraint& c);

 private:
  std::shared_ptr<const Tokenizer> tok_;
  std::vector<int32_t> end_ids_;
  std::once_flag once_;
  std::unique_ptr<structured::ConstraintCache> cache_;
};

// OpenAI / vLLM fields of a completions or chat body (response_format, guided_*, structured_outputs).
std::optional<RequestConstraint> read_openai_constraint(const json& body);
// Triton generate parameters (merged top level + "parameters"): guided_* , structured_outputs,
// guided_decoding_guide_type + guided_decoding_guide.
std::optional<RequestConstraint> read_triton_constraint(const json& p);
// TGI parameters.grammar.
std::optional<RequestConstraint> read_tgi_constraint(const json& parameters);

// A regex matching exactly one of `choices` (guided_choice), metacharacters escaped.
std::string choice_regex(const std::vector<std::string>& choices);

}  // namespace ignis::server
