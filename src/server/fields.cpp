// ignis server: accepted request fields per endpoint.
#include "server/fields.h"

#include <algorithm>

namespace ignis::server {

namespace {

// Sampling fields read_sampling_fields reads (api.cpp), shared by the OpenAI and Triton forms.
#define IGNIS_SAMPLING_FIELDS                                                                                     \
  "temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", \
      "ignore_eos"

// Structured output (constraints.h), OpenAI's and vLLM's names.
#define IGNIS_CONSTRAINT_FIELDS \
  "response_format", "guided_json", "guided_regex", "guided_grammar", "guided_choice", "structured_outputs"

const std::vector<std::string> kCompletions = {
    "model", "prompt", "max_tokens", IGNIS_SAMPLING_FIELDS, "logit_bias", "stop", "n", "best_of", "stream",
    "stream_options", "logprobs", "echo", "user", "speculative", IGNIS_CONSTRAINT_FIELDS};
const std::vector<std::string> kChat = {
    "model", "messages", "max_tokens", "max_completion_tokens", IGNIS_SAMPLING_FIELDS, "logit_bias", "stop", "n",
    "best_of", "stream", "stream_options", "logprobs", "top_logprobs", "user", "speculative", "add_generation_prompt",
    "add_special_tokens", "tools", "tool_choice", "parallel_tool_calls", IGNIS_CONSTRAINT_FIELDS};
const std::vector<std::string> kTriton = {
    // the sampling fields but ignore_eos (not a TensorRT-LLM field; end_id replaces the end token)
    "text_input", "parameters", "max_tokens", "max_new_tokens", "temperature", "top_p", "top_k", "min_p",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "runtime_top_k",
    "runtime_top_p", "random_seed", "end_id", "pad_id", "stop_words", "bad_words", "exclude_input_in_output",
    "beam_width", "return_log_probs", "return_context_logits", "return_generation_logits", "stream", "speculative",
    "lookahead_window_size", "lookahead_ngram_size", "lookahead_verification_set_size",
    "guided_json", "guided_regex", "guided_grammar", "guided_choice", "structured_outputs", "guided_decoding_guide_type",
    "guided_decoding_guide"};
const std::vector<std::string> kEmbeddings = {"model", "input", "encoding_format", "dimensions", "user"};
// "top_k" is the number of chunks retrieved, not the sampler's (documents.cpp).
const std::vector<std::string> kRagChat = {
    "model", "question", "messages", "top_k", "retrieval", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "ignore_eos", "stop",
    "stream", "stream_options", "user"};
const std::vector<std::string> kDocumentUpload = {"name", "content", "content_base64"};
const std::vector<std::string> kTgiTop = {"inputs", "parameters", "stream"};
const std::vector<std::string> kTgiParameters = {
    "do_sample", "max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "frequency_penalty",
    "stop", "seed", "details", "return_full_text", "best_of", "decoder_input_details", "watermark", "grammar"};

#undef IGNIS_SAMPLING_FIELDS
#undef IGNIS_CONSTRAINT_FIELDS

}  // namespace

const std::vector<std::string>& accepted_fields(Endpoint e) {
  switch (e) {
    case Endpoint::Completions: return kCompletions;
    case Endpoint::Chat: return kChat;
    case Endpoint::Triton: return kTriton;
    case Endpoint::TgiTop: return kTgiTop;
    case Endpoint::TgiParameters: return kTgiParameters;
    case Endpoint::Embeddings: return kEmbeddings;
    case Endpoint::RagChat: return kRagChat;
    case Endpoint::DocumentUpload: return kDocumentUpload;
  }
  return kCompletions;
}

void reject_unknown_fields(const json& obj, Endpoint e, const std::string& prefix) {
  if (!obj.is_object()) return;
  const std::vector<std::string>& ok = accepted_fields(e);
  for (auto& [k, v] : obj.items()) {
    if (v.is_null() || std::find(ok.begin(), ok.end(), k) != ok.end()) continue;
    throw_api(400, "'" + prefix + k + "' is not supported by ignis (see README, \"Request fields\")", prefix + k,
              "unsupported_field");
  }
}

}  // namespace ignis::server
