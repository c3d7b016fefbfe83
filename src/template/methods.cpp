// ignis template: attribute/item lookup, Python methods of str/dict/list, operators,
// slicing, str.format and "%" formatting.
#include <algorithm>
#include <cmath>

#include "template/builtins.h"
#include "core/error.h"

namespace ignis::tmpl {
namespace {

bool is_ws(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x85 || c == 0xa0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x1680 || c == 0x202f || c == 0x205f || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x1f; }

std::string arg_str(const CallArgs& a, size_t i, const std::string& name, const char* method) {
  const Value* v = a.get(i, name);
  if (!v || !v->is_string()) IGNIS_FAIL("TypeError: str.{}() argument must be a string", method);
  return v->as_string();
}

}  // namespace

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set;
  bool use_set = chars && !chars->is_none() && !chars->is_undefined();
  if (use_set) set = utf8_decode(to_str(*chars));
  auto strip_it = [&](char32_t c) { return use_set ? set.find(c) != std::u32string::npos : is_ws(c); };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

namespace {

// Simple Unicode case mapping for the scripts chat content commonly uses (ASCII,
// Latin-1, Latin Extended-A, Greek, Cyrillic); other characters are left unchanged.
char32_t to_lower_cp(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

char32_t to_upper_cp(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

bool is_cased(char32_t c) { return to_lower_cp(c) != c || to_upper_cp(c) != c || c == 0xDF; }

void append_upper(std::u32string& out, char32_t c) {
  if (c == 0xDF) {  // ß
    out += U"SS";
  } else {
    out.push_back(to_upper_cp(c));
  }
}

}  // namespace

std::string ascii_case(std::string s, bool upper) {
  std::u32string u = utf8_decode(s), out;
  for (char32_t c : u) {
    if (upper) append_upper(out, c);
    else out.push_back(to_lower_cp(c));
  }
  return utf8_encode(out);
}

std::string py_title(const std::string& s) {
  // Python str.title(): a cased character after an uncased one starts a word.
  std::u32string u = utf8_decode(s), out;
  bool prev_cased = false;
  for (char32_t c : u) {
    if (prev_cased) out.push_back(to_lower_cp(c));
    else if (c == 0xDF) out += U"Ss";
    else out.push_back(to_upper_cp(c));
    prev_cased = is_cased(c);
  }
  return utf8_encode(out);
}

std::string jinja_title(const std::string& s) {
  // Jinja's title filter: words start after runs of whitespace, '-', '(', '{', '[' or '<'.
  std::u32string u = utf8_decode(s), out;
  auto sep = [](char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
  bool start = true;
  for (char32_t c : u) {
    if (sep(c)) {
      out.push_back(c);
      start = true;
      continue;
    }
    if (start) append_upper(out, c);
    else out.push_back(to_lower_cp(c));
    start = false;
  }
  return utf8_encode(out);
}

std::string py_capitalize(const std::string& s) {
  std::u32string u = utf8_decode(s), out;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 0) {
      if (u[0] == 0xDF) out += U"Ss";
      else out.push_back(to_upper_cp(u[0]));
    } else {
      out.push_back(to_lower_cp(u[i]));
    }
  }
  return utf8_encode(out);
}

std::string py_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    std::u32string u = utf8_decode(s);
    std::string out = to;
    int64_t n = 1;
    for (char32_t c : u) {
      out += utf8_encode(std::u32string(1, c));
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
    }
    return out;
  }
  std::string out;
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t f = s.find(from, pos);
    if (f == std::string::npos) break;
    out += s.substr(pos, f - pos) + to;
    pos = f + from.size();
    ++n;
  }
  return out + s.substr(pos);
}

