// ignis structured: the front ends that turn a constraint's text into a RuleSet.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "structured/expr.h"

namespace ignis::structured {

// GBNF / xgrammar-style EBNF (`root ::= ...`). Errors: "grammar: line L col C: ...".
RuleSet parse_gbnf(std::string_view text);

// A Python `re` subset as one code point expression. `what` prefixes errors ("<what>: position
// P: ..."). ^ and $ are allowed only at the ends of the pattern's top-level alternatives. `search`
// false: whole-string match (anchors change nothing); true: re.search semantics (JSON schema
// "pattern"): an alternative without ^ may be preceded, one without $ followed, by any text.
ExprP parse_regex(std::string_view pattern, const std::string& what, bool search = false);

// Any JSON object (root rule "root"), whitespace runs bounded.
RuleSet json_object_rules();
// JSON schema -> rules; errors "json_schema: ...".
RuleSet json_schema_rules(const nlohmann::ordered_json& schema, bool strict);

}  // namespace ignis::structured
