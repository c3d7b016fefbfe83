// ignis server: GBNF grammars for tool_choice "required" / a named function (tool_calls.h).
//
// schema_to_gbnf follows: type (one or a list), enum, const, anyOf / oneOf, object "properties"
// (every listed property is written, in the listed order: a valid instance whether or not it is
// required), array "items", string / number / integer / boolean / null. Other keywords (bounds,
// patterns, formats, additionalProperties) are not enforced: the value is any JSON of its type.
// Whitespace between tokens is bounded so a model cannot loop on it.
#include <fmt/format.h>

#include "server/tool_calls.h"

namespace ignis::server {

namespace {

// A GBNF string literal matching exactly `s`.
std::string lit(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += char(c);
    } else if (c == '\n') {
      o += "\\n";
    } else if (c == '\r') {
      o += "\\r";
    } else if (c == '\t') {
      o += "\\t";
    } else if (c < 0x20) {
      o += fmt::format("\\x{:02x}", c);
    } else {
      o += char(c);
    }
  }
  return o + "\"";
}

// Shared rules (defined once per grammar by tool_call_grammar).
constexpr const char* kCommon =
    "ws ::= [ \\n]{0,2}\n"
    "json-string ::= \"\\\"\" json-char* \"\\\"\"\n"
    "json-char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "json-integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "json-number ::= json-integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
    "json-boolean ::= \"true\" | \"false\"\n"
    "json-null ::= \"null\"\n"
    "json-value ::= json-object | json-array | json-string | json-number | json-boolean | json-null\n"
    "json-object ::= \"{\" ws (json-string ws \":\" ws json-value (ws \",\" ws json-string ws \":\" ws json-value)*)? ws \"}\"\n"
    "json-array ::= \"[\" ws (json-value (ws \",\" ws json-value)*)? ws \"]\"\n";

std::string type_rule(const std::string& type) {
  if (type == "string") return "json-string";
  if (type == "number") return "json-number";
  if (type == "integer") return "json-integer";
  if (type == "boolean") return "json-boolean";
  if (type == "null") return "json-null";
  if (type == "object") return "json-object";
  if (type == "array") return "json-array";
  return "json-value";
}

struct Builder {
  std::string prefix;
  std::string& rules;
  int next = 0;

  std::string add(const std::string& body) {
    const std::string name = fmt::format("{}{}", prefix, next++);
    rules += name + " ::= " + body + "\n";
    return name;
  }

  std::string of(const json& s) {
    if (s.is_boolean() || !s.is_object()) return "json-value";
    if (auto c = s.find("const"); c != s.end()) return add(lit(c->dump()));
    if (auto e = s.find("enum"); e != s.end() && e->is_array() && !e->empty()) {
      std::string alts;
      for (auto& v : *e) alts += (alts.empty() ? "" : " | ") + lit(v.dump());
      return add(alts);
    }
    for (const char* k : {"anyOf", "oneOf"})
      if (auto a = s.find(k); a != s.end() && a->is_array() && !a->empty()) {
        std::string alts;
        for (auto& v : *a) alts += (alts.empty() ? "" : " | ") + of(v);
        return add(alts);
      }
    auto t = s.find("type");
    if (t != s.end() && t->is_array()) {
      std::string alts;
      for (auto& v : *t) {
        json one = s;
        one["type"] = v;
        alts += (alts.empty() ? "" : " | ") + of(one);
      }
      return alts.empty() ? "json-value" : add(alts);
    }
    const std::string type = t != s.end() && t->is_string() ? t->get<std::string>()
                             : s.contains("properties")     ? "object"
                             : s.contains("items")          ? "array"
                                                            : "";
    if (type == "object") {
      auto p = s.find("properties");
      if (p == s.end() || !p->is_object() || p->empty()) return "json-object";
      std::string body = "\"{\" ws";
      bool first = true;
      for (auto& [k, v] : p->items()) {
        body += fmt::format("{} {} ws \":\" ws {}", first ? "" : " ws \",\" ws", lit(json(k).dump()), of(v));
        first = false;
      }
      return add(body + " ws \"}\"");
    }
    if (type == "array") {
      auto it = s.find("items");
      if (it == s.end()) return "json-array";
      const std::string item = of(*it);
      return add(fmt::format("\"[\" ws ({} (ws \",\" ws {})*)? ws \"]\"", item, item));
    }
    return type_rule(type);
  }
};

}  // namespace

std::string schema_to_gbnf(const json& schema, const std::string& prefix, std::string& rules) {
  Builder b{prefix, rules};
  return b.of(schema);
}

std::string tool_call_grammar(ToolFormat f, const json& tools, const std::string& only_name, bool parallel) {
  IGNIS_CHECK(f != ToolFormat::None, "tool_call_grammar: no tool-call format");
  std::string rules;
  std::string calls;  // alternatives: one call object per allowed tool
  const char* args_key = f == ToolFormat::Llama3Json ? "parameters" : "arguments";
  int i = 0;
  for (const json& t : tools) {
    const json& fn = t.at("function");
    const std::string name = fn.at("name").get<std::string>();
    if (!only_name.empty() && name != only_name) continue;
    const json params = fn.contains("parameters") ? fn["parameters"] : json::object();
    const std::string args = schema_to_gbnf(params, fmt::format("tool{}-", i++), rules);
    const std::string head = "{\"name\": " + json(name).dump() + ", \"" + args_key + "\": ";
    if (!calls.empty()) calls += " | ";
    calls += fmt::format("({} {} \"}}\")", lit(head), args);
  }
  IGNIS_CHECK(!calls.empty(), "tool_call_grammar: no tool named '{}'", only_name);
  std::string root;
  switch (f) {
    case ToolFormat::Hermes:
      root = "call ::= \"<tool_call>\\n\" obj \"\\n</tool_call>\"\n";
      root += parallel ? "root ::= call (\"\\n\" call)*\n" : "root ::= call\n";
      break;
    case ToolFormat::Mistral:
      root = parallel ? "root ::= \"[TOOL_CALLS][\" obj (\", \" obj)* \"]\"\n" : "root ::= \"[TOOL_CALLS][\" obj \"]\"\n";
      break;
    case ToolFormat::Llama3Json:
    case ToolFormat::None:
      root = parallel ? "root ::= obj (\"; \" obj)*\n" : "root ::= obj\n";
      break;
  }
  return root + "obj ::= " + calls + "\n" + rules + kCommon;
}

}  // namespace ignis::server
