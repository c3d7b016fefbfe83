// ignis server: API errors, JSON output and typed request-field readers.
#include <algorithm>
#include <cmath>
#include <limits>

#include "server/api.h"

namespace ignis::server {

ApiError make_api_error(int status, std::string message, std::string param, std::string code) {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = error_type_for(status);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

void throw_api(int status, std::string message, std::string param, std::string code) {
  throw make_api_error(status, std::move(message), std::move(param), std::move(code));
}

std::string error_type_for(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string openai_error_body(const ApiError& e) {
  json err = {{"message", e.message},
              {"type", e.type.empty() ? error_type_for(e.status) : e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return dump(json{{"error", err}});
}

bool ServedModel::matches(const std::string& n) const {
  if (n == name) return true;
  for (auto& a : aliases)
    if (n == a) return true;
  return false;
}

namespace {
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}
std::string range_text(double lo, double hi) {
  auto fmt_num = [](double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    return s;
  };
  return "[" + fmt_num(lo) + ", " + fmt_num(hi) + "]";
}
}  // namespace

std::optional<double> get_number(const json& obj, const char* key, double lo, double hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw_api(400, std::string("'") + key + "' must be a number", key);
  double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw_api(400, std::string("'") + key + "' must be in " + range_text(lo, hi) + ", got " + v->dump(), key);
  return d;
}

std::optional<int64_t> get_int(const json& obj, const char* key, int64_t lo, int64_t hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  int64_t r = 0;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw_api(400, std::string("'") + key + "' is out of range", key);
    r = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    r = v->get<int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e18)
      throw_api(400, std::string("'") + key + "' must be an integer", key);
    r = static_cast<int64_t>(d);
  } else {
    throw_api(400, std::string("'") + key + "' must be an integer", key);
  }
  if (r < lo || r > hi)
    throw_api(400, std::string("'") + key + "' must be in " + range_text(static_cast<double>(lo), static_cast<double>(hi)) +
                       ", got " + std::to_string(r), key);
  return r;
}

std::optional<bool> get_bool(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw_api(400, std::string("'") + key + "' must be a boolean", key);
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw_api(400, std::string("'") + key + "' must be a string", key);
  return v->get<std::string>();
}

std::vector<std::string> get_string_list(const json& obj, const char* key, bool drop_empty, size_t max_items) {
  const json* v = field(obj, key);
  std::vector<std::string> out;
  if (!v) return out;
  auto add = [&](const json& s) {
    if (!s.is_string()) throw_api(400, std::string("'") + key + "' must be a string or a list of strings", key);
    std::string str = s.get<std::string>();
    if (str.empty() && drop_empty) return;
    if (str.empty()) throw_api(400, std::string("'") + key + "' must not contain empty strings", key);
    out.push_back(std::move(str));
  };
  if (v->is_array()) {
    for (auto& s : *v) add(s);
  } else {
    add(*v);
  }
  if (out.size() > max_items)
    throw_api(400, std::string("'") + key + "' has " + std::to_string(out.size()) + " items, at most " +
                       std::to_string(max_items) + " allowed", key);
  return out;
}

std::vector<std::pair<int32_t, float>> get_logit_bias(const json& obj, const char* key, int vocab) {
  const json* v = field(obj, key);
  std::vector<std::pair<int32_t, float>> out;
  if (!v) return out;
  if (!v->is_object()) throw_api(400, std::string("'") + key + "' must be an object of token id -> bias", key);
  if (v->size() > 1024) throw_api(400, std::string("'") + key + "' has more than 1024 entries", key);
  for (auto& [k, b] : v->items()) {
    const std::string where = std::string(key) + "." + k;
    int64_t id = -1;
    bool digits = !k.empty() && k.size() <= 10 && std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) id = std::stoll(k);
    if (!digits || id >= vocab)
      throw_api(400, "'" + std::string(key) + "' key '" + k + "' is not a token id in [0, " + std::to_string(vocab) + ")",
                key);
    if (!b.is_number()) throw_api(400, "'" + where + "' must be a number", key);
    const double d = b.get<double>();
    if (!std::isfinite(d) || d < -100.0 || d > 100.0)
      throw_api(400, "'" + where + "' must be in [-100, 100], got " + b.dump(), key);
    out.emplace_back(static_cast<int32_t>(id), static_cast<float>(d));
  }
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); i++)
    if (out[i].first == out[i - 1].first)
      throw_api(400, "'" + std::string(key) + "' names token " + std::to_string(out[i].first) + " twice", key);
  return out;
}

void read_sampling_fields(const json& obj, SamplingParams* p) {
  if (auto v = get_number(obj, "temperature", 0.0, 100.0)) p->temperature = static_cast<float>(*v);
  if (auto v = get_number(obj, "top_p", 0.0, 1.0)) {
    if (*v <= 0.0) throw_api(400, "'top_p' must be in (0, 1], got 0", "top_p");
    p->top_p = static_cast<float>(*v);
  }
  if (auto v = get_int(obj, "top_k", -1, 1 << 30)) p->top_k = *v < 0 ? 0 : static_cast<int>(*v);
  if (auto v = get_number(obj, "min_p", 0.0, 1.0)) p->min_p = static_cast<float>(*v);
  if (auto v = get_number(obj, "presence_penalty", -2.0, 2.0)) p->presence_penalty = static_cast<float>(*v);
  if (auto v = get_number(obj, "frequency_penalty", -2.0, 2.0)) p->frequency_penalty = static_cast<float>(*v);
  if (auto v = get_number(obj, "repetition_penalty", 0.0, 100.0)) {
    if (*v <= 0.0) throw_api(400, "'repetition_penalty' must be > 0", "repetition_penalty");
    p->repetition_penalty = static_cast<float>(*v);
  }
  if (auto v = get_int(obj, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    p->seed = static_cast<uint64_t>(*v);
  if (auto v = get_bool(obj, "ignore_eos")) p->ignore_eos = *v;
}

}  // namespace ignis::server