std::vector<Value> py_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  std::vector<Value> out;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && is_ws(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        out.emplace_back(utf8_encode(u.substr(i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !is_ws(u[j])) ++j;
      out.emplace_back(utf8_encode(u.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  if (!sep->is_string()) IGNIS_FAIL("TypeError: must be str or None, not {}", sep->type_name());
  const std::string& d = sep->as_string();
  if (d.empty()) IGNIS_FAIL("ValueError: empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t f = s.find(d, pos);
    if (f == std::string::npos) break;
    out.emplace_back(s.substr(pos, f - pos));
    pos = f + d.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

namespace {

// Byte offset of a code-point index and back (for find/rfind results).
int64_t cp_index(const std::string& s, size_t byte_off) { return static_cast<int64_t>(utf8_length(s.substr(0, byte_off))); }

Value string_method(const std::string& s, const std::string& name) {
  auto m = [&](auto fn) { return Value::function("str." + name, [s, fn](CallArgs& a) -> Value { return fn(s, a); }); };
  if (name == "strip") return m([](const std::string& s, CallArgs& a) { return Value(py_strip(s, a.get(0, "chars"), true, true)); });
  if (name == "lstrip") return m([](const std::string& s, CallArgs& a) { return Value(py_strip(s, a.get(0, "chars"), true, false)); });
  if (name == "rstrip") return m([](const std::string& s, CallArgs& a) { return Value(py_strip(s, a.get(0, "chars"), false, true)); });
  if (name == "upper") return m([](const std::string& s, CallArgs&) { return Value(ascii_case(s, true)); });
  if (name == "lower") return m([](const std::string& s, CallArgs&) { return Value(ascii_case(s, false)); });
  if (name == "title") return m([](const std::string& s, CallArgs&) { return Value(py_title(s)); });
  if (name == "capitalize") return m([](const std::string& s, CallArgs&) { return Value(py_capitalize(s)); });
  if (name == "split" || name == "rsplit") {
    return m([](const std::string& s, CallArgs& a) {
      const Value* ms = a.get(1, "maxsplit");
      return Value::list(py_split(s, a.get(0, "sep"), ms ? ms->as_int() : -1));
    });
  }
  if (name == "splitlines") {
    return m([](const std::string& s, CallArgs&) {
      std::vector<Value> out;
      size_t pos = 0;
      while (pos < s.size()) {
        size_t f = s.find('\n', pos);
        if (f == std::string::npos) f = s.size();
        out.emplace_back(s.substr(pos, f - pos));
        pos = f + 1;
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "startswith" || name == "endswith") {
    bool start = name == "startswith";
    return m([start](const std::string& s, CallArgs& a) {
      const Value* p = a.get(0, "prefix");
      if (!p) IGNIS_FAIL("TypeError: {}() takes at least 1 argument", start ? "startswith" : "endswith");
      std::vector<Value> opts = p->is_list() ? p->as_list().items : std::vector<Value>{*p};
      for (auto& o : opts) {
        if (!o.is_string()) IGNIS_FAIL("TypeError: {} first arg must be str or a tuple of str", start ? "startswith" : "endswith");
        const std::string& x = o.as_string();
        if (x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0))
          return Value(true);
      }
      return Value(false);
    });
  }
  if (name == "replace") {
    return m([](const std::string& s, CallArgs& a) {
      const Value* c = a.get(2, "count");
      return Value(py_replace(s, arg_str(a, 0, "old", "replace"), arg_str(a, 1, "new", "replace"), c ? c->as_int() : -1));
    });
  }
  if (name == "find" || name == "rfind" || name == "index") {
    bool rev = name == "rfind";
    bool strict = name == "index";
    return m([rev, strict](const std::string& s, CallArgs& a) {
      std::string sub = arg_str(a, 0, "sub", "find");
      size_t f = rev ? s.rfind(sub) : s.find(sub);
      if (f == std::string::npos) {
        if (strict) IGNIS_FAIL("ValueError: substring not found");
        return Value(int64_t{-1});
      }
      return Value(cp_index(s, f));
    });
  }
  if (name == "count") {
    return m([](const std::string& s, CallArgs& a) {
      std::string sub = arg_str(a, 0, "sub", "count");
      if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value(n);
    });
  }
  if (name == "join") {
    return m([](const std::string& s, CallArgs& a) {
      const Value* it = a.get(0, "iterable");
      if (!it) IGNIS_FAIL("TypeError: join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (auto& v : iterate(*it)) {
        if (!v.is_string()) IGNIS_FAIL("TypeError: sequence item: expected str instance, {} found", v.type_name());
        if (!first) out += s;
        first = false;
        out += v.as_string();
      }
      return Value(out);
    });
  }
  if (name == "format") return m([](const std::string& s, CallArgs& a) { return Value(py_format(s, a)); });
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" || name == "isupper" || name == "islower") {
    std::string nm = name;
    return m([nm](const std::string& s, CallArgs&) {
      if (s.empty()) return Value(false);
      bool any_cased = false;
      for (unsigned char c : s) {
        if (nm == "isdigit" && !std::isdigit(c)) return Value(false);
        if (nm == "isalpha" && !std::isalpha(c)) return Value(false);
        if (nm == "isalnum" && !std::isalnum(c)) return Value(false);
        if (nm == "isspace" && !std::isspace(c)) return Value(false);
        if (nm == "isupper" && std::islower(c)) return Value(false);
        if (nm == "islower" && std::isupper(c)) return Value(false);
        any_cased = any_cased || std::isalpha(c);
      }
      return Value((nm == "isupper" || nm == "islower") ? any_cased : true);
    });
  }
  return Value::undefined(fmt::format("UndefinedError: 'str object' has no attribute '{}'", name));
}

Value dict_method(const Value& d, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    std::string nm = name;
    return Value::function("dict." + name, [d, nm](CallArgs&) {
      std::vector<Value> out;
      for (auto& [k, v] : d.as_dict().items) {
        if (nm == "items") out.push_back(Value::list({Value(k), v}, true));
        else if (nm == "keys") out.emplace_back(k);
        else out.push_back(v);
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "get") {
    return Value::function("dict.get", [d](CallArgs& a) -> Value {
      const Value* k = a.get(0, "key");
      if (!k) IGNIS_FAIL("TypeError: get expected at least 1 argument");
      if (k->is_string())
        if (const Value* v = d.as_dict().find(k->as_string())) return *v;
      const Value* dflt = a.get(1, "default");
      return dflt ? *dflt : Value(None{});
    });
  }
  if (name == "copy") return Value::function("dict.copy", [d](CallArgs&) { auto c = std::make_shared<Dict>(d.as_dict()); return Value(c); });
  static const char* kMutating[] = {"pop", "popitem", "setdefault", "update", "clear"};
  for (const char* mm : kMutating)
    if (name == mm) return Value::undefined(fmt::format("SecurityError: access to attribute '{}' of 'dict' object is unsafe.", name));
  return Value();
}

Value list_method(const Value& l, const std::string& name) {
  if (name == "index" || name == "count") {
    bool idx = name == "index";
    return Value::function("list." + name, [l, idx](CallArgs& a) -> Value {
      const Value* x = a.get(0, "value");
      if (!x) IGNIS_FAIL("TypeError: list.{}() takes exactly one argument", idx ? "index" : "count");
      int64_t n = 0;
      auto& items = l.as_list().items;
      for (size_t i = 0; i < items.size(); ++i) {
        if (values_equal(items[i], *x)) {
          if (idx) return Value(static_cast<int64_t>(i));
          ++n;
        }
      }
      if (idx) IGNIS_FAIL("ValueError: {} is not in list", to_repr(*x));
      return Value(n);
    });
  }
  static const char* kMutating[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"};
  for (const char* mm : kMutating)
    if (name == mm)
      return Value::undefined(fmt::format("SecurityError: access to attribute '{}' of '{}' object is unsafe.", name, l.type_name()));
  return Value::undefined(fmt::format("UndefinedError: '{} object' has no attribute '{}'", l.type_name(), name));
}

int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_dict()) {
    Value m = dict_method(obj, name);
    if (!m.is_undefined() || !m.as_undefined().hint.empty()) return m;
    if (const Value* v = obj.as_dict().find(name)) return *v;
    return Value::undefined(fmt::format("UndefinedError: 'dict object' has no attribute '{}'", name));
  }
  if (obj.is_namespace()) {
    if (const Value* v = obj.as_namespace().attrs.find(name)) return *v;
    return Value::undefined(fmt::format("UndefinedError: 'jinja2.utils.Namespace object' has no attribute '{}'", name));
  }
  if (obj.is_string()) return string_method(obj.as_string(), name);
  if (obj.is_list()) return list_method(obj, name);
  if (obj.is_none()) return Value::undefined(fmt::format("UndefinedError: 'None' has no attribute '{}'", name));
  return Value::undefined(fmt::format("UndefinedError: '{} object' has no attribute '{}'", obj.type_name(), name));
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
      Value m = dict_method(obj, key.as_string());
      if (!m.is_undefined() || !m.as_undefined().hint.empty()) return m;
    }
    return Value::undefined(fmt::format("UndefinedError: 'dict object' has no attribute {}", to_repr(key)));
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    if (obj.is_list()) {
      auto& items = obj.as_list().items;
      int64_t i = norm_index(key.as_int(), static_cast<int64_t>(items.size()));
      if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(i)];
      return Value::undefined(fmt::format("UndefinedError: '{} object' has no attribute {}", obj.type_name(), key.as_int()));
    }
    std::u32string u = utf8_decode(obj.as_string());
    int64_t i = norm_index(key.as_int(), static_cast<int64_t>(u.size()));
    if (i >= 0 && i < static_cast<int64_t>(u.size())) return Value(utf8_encode(u.substr(static_cast<size_t>(i), 1)));
    return Value::undefined(fmt::format("UndefinedError: 'str object' has no attribute {}", key.as_int()));
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  if (obj.is_none()) return Value::undefined(fmt::format("UndefinedError: 'None' has no attribute {}", to_repr(key)));
  return Value::undefined(fmt::format("UndefinedError: '{} object' has no attribute {}", obj.type_name(), to_repr(key)));
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  auto opt = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) IGNIS_FAIL("TypeError: slice {} must be an integer or None", what);
    return v.as_int();
  };
  auto st = opt(step, "step").value_or(1);
  if (st == 0) IGNIS_FAIL("ValueError: slice step cannot be zero");
  auto pick = [&](int64_t n) {
    std::vector<size_t> idx;
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = *v < 0 ? *v + n : *v;
      if (st > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    int64_t b = clamp(opt(start, "start"), st > 0 ? 0 : n - 1);
    int64_t e = clamp(opt(stop, "stop"), st > 0 ? n : -1);
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(static_cast<size_t>(i));
    return idx;
  };
  if (obj.is_list()) {
    auto& items = obj.as_list().items;
    std::vector<Value> out;
    for (size_t i : pick(static_cast<int64_t>(items.size()))) out.push_back(items[i]);
    return Value::list(std::move(out), obj.as_list().is_tuple);
  }
  if (obj.is_string()) {
    std::u32string u = utf8_decode(obj.as_string());
    std::u32string out;
    for (size_t i : pick(static_cast<int64_t>(u.size()))) out.push_back(u[i]);
    return Value(utf8_encode(out));
  }
  IGNIS_FAIL("TypeError: '{}' object is not subscriptable", obj.type_name());
}

bool contains(const Value& c, const Value& item) {
  if (c.is_string()) {
    if (!item.is_string()) IGNIS_FAIL("TypeError: 'in <string>' requires string as left operand, not {}", item.type_name());
    return c.as_string().find(item.as_string()) != std::string::npos;
  }
  if (c.is_list()) {
    for (auto& v : c.as_list().items)
      if (values_equal(v, item)) return true;
    return false;
  }
  if (c.is_dict()) return item.is_string() && c.as_dict().find(item.as_string()) != nullptr;
  if (c.is_undefined()) return false;  // jinja2.Undefined iterates as empty
  IGNIS_FAIL("TypeError: argument of type '{}' is not iterable", c.type_name());
}

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value(to_str(a) + to_str(b));
  a.require_defined();
  b.require_defined();
  if (op == "%" && a.is_string()) return Value(py_percent(a.as_string(), b));
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list()) {
      std::vector<Value> out = a.as_list().items;
      out.insert(out.end(), b.as_list().items.begin(), b.as_list().items.end());
      return Value::list(std::move(out), a.as_list().is_tuple);
    }
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return binary_op(op, b, a);
  if (op == "*" && (a.is_int() || a.is_bool()) && (b.is_string() || b.is_list())) {
    int64_t n = a.as_int();
    size_t unit = b.is_string() ? b.as_string().size() : b.as_list().items.size();
    if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > (uint64_t{1} << 26) / unit)
      IGNIS_FAIL("MemoryError: repetition result too large ({} x {})", n, unit);
    if (b.is_string()) {
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += b.as_string();
      return Value(out);
    }
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), b.as_list().items.begin(), b.as_list().items.end());
    return Value::list(std::move(out));
  }
  if (!a.is_number() || !b.is_number()) {
    if (op == "+" && a.is_string())
      IGNIS_FAIL("TypeError: can only concatenate str (not \"{}\") to str", b.type_name());
    IGNIS_FAIL("TypeError: unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
  }
  bool flt = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) IGNIS_FAIL("ZeroDivisionError: division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (flt) {
    double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0) IGNIS_FAIL("ZeroDivisionError: float division by zero");
    if (op == "//") return Value(std::floor(x / y));
    if (op == "%") {
      double r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value(r);
    }
  } else {
    int64_t x = a.as_int(), y = b.as_int();
    int64_t r = 0;
    if (op == "+") { if (__builtin_add_overflow(x, y, &r)) IGNIS_FAIL("OverflowError: integer result too large"); return Value(r); }
    if (op == "-") { if (__builtin_sub_overflow(x, y, &r)) IGNIS_FAIL("OverflowError: integer result too large"); return Value(r); }
    if (op == "*") { if (__builtin_mul_overflow(x, y, &r)) IGNIS_FAIL("OverflowError: integer result too large"); return Value(r); }
    if (op == "**") {
      if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
      r = 1;
      for (int64_t i = 0; i < y; ++i)
        if (__builtin_mul_overflow(r, x, &r)) IGNIS_FAIL("OverflowError: integer result too large");
      return Value(r);
    }
    if (y == 0) IGNIS_FAIL("ZeroDivisionError: integer division or modulo by zero");
    if (op == "//") return Value(floordiv(x, y));
    if (op == "%") return Value(x - floordiv(x, y) * y);
  }
  IGNIS_FAIL("unsupported operator '{}'", op);
}

