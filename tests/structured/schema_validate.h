// A small JSON Schema validator for the keyword subset the structured-output compiler supports,
// used to check that constrained outputs satisfy their schema. Returns "" when valid, else the
// first violation with its path. `strict`: additionalProperties defaults to false.
#pragma once
#include <nlohmann/json.hpp>
#include <cmath>
#include <regex>
#include <string>

namespace ignis::test {

using OJson = nlohmann::ordered_json;

inline size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Code points, so that patterns count characters as the schema means them (std::regex on bytes
// would not).
inline std::wstring utf32(const std::string& s) {
  std::wstring out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(static_cast<wchar_t>(cp));
    i += n;
  }
  return out;
}

inline bool search(const std::string& text, const std::string& pattern) {
  return std::regex_search(utf32(text), std::wregex(utf32(pattern)));
}

inline const char* format_pattern(const std::string& f) {
  if (f == "date") return R"(^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$)";
  if (f == "time") return R"(^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$)";
  if (f == "date-time")
    return R"(^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$)";
  if (f == "uuid") return R"(^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$)";
  if (f == "email") return R"(^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$)";
  return nullptr;
}

inline std::string validate(const OJson& v, const OJson& s, const OJson& root, bool strict, const std::string& at = "$") {
  if (s.is_boolean()) return s.get<bool>() ? "" : at + ": false schema";
  if (s.contains("$ref")) {
    std::string p = s["$ref"].get<std::string>();
    const OJson& t = p == "#" ? root : root.at(OJson::json_pointer(p.substr(1)));
    return validate(v, t, root, strict, at);
  }
  if (s.contains("allOf"))
    for (auto& sub : s["allOf"])
      if (auto e = validate(v, sub, root, strict, at); !e.empty()) return e;
  if (s.contains("anyOf")) {
    bool any = false;
    for (auto& sub : s["anyOf"]) any = any || validate(v, sub, root, strict, at).empty();
    if (!any) return at + ": no anyOf branch matches";
  }
  if (s.contains("oneOf")) {
    int n = 0;
    for (auto& sub : s["oneOf"]) n += validate(v, sub, root, strict, at).empty();
    if (n != 1) return at + ": " + std::to_string(n) + " oneOf branches match";
  }
  if (s.contains("const") && v != s["const"]) return at + ": not the const " + s["const"].dump();
  if (s.contains("enum")) {
    bool in = false;
    for (auto& e : s["enum"]) in = in || e == v;
    if (!in) return at + ": not in enum";
  }
  if (s.contains("type")) {
    auto is = [&](const std::string& t) {
      if (t == "object") return v.is_object();
      if (t == "array") return v.is_array();
      if (t == "string") return v.is_string();
      // JSON Schema: any number with a zero fractional part (a parser may hold big ones as doubles).
      if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
      if (t == "number") return v.is_number();
      if (t == "boolean") return v.is_boolean();
      if (t == "null") return v.is_null();
      return false;
    };
    bool ok = false;
    if (s["type"].is_string()) ok = is(s["type"].get<std::string>());
    else
      for (auto& t : s["type"]) ok = ok || is(t.get<std::string>());
    if (!ok) return at + ": wrong type for " + s["type"].dump();
  }
  if (v.is_object()) {
    const OJson empty = OJson::object();
    const OJson& props = s.contains("properties") ? s["properties"] : empty;
    if (s.contains("required"))
      for (auto& r : s["required"])
        if (!v.contains(r.get<std::string>())) return at + ": missing required '" + r.get<std::string>() + "'";
    for (auto& [k, x] : v.items()) {
      if (props.contains(k)) {
        if (auto e = validate(x, props[k], root, strict, at + "." + k); !e.empty()) return e;
      } else if (s.contains("additionalProperties")) {
        if (auto e = validate(x, s["additionalProperties"], root, strict, at + "." + k); !e.empty()) return e;
      } else if (strict && (s.contains("properties") || s.value("type", "") == "object")) {
        return at + ": additional property '" + k + "' (strict)";
      }
    }
  }
  if (v.is_array()) {
    size_t k = 0;
    if (s.contains("prefixItems"))
      for (; k < s["prefixItems"].size() && k < v.size(); ++k)
        if (auto e = validate(v[k], s["prefixItems"][k], root, strict, at + "[" + std::to_string(k) + "]"); !e.empty()) return e;
    if (s.contains("items"))
      for (; k < v.size(); ++k)
        if (auto e = validate(v[k], s["items"], root, strict, at + "[" + std::to_string(k) + "]"); !e.empty()) return e;
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return at + ": too few items";
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return at + ": too many items";
  }
  if (v.is_string()) {
    std::string str = v.get<std::string>();
    size_t n = utf8_length(str);
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return at + ": shorter than minLength";
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return at + ": longer than maxLength";
    if (s.contains("pattern") && !search(str, s["pattern"].get<std::string>()))
      return at + ": does not match pattern " + s["pattern"].get<std::string>();
    if (s.contains("format")) {
      const char* p = format_pattern(s["format"].get<std::string>());
      if (!p) return at + ": unknown format";
      if (!search(str, p)) return at + ": not a " + s["format"].get<std::string>();
    }
  }
  if (v.is_number()) {
    double x = v.get<double>();
    if (s.contains("minimum") && x < s["minimum"].get<double>()) return at + ": below minimum";
    if (s.contains("maximum") && x > s["maximum"].get<double>()) return at + ": above maximum";
    if (s.contains("exclusiveMinimum") && x <= s["exclusiveMinimum"].get<double>()) return at + ": not above exclusiveMinimum";
    if (s.contains("exclusiveMaximum") && x >= s["exclusiveMaximum"].get<double>()) return at + ": not below exclusiveMaximum";
  }
  return "";
}

}  // namespace ignis::test
