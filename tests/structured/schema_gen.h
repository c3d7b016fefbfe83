// A seeded generator of random JSON schemas in the supported subset: nested objects (required
// and optional properties, additionalProperties false / absent / a schema), arrays (items,
// prefixItems, min/maxItems), enums and consts, integers and numbers with bounds, strings with
// lengths, patterns or formats, anyOf / oneOf, type lists, and $ref into $defs (also recursive).
#pragma once
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace ignis::test {

class SchemaGen {
 public:
  explicit SchemaGen(uint32_t seed) : rng_(seed) {}

  nlohmann::ordered_json make() {
    nlohmann::ordered_json defs = nlohmann::ordered_json::object();
    int n_defs = pick(3);
    recursive_ = pick(4) == 0;
    for (n_defs_ = 0; n_defs_ < n_defs; ++n_defs_) defs["d" + std::to_string(n_defs_)] = node(2);  // refs to earlier ones only
    if (recursive_) {
      defs["tree"] = {{"type", "object"},
                      {"properties",
                       {{"value", {{"type", "integer"}, {"minimum", -50}, {"maximum", 50}}},
                        {"children", {{"type", "array"}, {"items", {{"$ref", "#/$defs/tree"}}}, {"maxItems", 2}}}}},
                      {"required", {"value"}},
                      {"additionalProperties", false}};
    }
    nlohmann::ordered_json root = object(0);
    if (!defs.empty()) root["$defs"] = defs;
    return root;
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  bool coin(int one_in) { return pick(one_in) == 0; }

  nlohmann::ordered_json node(int depth) {
    int k = pick(depth >= 3 ? 8 : 13);
    switch (k) {
      case 0: return string();
      case 1: return integer();
      case 2: return number();
      case 3: return {{"type", "boolean"}};
      case 4: return {{"type", "null"}};
      case 5: return enumeration();
      case 6: return {{"const", std::vector<nlohmann::ordered_json>{"fixed", 42, true, nullptr}[pick(4)]}};
      case 7: return {{"type", nlohmann::ordered_json::array({"string", "null"})}, {"maxLength", 5}};
      case 8: return object(depth + 1);
      case 9: return array(depth + 1);
      case 10: return {{"anyOf", {node(depth + 1), node(depth + 1)}}};
      case 11: return {{"oneOf", {string(), {{"type", "integer"}}}}};
      default:
        if (n_defs_ > 0) return {{"$ref", "#/$defs/d" + std::to_string(pick(n_defs_))}};
        if (recursive_) return {{"$ref", "#/$defs/tree"}};
        return string();
    }
  }

  nlohmann::ordered_json object(int depth) {
    nlohmann::ordered_json props = nlohmann::ordered_json::object();
    nlohmann::ordered_json req = nlohmann::ordered_json::array();
    int n = 1 + pick(4);
    static const char* names[] = {"id", "name", "value", "items", "kind", "x", "y\"q", "note", "ok", "ünï"};
    for (int i = 0; i < n; ++i) {
      std::string key = names[(i * 3 + pick(10)) % 10];
      if (props.contains(key)) continue;
      props[key] = depth < 3 ? node(depth) : string();
      if (coin(2)) req.push_back(key);
    }
    if (depth == 0 && recursive_) props["tree"] = {{"$ref", "#/$defs/tree"}};
    nlohmann::ordered_json o = {{"type", "object"}, {"properties", props}};
    if (!req.empty()) o["required"] = req;
    switch (pick(4)) {
      case 0: o["additionalProperties"] = false; break;
      case 1: o["additionalProperties"] = {{"type", "integer"}}; break;
      default: break;
    }
    if (coin(6)) o["description"] = "ignored";
    return o;
  }

  nlohmann::ordered_json array(int depth) {
    nlohmann::ordered_json a = {{"type", "array"}};
    if (coin(4)) {
      a["prefixItems"] = {string(), integer()};
      if (coin(2)) a["items"] = false;
    } else {
      a["items"] = depth < 3 ? node(depth) : integer();
    }
    if (coin(2)) a["minItems"] = pick(3);
    if (coin(2)) a["maxItems"] = 3 + pick(3);
    return a;
  }

  nlohmann::ordered_json string() {
    nlohmann::ordered_json s = {{"type", "string"}};
    switch (pick(6)) {
      case 0: s["minLength"] = pick(3); s["maxLength"] = 3 + pick(6); break;
      case 1: {
        static const char* pats[] = {R"(^[a-z]{2,5}$)", R"(^\d{3}-\d{2}$)", R"(^(foo|bar)[0-9]?$)", R"(^[A-Z][a-z]*$)",
                                     R"(^[^"\\]{1,4}"?$)", R"(ab)", R"(^\w+@\w+\.com$)", R"(^(\s|x){1,3}$)"};
        s["pattern"] = pats[pick(8)];
        break;
      }
      case 2: s["format"] = std::vector<std::string>{"date", "time", "date-time", "uuid", "email"}[pick(5)]; break;
      case 3: s["enum"] = {"red", "green", "blue \"b\"", "ünïcode"}; break;
      default: break;
    }
    return s;
  }

  nlohmann::ordered_json integer() {
    nlohmann::ordered_json s = {{"type", "integer"}};
    int lo = pick(200) - 100;
    if (coin(2)) s[coin(3) ? "exclusiveMinimum" : "minimum"] = lo;
    if (coin(2)) s[coin(3) ? "exclusiveMaximum" : "maximum"] = lo + 2 + pick(1000);
    return s;
  }

  nlohmann::ordered_json number() {
    nlohmann::ordered_json s = {{"type", "number"}};
    int lo = pick(20) - 10;
    if (coin(2)) s[coin(3) ? "exclusiveMinimum" : "minimum"] = coin(3) ? lo + 0.5 : lo;
    if (coin(2)) s[coin(3) ? "exclusiveMaximum" : "maximum"] = lo + 3 + pick(50);
    return s;
  }

  nlohmann::ordered_json enumeration() {
    return {{"enum", {"a", 1, 2.5, nullptr, false, nlohmann::ordered_json::array({1, "x"}), {{"k", "v"}}}}};
  }

  std::mt19937 rng_;
  int n_defs_ = 0;
  bool recursive_ = false;
};

}  // namespace ignis::test
