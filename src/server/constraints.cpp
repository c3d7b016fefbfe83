// ignis server: structured-output request fields (constraints.h).
#include "server/constraints.h"

#include "tokenizer/tokenizer.h"

namespace ignis::server {

namespace {

using Kind = structured::ConstraintSpec::Kind;

RequestConstraint make(Kind k, std::string text, std::string field, bool strict = false) {
  RequestConstraint c;
  c.spec.kind = k;
  c.spec.text = std::move(text);
  c.spec.strict = strict;
  c.field = std::move(field);
  return c;
}

// A schema given as a JSON value or as JSON text; `true` / {} mean any JSON value.
std::string schema_text(const json& v, const std::string& field) {
  if (v.is_string()) {
    json parsed = json::parse(v.get<std::string>(), nullptr, false);
    if (parsed.is_discarded()) throw_api(400, "'" + field + "' is not valid JSON", field);
    if (!parsed.is_object() && !parsed.is_boolean()) throw_api(400, "'" + field + "' must be a JSON schema object", field);
    return parsed.dump();
  }
  if (!v.is_object() && !v.is_boolean()) throw_api(400, "'" + field + "' must be a JSON schema (an object)", field);
  return v.dump();
}

std::string string_field(const json& v, const std::string& field) {
  if (!v.is_string()) throw_api(400, "'" + field + "' must be a string", field);
  if (v.get<std::string>().empty()) throw_api(400, "'" + field + "' must not be empty", field);
  return v.get<std::string>();
}

std::vector<std::string> choice_list(const json& v, const std::string& field) {
  if (!v.is_array() || v.empty()) throw_api(400, "'" + field + "' must be a non-empty list of strings", field);
  std::vector<std::string> out;
  for (auto& c : v) {
    if (!c.is_string()) throw_api(400, "'" + field + "' must be a non-empty list of strings", field);
    out.push_back(c.get<std::string>());
  }
  return out;
}

// response_format; nullopt for {"type": "text"}.
std::optional<RequestConstraint> response_format(const json& rf) {
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
    throw_api(400, "'response_format' must be an object with a string 'type'", "response_format");
  const std::string type = rf["type"].get<std::string>();
  for (auto& [k, v] : rf.items())
    if (k != "type" && k != "json_schema" && !v.is_null())
      throw_api(400, "'response_format." + k + "' is not supported", "response_format." + k, "unsupported_field");
  if (type == "text") {
    if (rf.contains("json_schema") && !rf["json_schema"].is_null())
      throw_api(400, "'response_format.json_schema' needs type \"json_schema\"", "response_format.json_schema");
    return std::nullopt;
  }
  if (type == "json_object") return make(Kind::JsonObject, "", "response_format");
  if (type != "json_schema")
    throw_api(400, "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"; got '" + type + "'",
              "response_format.type");
  auto js = rf.find("json_schema");
  if (js == rf.end() || !js->is_object())
    throw_api(400, "'response_format.json_schema' is required (an object with 'name' and 'schema')",
              "response_format.json_schema");
  for (auto& [k, v] : js->items())
    if (k != "name" && k != "schema" && k != "strict" && k != "description" && !v.is_null())
      throw_api(400, "'response_format.json_schema." + k + "' is not supported", "response_format.json_schema." + k,
                "unsupported_field");
  if (auto n = js->find("name"); n != js->end() && !n->is_null() && !n->is_string())
    throw_api(400, "'response_format.json_schema.name' must be a string", "response_format.json_schema.name");
  const bool strict = get_bool(*js, "strict").value_or(false);
  auto s = js->find("schema");
  if (s == js->end() || s->is_null()) return make(Kind::JsonObject, "", "response_format.json_schema", strict);
  return make(Kind::JsonSchema, schema_text(*s, "response_format.json_schema.schema"),
              "response_format.json_schema.schema", strict);
}

// structured_outputs: exactly one of json, regex, grammar, choice, json_object.
RequestConstraint structured_outputs(const json& so) {
  if (!so.is_object()) throw_api(400, "'structured_outputs' must be an object", "structured_outputs");
  std::optional<RequestConstraint> c;
  for (auto& [k, v] : so.items()) {
    if (v.is_null() || (k == "json_object" && v == false)) continue;
    const std::string f = "structured_outputs." + k;
    if (c) throw_api(400, "'structured_outputs' must hold one of json, regex, grammar, choice, json_object", f);
    if (k == "json") c = make(Kind::JsonSchema, schema_text(v, f), f);
    else if (k == "regex") c = make(Kind::Regex, string_field(v, f), f);
    else if (k == "grammar") c = make(Kind::Grammar, string_field(v, f), f);
    else if (k == "choice") c = make(Kind::Regex, choice_regex(choice_list(v, f)), f);
    else if (k == "json_object") {
      if (v != true) throw_api(400, "'" + f + "' must be true", f);
      c = make(Kind::JsonObject, "", f);
    } else {
      throw_api(400, "'" + f + "' is not supported (json, regex, grammar, choice, json_object)", f, "unsupported_field");
    }
  }
  if (!c) throw_api(400, "'structured_outputs' must hold one of json, regex, grammar, choice, json_object", "structured_outputs");
  return *c;
}

// The vLLM fields shared by the OpenAI and Triton forms; `out` must be empty for a second one.
void read_vllm(const json& body, std::optional<RequestConstraint>& out) {
  auto take = [&](const char* key, auto&& build) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return;
    std::optional<RequestConstraint> c = build(*it);
    if (!c) return;
    if (out) throw_api(400, "'" + std::string(key) + "' and '" + out->field + "' both constrain the output; give one", key);
    out = std::move(c);
  };
  take("response_format", [](const json& v) { return response_format(v); });
  take("guided_json", [](const json& v) { return std::optional(make(Kind::JsonSchema, schema_text(v, "guided_json"), "guided_json")); });
  take("guided_regex", [](const json& v) { return std::optional(make(Kind::Regex, string_field(v, "guided_regex"), "guided_regex")); });
  take("guided_grammar",
       [](const json& v) { return std::optional(make(Kind::Grammar, string_field(v, "guided_grammar"), "guided_grammar")); });
  take("guided_choice", [](const json& v) {
    return std::optional(make(Kind::Regex, choice_regex(choice_list(v, "guided_choice")), "guided_choice"));
  });
  take("structured_outputs", [](const json& v) { return std::optional(structured_outputs(v)); });
}

}  // namespace

