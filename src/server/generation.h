// ignis server: running generation requests for one HTTP request: submit the
// choices, pump their chunks (streaming or not), cancel them when the client goes
// away or the server is forced down, and record metrics when each one ends.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/http.h"
#include "server/metrics.h"

namespace ignis::server {

class ConstraintCompiler;

// Everything a handler needs from the server.
struct ServerContext {
  Backend& backend;
  const Tokenizer& tok;
  const ServedModel& model;
  Metrics& metrics;
  const std::atomic<bool>& force_stop;  // set when the shutdown timeout passed
  // Renders the model's chat template over {messages, add_generation_prompt,
  // bos_token, eos_token, tools}; empty when the model has none. Throws Error.
  const std::function<std::string(const json&)>& render_chat;
  // GenerateRequest::speculative for requests without a "speculative" field (serve's
  // --speculative-default).
  bool speculative_default = true;
  // Compiles structured-output constraints (constraints.h) against the served tokenizer.
  ConstraintCompiler* constraints = nullptr;
  // The engine's speculative decoding (Triton's per-request lookahead fields are checked against it).
  const SpecConfig* spec = nullptr;
};

struct Choice {
  std::shared_ptr<RequestHandle> handle;
  int prompt_tokens = 0;
  std::string text;                     // all text so far
  std::vector<int32_t> tokens;          // all tokens so far
  std::vector<TokenLogprob> logprobs;   // all logprobs so far (when requested)
  FinishReason finish = FinishReason::None;
  std::string error;
  RequestUsage usage;
};

// Checks prompt + max_tokens against the context and sets p->max_tokens: the
// requested value, else `default_max` (0 = the rest of the context). Throws 400.
void fit_max_tokens(const ServedModel& m, int prompt_len, std::optional<int64_t> requested, int default_max,
                    SamplingParams* p);

// Submits every request; more requests than Backend::max_queued_requests() -> 400 (they could
// never all be queued); QueueFullError -> 429 with Retry-After, other Error -> 400 (requests
// already submitted are cancelled first).
std::vector<Choice> submit_all(ServerContext& ctx, std::vector<GenerateRequest> reqs);

// Pumps chunks until every choice has finished. on_chunk(i, chunk) runs after the
// chunk is folded into choices[i] (also after a cancel, until the engine confirms it);
// returning false (a failed write) cancels all.
// Returns false if the requests were cancelled (client gone / forced shutdown).
bool drive(ServerContext& ctx, std::vector<Choice>& choices, HttpResponder& res,
           const std::function<bool(size_t, const StreamChunk&)>& on_chunk);

// The terminal error of a stream whose choices did not all finish on their own (cancelled by a
// forced shutdown or by the engine, or never confirmed): a message saying so and how much was
// generated; "" when every choice ended with stop, length or an error already reported.
std::string stream_cut_off(const ServerContext& ctx, const std::vector<Choice>& choices);

// Non-streaming form of drive(): true when every choice finished. Otherwise it has answered the
// client itself (throws a 503 api error when the server is shutting down; else closes with 499
// and `closed_body`, the API's own error body for "client closed request") and returns false.
bool drive_to_end(ServerContext& ctx, std::vector<Choice>& choices, HttpResponder& res, const std::string& closed_body);

// Text of one token for logprob output (may be a partial UTF-8 sequence).
std::string token_text(const Tokenizer& tok, int32_t id);

// "stop" / "length" / "abort" / "error" for API responses.
const char* api_finish_reason(FinishReason r);

// Unique ids like "cmpl-<hex>".
std::string make_request_id(const char* prefix);

}  // namespace ignis::server
