#include "model/json_util.h"

#include <cmath>
#include <fstream>
#include <unordered_set>
#include <vector>
#include <filesystem>

#include "core/error.h"

namespace ignis::jsonf {

namespace {

// Nesting depth of brackets outside strings; stops early past the limit.
int nesting_depth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (c == '}' || c == ']') depth--;
  }
  return max_depth;
}

}  // namespace

Json parse(std::string_view text, const std::string& file) {
  IGNIS_CHECK(nesting_depth(text) <= kMaxJsonDepth, "{}: JSON nested deeper than {} levels", file, kMaxJsonDepth);
  // Duplicate keys are ambiguous (parsers disagree on which wins): reject them.
  std::vector<std::unordered_set<std::string>> keys;  // keys seen, per open object
  auto cb = [&](int /*depth*/, Json::parse_event_t ev, Json& parsed) -> bool {
    if (ev == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (ev == Json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == Json::parse_event_t::key && !keys.empty() && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      IGNIS_CHECK(keys.back().insert(k).second, "{}: duplicate key '{}' in JSON", file, k);
    }
    return true;
  };
  Json j = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions only to get the position for the message.
    std::string why = "syntax error";
    try {
      Json again = Json::parse(text.begin(), text.end());
      static_cast<void>(again);
    } catch (const std::exception& e) {
      why = e.what();
    }
    IGNIS_FAIL("{}: not valid JSON: {}", file, why);
  }
  return j;
}

std::string read_text_file(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  IGNIS_CHECK(std::filesystem::is_regular_file(path, ec), "{}: not found or not a regular file", path);
  std::ifstream in(path, std::ios::binary);
  IGNIS_CHECK(in.good(), "{}: cannot open", path);
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  IGNIS_CHECK(size >= 0, "{}: cannot read", path);
  IGNIS_CHECK(size_t(size) <= max_bytes, "{}: file is {} bytes, larger than the {} accepted for a JSON file", path,
              int64_t(size), max_bytes);
  in.seekg(0);
  std::string text(size_t(size), '\0');
  in.read(text.data(), size);
  IGNIS_CHECK(in.good() || in.eof(), "{}: read failed", path);
  return text;
}

Json parse_file(const std::string& path, size_t max_bytes) { return parse(read_text_file(path, max_bytes), path); }

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

int64_t get_int(const Json& j, const std::string& file, const std::string& field, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    IGNIS_CHECK(u <= uint64_t(hi), "{}: field '{}' = {} is out of range [{}, {}]", file, field, u, lo, hi);
    v = int64_t(u);
  } else if (j.is_number_integer()) {
    v = j.get<int64_t>();
  } else if (j.is_number_float()) {
    double d = j.get<double>();
    IGNIS_CHECK(std::isfinite(d) && d == std::floor(d) && d >= -9.0e15 && d <= 9.0e15,
                "{}: field '{}' must be an integer, got {}", file, field, d);
    v = int64_t(d);
  } else {
    IGNIS_FAIL("{}: field '{}' must be an integer, got {}", file, field, type_name(j));
  }
  IGNIS_CHECK(v >= lo && v <= hi, "{}: field '{}' = {} is out of range [{}, {}]", file, field, v, lo, hi);
  return v;
}

double get_float(const Json& j, const std::string& file, const std::string& field, double lo, double hi) {
  IGNIS_CHECK(j.is_number(), "{}: field '{}' must be a number, got {}", file, field, type_name(j));
  double d = j.get<double>();
  IGNIS_CHECK(std::isfinite(d) && d >= lo && d <= hi, "{}: field '{}' = {} is out of range [{}, {}]", file, field, d,
              lo, hi);
  return d;
}

bool get_bool(const Json& j, const std::string& file, const std::string& field) {
  IGNIS_CHECK(j.is_boolean(), "{}: field '{}' must be true or false, got {}", file, field, type_name(j));
  return j.get<bool>();
}

std::string get_string(const Json& j, const std::string& file, const std::string& field) {
  IGNIS_CHECK(j.is_string(), "{}: field '{}' must be a string, got {}", file, field, type_name(j));
  return j.get<std::string>();
}

const Json* find(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<int64_t> opt_int(const Json& obj, const char* key, const std::string& file, int64_t lo, int64_t hi) {
  const Json* j = find(obj, key);
  if (!j) return std::nullopt;
  return get_int(*j, file, key, lo, hi);
}

std::optional<double> opt_float(const Json& obj, const char* key, const std::string& file, double lo, double hi) {
  const Json* j = find(obj, key);
  if (!j) return std::nullopt;
  return get_float(*j, file, key, lo, hi);
}

std::optional<bool> opt_bool(const Json& obj, const char* key, const std::string& file) {
  const Json* j = find(obj, key);
  if (!j) return std::nullopt;
  return get_bool(*j, file, key);
}

std::optional<std::string> opt_string(const Json& obj, const char* key, const std::string& file) {
  const Json* j = find(obj, key);
  if (!j) return std::nullopt;
  return get_string(*j, file, key);
}

int64_t req_int(const Json& obj, const char* key, const std::string& file, int64_t lo, int64_t hi) {
  const Json* j = find(obj, key);
  IGNIS_CHECK(j, "{}: missing required field '{}'", file, key);
  return get_int(*j, file, key, lo, hi);
}

}  // namespace ignis::jsonf