std::string choice_regex(const std::vector<std::string>& choices) {
  std::string re = "(";
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i) re += "|";
    for (char c : choices[i]) {
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) re += '\\';
      re += c;
    }
  }
  return re + ")";
}

ConstraintCompiler::ConstraintCompiler(std::shared_ptr<const Tokenizer> tok, std::vector<int32_t> end_ids)
    : tok_(std::move(tok)), end_ids_(std::move(end_ids)) {}

std::shared_ptr<const structured::CompiledConstraint> ConstraintCompiler::compile(const RequestConstraint& c) {
  std::call_once(once_, [&] { cache_ = structured::make_constraint_cache(*tok_, end_ids_); });
  try {
    return cache_->get(c.spec);
  } catch (const Error& e) {
    throw_api(400, "'" + c.field + "': " + e.what(), c.field, "invalid_constraint");
  }
}

std::optional<RequestConstraint> read_openai_constraint(const json& body) {
  std::optional<RequestConstraint> c;
  read_vllm(body, c);
  return c;
}

std::optional<RequestConstraint> read_triton_constraint(const json& p) {
  std::optional<RequestConstraint> c;
  read_vllm(p, c);
  auto type = get_string(p, "guided_decoding_guide_type");
  auto guide = p.find("guided_decoding_guide");
  const bool has_guide = guide != p.end() && !guide->is_null();
  if (!type && !has_guide) return c;
  if (!type) throw_api(400, "'guided_decoding_guide' needs 'guided_decoding_guide_type'", "guided_decoding_guide_type");
  if (c) throw_api(400, "'guided_decoding_guide_type' and '" + c->field + "' both constrain the output; give one",
                   "guided_decoding_guide_type");
  const std::string f = "guided_decoding_guide";
  if (*type != "json" && *type != "json_schema" && *type != "regex" && *type != "ebnf_grammar")
    throw_api(400, "'guided_decoding_guide_type' must be json, json_schema, regex or ebnf_grammar; got '" + *type + "'",
              "guided_decoding_guide_type");
  if (*type == "json") {
    if (has_guide && !(guide->is_string() && guide->get<std::string>().empty()))
      return make(Kind::JsonSchema, schema_text(*guide, f), f);
    return make(Kind::JsonObject, "", "guided_decoding_guide_type");
  }
  if (!has_guide) throw_api(400, "'guided_decoding_guide' is required for type '" + *type + "'", f);
  if (*type == "json_schema") return make(Kind::JsonSchema, schema_text(*guide, f), f);
  if (*type == "regex") return make(Kind::Regex, string_field(*guide, f), f);
  return make(Kind::Grammar, string_field(*guide, f), f);  // ebnf_grammar
}

std::optional<RequestConstraint> read_tgi_constraint(const json& parameters) {
  auto g = parameters.find("grammar");
  if (g == parameters.end() || g->is_null()) return std::nullopt;
  const std::string f = "parameters.grammar";
  if (!g->is_object() || !g->contains("type") || !(*g)["type"].is_string())
    throw_api(400, "'" + f + "' must be an object with a string 'type' and a 'value'", f);
  const std::string type = (*g)["type"].get<std::string>();
  auto v = g->find("value");
  if (v == g->end() || v->is_null()) throw_api(400, "'" + f + ".value' is required", f + ".value");
  if (type == "json" || type == "json_object") return make(Kind::JsonSchema, schema_text(*v, f + ".value"), f + ".value");
  if (type == "json_schema") {  // {"name", "schema"} as OpenAI's
    if (!v->is_object() || !v->contains("schema")) throw_api(400, "'" + f + ".value' must hold a 'schema'", f + ".value");
    return make(Kind::JsonSchema, schema_text((*v)["schema"], f + ".value.schema"), f + ".value.schema");
  }
  if (type == "regex") return make(Kind::Regex, string_field(*v, f + ".value"), f + ".value");
  throw_api(400, "'" + f + ".type' must be json, json_schema or regex; got '" + type + "'", f + ".type");
}

}  // namespace ignis::server
