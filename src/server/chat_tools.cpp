// ignis server: the tool fields of /v1/chat/completions (tool_calls.h ChatTools).
#include <fmt/format.h>

#include "server/tool_calls.h"

namespace ignis::server {

namespace {

void check_tools(const json& tools) {
  if (!tools.is_array()) throw_api(400, "'tools' must be a list", "tools");
  if (tools.empty()) throw_api(400, "'tools' must not be empty", "tools");
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string where = fmt::format("tools[{}]", i);
    if (!t.is_object()) throw_api(400, "'" + where + "' must be an object", where);
    if (t.value("type", "") != "function")
      throw_api(400, "'" + where + ".type' must be \"function\"", where + ".type");
    auto f = t.find("function");
    if (f == t.end() || !f->is_object()) throw_api(400, "'" + where + ".function' must be an object", where + ".function");
    if (!f->contains("name") || !(*f)["name"].is_string() || (*f)["name"].get<std::string>().empty())
      throw_api(400, "'" + where + ".function.name' must be a non-empty string", where + ".function.name");
    if (auto p = f->find("parameters"); p != f->end() && !p->is_null() && !p->is_object())
      throw_api(400, "'" + where + ".function.parameters' must be a JSON schema object", where + ".function.parameters");
  }
}

bool has_tool(const json& tools, const std::string& name) {
  for (const json& t : tools)
    if (t["function"]["name"] == name) return true;
  return false;
}

}  // namespace

ChatTools read_chat_tools(const json& body, const std::string& chat_template) {
  ChatTools ct;
  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    check_tools(*t);
    ct.tools = *t;
  }
  const bool parallel = get_bool(body, "parallel_tool_calls").value_or(true);
  auto tc = body.find("tool_choice");
  const bool given = tc != body.end() && !tc->is_null();
  std::string choice = ct.tools.is_null() ? "none" : "auto", name;
  if (given) {
    if (tc->is_string()) {
      choice = tc->get<std::string>();
      if (choice != "none" && choice != "auto" && choice != "required")
        throw_api(400, "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                  "tool_choice");
    } else if (tc->is_object() && tc->value("type", "") == "function" && tc->contains("function") &&
               (*tc)["function"].is_object() && (*tc)["function"].contains("name") && (*tc)["function"]["name"].is_string()) {
      choice = "function";
      name = (*tc)["function"]["name"].get<std::string>();
    } else {
      throw_api(400, "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                "tool_choice");
    }
    if (ct.tools.is_null() && choice != "none") throw_api(400, "'tool_choice' needs 'tools'", "tool_choice");
  }
  if (choice == "function" && !has_tool(ct.tools, name))
    throw_api(400, "'tool_choice' names function '" + name + "', which is not in 'tools'", "tool_choice");
  if (!parallel && ct.tools.is_null())
    throw_api(400, "'parallel_tool_calls' needs 'tools'", "parallel_tool_calls");
  if (choice == "none") return ct;
  ct.format = detect_tool_format(chat_template);
  if (ct.format == ToolFormat::None)
    throw_api(400,
              "'tools': this model's chat template has no tool-call format ignis knows (Llama 3.1/3.2 JSON, Hermes "
              "<tool_call>, Mistral [TOOL_CALLS]); use tool_choice \"none\"",
              "tools", "unsupported_tool_format");
  ct.parse = true;
  ct.max_calls = parallel ? SIZE_MAX : 1;
  if (choice == "required" || choice == "function") ct.grammar = tool_call_grammar(ct.format, ct.tools, name, parallel);
  return ct;
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json a = json::array();
  for (const ToolCall& c : calls)
    a.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return a;
}

void prepare_tool_messages(json& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    json& m = messages[i];
    auto tc = m.find("tool_calls");
    if (tc == m.end() || tc->is_null()) continue;
    const std::string where = fmt::format("messages[{}].tool_calls", i);
    if (!tc->is_array()) throw_api(400, "'" + where + "' must be a list", where);
    for (size_t k = 0; k < tc->size(); ++k) {
      json& call = (*tc)[k];
      const std::string w = fmt::format("{}[{}]", where, k);
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object() ||
          !call["function"].contains("name") || !call["function"]["name"].is_string())
        throw_api(400, "'" + w + "' must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}", w);
      json& args = call["function"]["arguments"];
      if (args.is_string()) {
        json parsed = json::parse(args.get<std::string>(), nullptr, false);
        if (parsed.is_discarded()) throw_api(400, "'" + w + ".function.arguments' is not valid JSON", w + ".function.arguments");
        args = std::move(parsed);
      }
    }
  }
}

}  // namespace ignis::server