std::string py_format(const std::string& f, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') { out.push_back('{'); ++i; continue; }
    if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') { out.push_back('}'); ++i; continue; }
    if (c != '{') { out.push_back(c); continue; }
    size_t e = f.find('}', i);
    if (e == std::string::npos) IGNIS_FAIL("ValueError: Single '{{' encountered in format string");
    std::string field = f.substr(i + 1, e - i - 1);
    if (field.find(':') != std::string::npos || field.find('!') != std::string::npos)
      IGNIS_FAIL("str.format: format specs/conversions are not supported ('{{{}}}')", field);
    const Value* v = nullptr;
    if (field.empty()) v = auto_idx < a.pos.size() ? &a.pos[auto_idx++] : nullptr;
    else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
      size_t k = field.size() < 9 ? std::stoul(field) : SIZE_MAX;
      v = k < a.pos.size() ? &a.pos[k] : nullptr;
    } else {
      for (auto& [k, x] : a.kw)
        if (k == field) v = &x;
    }
    if (!v) IGNIS_FAIL("IndexError: str.format has no argument for field '{{{}}}'", field);
    out += to_str(*v);
    i = e;
  }
  return out;
}

std::string py_percent(const std::string& f, const Value& args) {
  std::vector<Value> vals = args.is_list() && args.as_list().is_tuple ? args.as_list().items : std::vector<Value>{args};
  std::string out;
  size_t k = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') { out.push_back(f[i]); continue; }
    if (i + 1 >= f.size()) IGNIS_FAIL("ValueError: incomplete format");
    char spec = f[++i];
    if (spec == '%') { out.push_back('%'); continue; }
    if (k >= vals.size()) IGNIS_FAIL("TypeError: not enough arguments for format string");
    const Value& v = vals[k++];
    if (spec == 's') out += to_str(v);
    else if (spec == 'r') out += to_repr(v);
    else if (spec == 'd' || spec == 'i') {
      if (!v.is_number()) IGNIS_FAIL("TypeError: %d format: a real number is required, not {}", v.type_name());
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_double()) : v.as_int());
    } else IGNIS_FAIL("ValueError: unsupported format character '{}'", spec);
  }
  if (k < vals.size()) IGNIS_FAIL("TypeError: not all arguments converted during string formatting");
  return out;
}

}  // namespace ignis::tmpl
