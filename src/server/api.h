// ignis server: what the HTTP API layers (OpenAI, Triton) share: the error type
// they throw, the generation backend they drive, the served model's identity and
// typed JSON field readers that turn wrong input into a 400 naming the field.
#pragma once
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace ignis {
class Tokenizer;
}

namespace ignis::server {

using json = nlohmann::json;

// A request the API refuses; becomes an error response with this HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

// The error for `status` (its type from error_type_for); throw_api throws it.
ApiError make_api_error(int status, std::string message, std::string param = "", std::string code = "");
[[noreturn]] void throw_api(int status, std::string message, std::string param = "", std::string code = "");

// OpenAI's error JSON: {"error": {"message", "type", "param", "code"}}.
std::string openai_error_body(const ApiError& e);
// Default error type for a status: invalid_request_error, authentication_error, ...
std::string error_type_for(int status);

// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dump(const json& j);

// What the server generates with: the engine in production, a fake in unit tests.
class Backend {
 public:
  virtual ~Backend() = default;
  // Throws QueueFullError (429) or Error (400) like Engine::submit.
  virtual std::shared_ptr<RequestHandle> submit(GenerateRequest req) = 0;
  virtual EngineStats stats() const = 0;
  // Most requests the backend ever queues at once (EngineConfig::max_queue); 0 = no limit.
  virtual int max_queued_requests() const { return 0; }
};

class EngineBackend : public Backend {
 public:
  explicit EngineBackend(Engine& e) : engine_(e) {}
  std::shared_ptr<RequestHandle> submit(GenerateRequest req) override { return engine_.submit(std::move(req)); }
  EngineStats stats() const override { return engine_.stats(); }
  int max_queued_requests() const override { return engine_.config().max_queue; }

 private:
  Engine& engine_;
};

struct ServedModel {
  std::string name;                  // --served-model-name (default: folder name)
  std::vector<std::string> aliases;  // also accepted as model names ("ensemble", "tensorrt_llm")
  int max_model_len = 0;             // context length in tokens
  int vocab_size = 0;
  std::string chat_template;         // "" = none (chat endpoint then refuses)
  std::vector<int32_t> eos_ids;      // the model's end tokens (constraints allow them once complete); empty = the tokenizer's eos
  int64_t created = 0;               // unix time the server started
  bool matches(const std::string& n) const;
};

// ---- typed field readers: absent or null -> nullopt; wrong type/range -> 400 naming `key` ----
std::optional<double> get_number(const json& obj, const char* key, double lo, double hi);
std::optional<int64_t> get_int(const json& obj, const char* key, int64_t lo, int64_t hi);
std::optional<bool> get_bool(const json& obj, const char* key);
std::optional<std::string> get_string(const json& obj, const char* key);
// A string or a list of strings (e.g. "stop"); empty strings dropped when drop_empty.
std::vector<std::string> get_string_list(const json& obj, const char* key, bool drop_empty, size_t max_items);

// OpenAI logit_bias: {"<token id>": bias in [-100, 100], ...} -> (id, bias) pairs, ids ascending.
// 400 naming the field on a key that is not a token id of [0, vocab), a bias out of range, or more
// than 1024 entries. Absent or null -> empty.
std::vector<std::pair<int32_t, float>> get_logit_bias(const json& obj, const char* key, int vocab);

// Sampling fields common to both APIs (temperature, top_p, top_k, min_p, seed,
// penalties, ignore_eos) read from `obj` into `p`.
void read_sampling_fields(const json& obj, SamplingParams* p);

}  // namespace ignis::server
