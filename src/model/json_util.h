// ignis model: strict helpers for reading fields of Hugging Face JSON files
// (config.json, generation_config.json, safetensors headers, index.json).
// Every failure is an ignis::Error naming the file and the field.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ignis::jsonf {

using Json = nlohmann::json;

// Largest nesting depth accepted in any JSON file we read (real files use <= 4).
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as JSON; throws Error("<file>: not valid JSON ...") on syntax errors
// or nesting deeper than kMaxJsonDepth. Never throws anything but ignis::Error.
Json parse(std::string_view text, const std::string& file);

// Reads a whole (small) file, at most max_bytes; errors name the file.
std::string read_text_file(const std::string& path, size_t max_bytes = size_t(64) << 20);
// Reads a file fully (with a size cap) and parses it; errors name the file.
Json parse_file(const std::string& path, size_t max_bytes = size_t(64) << 20);

// JSON type name for error messages ("string", "number", ...).
const char* type_name(const Json& j);

// Integer value of `j` (an integer, or a float with an integral value) within
// [lo, hi]; `field` names it in errors.
int64_t get_int(const Json& j, const std::string& file, const std::string& field, int64_t lo, int64_t hi);
double get_float(const Json& j, const std::string& file, const std::string& field, double lo, double hi);
bool get_bool(const Json& j, const std::string& file, const std::string& field);
std::string get_string(const Json& j, const std::string& file, const std::string& field);

// Object members: nullopt when absent or null.
const Json* find(const Json& obj, const char* key);  // nullptr if absent or null
std::optional<int64_t> opt_int(const Json& obj, const char* key, const std::string& file, int64_t lo, int64_t hi);
std::optional<double> opt_float(const Json& obj, const char* key, const std::string& file, double lo, double hi);
std::optional<bool> opt_bool(const Json& obj, const char* key, const std::string& file);
std::optional<std::string> opt_string(const Json& obj, const char* key, const std::string& file);
int64_t req_int(const Json& obj, const char* key, const std::string& file, int64_t lo, int64_t hi);

}  // namespace ignis::jsonf
