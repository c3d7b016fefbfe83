// ignis server: tool calling for /v1/chat/completions. The model's own chat template says which
// call syntax it was trained on; the generated text is parsed into OpenAI tool_calls, whole or as a
// stream, and tool_choice "required" / a named function is enforced with a grammar (tool_grammar.cpp)
// over the same syntax, compiled by the constraint library.
//
// Families (detect_tool_format, from the template text):
//   Llama3Json  Llama 3.1 / 3.2: a JSON object {"name": ..., "parameters": {...}}, optionally after
//               <|python_tag|>; several separated by ';'
//   Hermes      Qwen2.5 / Hermes: <tool_call>{"name": ..., "arguments": {...}}</tool_call>, repeated
//   Mistral     [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]
// Special tokens ([TOOL_CALLS], <|python_tag|>) are dropped by the detokenizer, so a generation
// that starts with the bare JSON ('{' for Llama, '[{' for Mistral) counts as a call too.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "server/api.h"

namespace ignis::server {

enum class ToolFormat { None, Llama3Json, Hermes, Mistral };
const char* tool_format_name(ToolFormat f);
ToolFormat detect_tool_format(std::string_view chat_template);

struct ToolCall {
  std::string id;         // "call_<24 alphanumerics>"
  std::string name;
  std::string arguments;  // JSON text of an object
};

// One step of a streamed parse: content text, a new call (id and name), or text to append to the
// current call's arguments. A call's argument pieces concatenate to its JSON object text.
struct ToolEvent {
  enum class Kind { Content, Call, Arguments } kind;
  size_t index = 0;  // the call's index (Call, Arguments)
  std::string text;  // Content, Arguments
  std::string id, name;  // Call
};

// Incremental parser: text before a call is content (held back only while it could be the start of
// a call marker). A call written name first ({"name": "...", "arguments": {...}}, as every family's
// template asks and the tool_choice grammar writes) is reported as soon as its arguments object
// opens, and the arguments' text is streamed as it arrives (the pieces are the object's own text, so
// they concatenate to valid JSON once it closes); any other call object is reported whole once
// complete (arguments re-serialized). Text after the calls is dropped (closing tags, whitespace); a
// region that never yields a call is given back as content.
class ToolCallParser {
 public:
  // max_calls: 1 when parallel_tool_calls is false (later calls are dropped), else unbounded.
  explicit ToolCallParser(ToolFormat f, size_t max_calls = SIZE_MAX);
  void push(std::string_view text, std::vector<ToolEvent>& out);
  void finish(std::vector<ToolEvent>& out);  // end of generation
  size_t num_calls() const { return calls_ + (open_ ? 1 : 0); }

 private:
  void scan_region(std::vector<ToolEvent>& out);
  size_t marker_start(bool* complete) const;

  ToolFormat f_;
  size_t max_calls_;
  std::string pending_;     // content not yet emitted (could begin a marker)
  bool in_region_ = false;  // past a call marker: the rest is call syntax
  bool emitted_any_ = false;  // content emitted before (a bare leading '{' no longer counts)
  std::string region_;      // call text since the marker
  std::string region_marker_;  // the marker as it appeared ("" for a bare '{' / '[{')
  size_t scanned_ = 0;      // region_ bytes consumed by complete objects
  size_t calls_ = 0;
  // The call object being read: where it starts, and once its call is reported (open_), where its
  // arguments object starts and how much of it was sent.
  size_t obj_start_ = std::string::npos;
  bool open_ = false;
  size_t args_begin_ = 0, args_sent_ = 0;
};

// Whole-text form: content (text outside calls; "" when none) and the calls.
struct ToolParse {
  std::string content;
  std::vector<ToolCall> calls;
};
ToolParse parse_tool_calls(ToolFormat f, std::string_view text, size_t max_calls = SIZE_MAX);

std::string make_tool_call_id();

// tool_choice "required" (only_name empty) or {"type": "function", "function": {"name"}}: a GBNF
// grammar for one call (parallel false) or one or more, in the family's syntax, of the allowed
// tools with arguments following each tool's "parameters" JSON schema (tool_grammar.cpp lists the
// keywords it follows; others relax to any JSON value of the type). tools: the request's "tools".
std::string tool_call_grammar(ToolFormat f, const json& tools, const std::string& only_name, bool parallel);

// A JSON schema as GBNF rules named <prefix>..., returning the rule name of its root (tool_grammar.cpp).
std::string schema_to_gbnf(const json& schema, const std::string& prefix, std::string& rules);

}  // namespace ignis::server

namespace ignis::server {

struct RequestConstraint;

// The tool fields of a chat request, checked (400 naming the field): tools, tool_choice,
// parallel_tool_calls, against the served template's family.
struct ChatTools {
  json tools;                         // null: none given
  ToolFormat format = ToolFormat::None;
  bool parse = false;                 // parse the output into tool_calls (tool_choice != "none")
  size_t max_calls = SIZE_MAX;        // 1 when parallel_tool_calls is false
  std::string grammar;                // GBNF for "required" / a named function; "" = free (auto / none)
};
ChatTools read_chat_tools(const json& body, const std::string& chat_template);

// OpenAI's message.tool_calls / delta.tool_calls entries.
json tool_calls_json(const std::vector<ToolCall>& calls);

// Assistant messages' tool_calls[].function.arguments given as JSON text become objects, as the
// chat templates of every family expect (they render them with tojson). In place; 400 naming the
// message on a malformed tool_calls list.
void prepare_tool_messages(json& messages);

}  // namespace ignis::server
