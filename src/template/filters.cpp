// ignis template: Jinja2's built-in filters and tests (the ones chat templates use),
// with transformers' tojson, plus the globals range/dict/namespace/raise_exception/strftime_now.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "template/builtins.h"
#include "template/errors.h"

namespace ignis::tmpl {
namespace {

using FilterFn = std::function<Value(const Env&, const Value&, CallArgs&)>;
using TestFn = std::function<bool(const Env&, const Value&, CallArgs&)>;

const Value* arg(const CallArgs& a, size_t i, const char* name) { return a.get(i, name); }
bool arg_bool(const CallArgs& a, size_t i, const char* name, bool dflt) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : dflt;
}

std::vector<Value> as_seq(const Value& v) { return iterate(v); }

// Jinja's attribute getter for map/selectattr/sort: "a.b" paths, ints as indexes.
Value get_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur.require_defined();
    cur = numeric && part.size() < 18 ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

// Case-insensitive key for sort/unique/dictsort (Jinja's ignore_case).
Value fold(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(ascii_case(v.as_string(), false));
  return v;
}

std::string round_str(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

// select/reject/selectattr/rejectattr share this.
Value select_impl(const Env& env, const Value& seq, CallArgs& a, bool attr, bool want) {
  std::vector<Value> out;
  size_t first = 0;
  std::string attribute;
  if (attr) {
    if (a.pos.empty()) IGNIS_FAIL("TypeError: missing attribute for {}attr", want ? "select" : "reject");
    attribute = to_str(a.pos[0]);
    first = 1;
  }
  std::string test;
  CallArgs targs;
  if (a.pos.size() > first) {
    test = to_str(a.pos[first]);
    targs.pos.assign(a.pos.begin() + static_cast<long>(first) + 1, a.pos.end());
  }
  targs.kw = a.kw;
  if (!test.empty() && !has_test(test)) IGNIS_FAIL("TemplateRuntimeError: No test named '{}'.", test);
  if (!seq.truthy()) return Value::list();  // Jinja: `if seq:` guards the loop, so None selects nothing
  for (auto& item : as_seq(seq)) {
    Value v = attr ? get_path(item, attribute) : item;
    bool ok = test.empty() ? v.truthy() : env.apply_test(test, v, targs);
    if (ok == want) out.push_back(item);
  }
  return Value::list(std::move(out));
}

std::string do_indent(const std::string& s, const Value* width, bool first, bool blank) {
  std::string pad = !width ? "    " : width->is_string() ? width->as_string() : std::string(static_cast<size_t>(width->as_int()), ' ');
  std::string text = s;
  std::string nl = "\n";
  if (!text.empty() && text.back() == '\n') {  // Jinja keeps a trailing newline unindented
    text.pop_back();
  } else {
    nl.clear();
  }
  std::vector<std::string> lines;
  size_t pos = 0;
  while (true) {
    size_t f = text.find('\n', pos);
    lines.push_back(text.substr(pos, f == std::string::npos ? std::string::npos : f - pos));
    if (f == std::string::npos) break;
    pos = f + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    bool indent = (i == 0) ? first : (blank || !lines[i].empty());
    if (i == 0 && first && !blank && lines[i].empty()) indent = false;
    out += (indent ? pad : "") + lines[i];
  }
  return out + nl;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Whether Python's float() accepts s (decimal digits, optional sign/point/exponent, inf/nan).
bool python_float_syntax(const std::string& s) {
  std::string l = ascii_case(s, false);
  if (!l.empty() && (l[0] == '+' || l[0] == '-')) l.erase(0, 1);
  if (l == "inf" || l == "infinity" || l == "nan") return true;
  bool digits = false;
  size_t i = 0;
  while (i < l.size() && (std::isdigit(static_cast<unsigned char>(l[i])) || l[i] == '_')) digits |= l[i++] != '_';
  if (i < l.size() && l[i] == '.') {
    ++i;
    while (i < l.size() && (std::isdigit(static_cast<unsigned char>(l[i])) || l[i] == '_')) digits |= l[i++] != '_';
  }
  if (!digits) return false;
  if (i < l.size() && l[i] == 'e') {
    ++i;
    if (i < l.size() && (l[i] == '+' || l[i] == '-')) ++i;
    if (i >= l.size()) return false;
    while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) ++i;
  }
  return i == l.size();
}

double parse_python_float(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  return std::strtod(s.c_str(), nullptr);  // out-of-range gives inf, as Python
}

Value to_int(const Value& v, const Value* dflt) {
  Value fallback = dflt ? *dflt : Value(int64_t{0});
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return Value(static_cast<int64_t>(v.as_double()));
  if (v.is_string()) {
    std::string s = py_strip(v.as_string(), nullptr, true, true);
    try {
      size_t used = 0;
      long long x = std::stoll(s, &used, 10);
      if (used == s.size()) return Value(static_cast<int64_t>(x));
    } catch (...) {
    }
    if (python_float_syntax(s)) {
      double d = parse_python_float(s);
      if (std::isfinite(d)) return Value(static_cast<int64_t>(d));
    }
  }
  return fallback;
}

Value to_float(const Value& v, const Value* dflt) {
  Value fallback = dflt ? *dflt : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    std::string s = py_strip(v.as_string(), nullptr, true, true);
    if (python_float_syntax(s)) return Value(parse_python_float(s));
  }
  return fallback;
}

std::vector<Value> sorted(std::vector<Value> items, bool reverse, bool case_sensitive, const Value* attribute) {
  auto key = [&](const Value& v) {
    return fold(attribute && !attribute->is_none() ? get_path(v, to_str(*attribute)) : v, case_sensitive);
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? values_less(key(b), key(a)) : values_less(key(a), key(b));
  });
  return items;
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> m = [] {
    std::map<std::string, FilterFn> f;
    f["trim"] = [](const Env&, const Value& v, CallArgs& a) { return Value(py_strip(to_str(v), arg(a, 0, "chars"), true, true)); };
    f["lower"] = [](const Env&, const Value& v, CallArgs&) { return Value(ascii_case(to_str(v), false)); };
    f["upper"] = [](const Env&, const Value& v, CallArgs&) { return Value(ascii_case(to_str(v), true)); };
    f["title"] = [](const Env&, const Value& v, CallArgs&) { return Value(jinja_title(to_str(v))); };
    f["capitalize"] = [](const Env&, const Value& v, CallArgs&) { return Value(py_capitalize(to_str(v))); };
    f["string"] = [](const Env&, const Value& v, CallArgs&) { return Value(to_str(v)); };
    f["safe"] = [](const Env&, const Value& v, CallArgs&) { return v.is_string() ? v : Value(to_str(v)); };
    f["e"] = f["escape"] = [](const Env&, const Value& v, CallArgs&) { return Value(html_escape(to_str(v))); };
    f["replace"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* from = arg(a, 0, "old");
      const Value* to = arg(a, 1, "new");
      const Value* count = arg(a, 2, "count");
      if (!from || !to) IGNIS_FAIL("TypeError: replace filter needs old and new");
      return Value(py_replace(to_str(v), to_str(*from), to_str(*to), count && !count->is_none() ? count->as_int() : -1));
    };
    f["length"] = f["count"] = [](const Env&, const Value& v, CallArgs&) -> Value {
      if (v.is_string()) return Value(static_cast<int64_t>(utf8_length(v.as_string())));
      if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().items.size()));
      if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().items.size()));
      if (v.is_undefined()) return Value(int64_t{0});
      IGNIS_FAIL("TypeError: object of type '{}' has no len()", v.type_name());
    };
    f["default"] = f["d"] = [](const Env&, const Value& v, CallArgs& a) -> Value {
      const Value* dflt = arg(a, 0, "default_value");
      bool boolean = arg_bool(a, 1, "boolean", false);
      if (v.is_undefined() || (boolean && !v.truthy())) return dflt ? *dflt : Value(std::string());
      return v;
    };
    f["join"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* sep = arg(a, 0, "d");
      const Value* attr = arg(a, 1, "attribute");
      std::string out;
      bool first = true;
      for (auto& item : as_seq(v)) {
        if (!first) out += sep ? to_str(*sep) : "";
        first = false;
        out += to_str(attr && !attr->is_none() ? get_path(item, to_str(*attr)) : item);
      }
      return Value(out);
    };
    f["first"] = [](const Env&, const Value& v, CallArgs&) {
      auto s = as_seq(v);
      return s.empty() ? Value::undefined("UndefinedError: No first item, sequence was empty.") : s.front();
    };
    f["last"] = [](const Env&, const Value& v, CallArgs&) {
      auto s = as_seq(v);
      return s.empty() ? Value::undefined("UndefinedError: No last item, sequence was empty.") : s.back();
    };
    f["list"] = [](const Env&, const Value& v, CallArgs&) { return Value::list(as_seq(v)); };
    f["reverse"] = [](const Env&, const Value& v, CallArgs&) -> Value {
      if (v.is_string()) {
        std::u32string u = utf8_decode(v.as_string());
        std::reverse(u.begin(), u.end());
        return Value(utf8_encode(u));
      }
      auto s = as_seq(v);
      std::reverse(s.begin(), s.end());
      return Value::list(std::move(s));
    };
    f["int"] = [](const Env&, const Value& v, CallArgs& a) { return to_int(v, arg(a, 0, "default")); };
    f["float"] = [](const Env&, const Value& v, CallArgs& a) { return to_float(v, arg(a, 0, "default")); };
    f["abs"] = [](const Env&, const Value& v, CallArgs&) -> Value {
      if (v.is_float()) return Value(std::fabs(v.as_double()));
      if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      IGNIS_FAIL("TypeError: bad operand type for abs(): '{}'", v.type_name());
    };
    f["round"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* p = arg(a, 0, "precision");
      const Value* method = arg(a, 1, "method");
      int digits = p ? static_cast<int>(p->as_int()) : 0;
      std::string how = method ? to_str(*method) : "common";
      if (!v.is_number()) IGNIS_FAIL("TypeError: round filter needs a number, got {}", v.type_name());
      double x = v.as_double();
      if (how == "common") return v.is_float() ? Value(std::strtod(round_str(x, std::clamp(digits, -300, 300)).c_str(), nullptr)) : Value(v.as_int());
      double scale = std::pow(10.0, digits);
      if (how == "floor") return Value(std::floor(x * scale) / scale);
      if (how == "ceil") return Value(std::ceil(x * scale) / scale);
      IGNIS_FAIL("TypeError: method must be common, ceil or floor");
    };
    f["items"] = [](const Env&, const Value& v, CallArgs&) -> Value {
      if (v.is_undefined()) return Value::list();
      if (!v.is_dict()) IGNIS_FAIL("TypeError: Can only get item pairs from a mapping.");
      std::vector<Value> out;
      for (auto& [k, x] : v.as_dict().items) out.push_back(Value::list({Value(k), x}, true));
      return Value::list(std::move(out));
    };
    f["dictsort"] = [](const Env&, const Value& v, CallArgs& a) {
      if (!v.is_dict()) IGNIS_FAIL("TypeError: dictsort needs a mapping");
      bool cs = arg_bool(a, 0, "case_sensitive", false);
      const Value* by = arg(a, 1, "by");
      bool reverse = arg_bool(a, 2, "reverse", false);
      size_t pos = by && to_str(*by) == "value" ? 1 : 0;
      std::vector<Value> out;
      for (auto& [k, x] : v.as_dict().items) out.push_back(Value::list({Value(k), x}, true));
      std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
        Value kx = fold(x.as_list().items[pos], cs), ky = fold(y.as_list().items[pos], cs);
        return reverse ? values_less(ky, kx) : values_less(kx, ky);
      });
      return Value::list(std::move(out));
    };
    f["sort"] = [](const Env&, const Value& v, CallArgs& a) {
      return Value::list(sorted(as_seq(v), arg_bool(a, 0, "reverse", false), arg_bool(a, 1, "case_sensitive", false), arg(a, 2, "attribute")));
    };
    f["unique"] = [](const Env&, const Value& v, CallArgs& a) {
      bool cs = arg_bool(a, 0, "case_sensitive", false);
      const Value* attr = arg(a, 1, "attribute");
      std::vector<Value> out, seen;
      for (auto& item : as_seq(v)) {
        Value key = fold(attr && !attr->is_none() ? get_path(item, to_str(*attr)) : item, cs);
        bool dup = false;
        for (auto& s : seen) dup = dup || values_equal(s, key);
        if (!dup) {
          seen.push_back(key);
          out.push_back(item);
        }
      }
      return Value::list(std::move(out));
    };
    f["sum"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* attr = arg(a, 0, "attribute");
      const Value* start = arg(a, 1, "start");
      Value total = start ? *start : Value(int64_t{0});
      for (auto& item : as_seq(v)) total = binary_op("+", total, attr && !attr->is_none() ? get_path(item, to_str(*attr)) : item);
      return total;
    };
    auto minmax = [](bool want_max) {
      return [want_max](const Env&, const Value& v, CallArgs& a) -> Value {
        auto s = sorted(as_seq(v), false, arg_bool(a, 0, "case_sensitive", false), arg(a, 1, "attribute"));
        if (s.empty()) return Value::undefined(fmt::format("UndefinedError: No aggregated item, sequence was empty."));
        return want_max ? s.back() : s.front();
      };
    };
    f["max"] = minmax(true);
    f["min"] = minmax(false);
    f["map"] = [](const Env& env, const Value& v, CallArgs& a) {
      std::vector<Value> out;
      if (!v.truthy()) return Value::list();  // Jinja: `if value:` guards the loop
      const Value* attr = a.get(SIZE_MAX, "attribute");
      if (attr) {
        const Value* dflt = a.get(SIZE_MAX, "default");
        for (auto& item : as_seq(v)) {
          Value x = get_path(item, to_str(*attr));
          out.push_back(x.is_undefined() && dflt ? *dflt : x);
        }
        return Value::list(std::move(out));
      }
      if (a.pos.empty()) IGNIS_FAIL("TypeError: map requires a filter argument");
      std::string name = to_str(a.pos[0]);
      if (!has_filter(name)) IGNIS_FAIL("TemplateRuntimeError: No filter named '{}'.", name);
      CallArgs fargs;
      fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
      fargs.kw = a.kw;
      for (auto& item : as_seq(v)) out.push_back(env.apply_filter(name, item, fargs));
      return Value::list(std::move(out));
    };
    f["select"] = [](const Env& env, const Value& v, CallArgs& a) { return select_impl(env, v, a, false, true); };
    f["reject"] = [](const Env& env, const Value& v, CallArgs& a) { return select_impl(env, v, a, false, false); };
    f["selectattr"] = [](const Env& env, const Value& v, CallArgs& a) { return select_impl(env, v, a, true, true); };
    f["rejectattr"] = [](const Env& env, const Value& v, CallArgs& a) { return select_impl(env, v, a, true, false); };
    f["tojson"] = [](const Env&, const Value& v, CallArgs& a) {
      JsonStyle st;
      const Value* indent = arg(a, 1, "indent");
      st.ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
      if (indent && !indent->is_none()) {
        if (indent->is_string()) st.indent_str = indent->as_string();
        else st.indent = static_cast<int>(indent->as_int());
        st.item_sep = ",";
      }
      if (const Value* sep = arg(a, 2, "separators"); sep && !sep->is_none()) {
        auto parts = as_seq(*sep);
        if (parts.size() != 2) IGNIS_FAIL("ValueError: separators must be a pair");
        st.item_sep = to_str(parts[0]);
        st.key_sep = to_str(parts[1]);
      }
      st.sort_keys = arg_bool(a, 3, "sort_keys", false);
      return Value(to_json(v, st));
    };
    f["indent"] = [](const Env&, const Value& v, CallArgs& a) {
      return Value(do_indent(to_str(v), arg(a, 0, "width"), arg_bool(a, 1, "first", false), arg_bool(a, 2, "blank", false)));
    };
    f["center"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* w = arg(a, 0, "width");
      std::string s = to_str(v);
      int64_t width = w ? w->as_int() : 80;
      int64_t len = static_cast<int64_t>(utf8_length(s));
      if (len >= width) return Value(s);
      int64_t total = width - len;
      int64_t left = total / 2 + (total & width & 1);  // CPython's str.center split
      return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
    };
    f["wordcount"] = [](const Env&, const Value& v, CallArgs&) {
      int64_t n = 0;
      bool in = false;
      for (unsigned char c : to_str(v)) {
        bool w = std::isalnum(c) || c == '_' || c >= 0x80;
        if (w && !in) ++n;
        in = w;
      }
      return Value(n);
    };
    f["batch"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* n = arg(a, 0, "linecount");
      const Value* fill = arg(a, 1, "fill_with");
      if (!n || n->as_int() <= 0) IGNIS_FAIL("batch needs a positive size");
      std::vector<Value> out, cur;
      for (auto& item : as_seq(v)) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == n->as_int()) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (fill && !fill->is_none())
          while (static_cast<int64_t>(cur.size()) < n->as_int()) cur.push_back(*fill);
        out.push_back(Value::list(std::move(cur)));
      }
      return Value::list(std::move(out));
    };
    f["truncate"] = [](const Env&, const Value& v, CallArgs& a) {
      std::u32string s = utf8_decode(to_str(v));
      const Value* len_v = arg(a, 0, "length");
      int64_t length = len_v ? len_v->as_int() : 255;
      bool killwords = arg_bool(a, 1, "killwords", false);
      const Value* end_v = arg(a, 2, "end");
      std::u32string end = utf8_decode(end_v ? to_str(*end_v) : "...");
      const Value* lee = arg(a, 3, "leeway");
      int64_t leeway = lee && !lee->is_none() ? lee->as_int() : 5;
      if (static_cast<int64_t>(s.size()) <= length + leeway) return Value(utf8_encode(s));
      size_t keep = static_cast<size_t>(std::max<int64_t>(0, length - static_cast<int64_t>(end.size())));
      std::u32string r = s.substr(0, keep);
      if (!killwords) {
        size_t sp = r.rfind(U' ');
        if (sp != std::u32string::npos) r = r.substr(0, sp);
      }
      return Value(utf8_encode(r + end));
    };
    f["format"] = [](const Env&, const Value& v, CallArgs& a) {
      if (!a.kw.empty()) IGNIS_FAIL("format filter: keyword arguments are not supported");
      return Value(py_percent(to_str(v), Value::list(a.pos, true)));
    };
    f["attr"] = [](const Env&, const Value& v, CallArgs& a) {
      const Value* n = arg(a, 0, "name");
      if (!n) IGNIS_FAIL("attr filter needs a name");
      return get_attr(v, to_str(*n));
    };
    return f;
  }();
  return m;
}

bool is_int_like(const Value& v) { return v.is_int(); }

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> m = [] {
    std::map<std::string, TestFn> t;
    auto need = [](const CallArgs& a, const char* what) -> const Value& {
      if (a.pos.empty() && a.kw.empty()) IGNIS_FAIL("TypeError: test '{}' needs an argument", what);
      return a.pos.empty() ? a.kw[0].second : a.pos[0];
    };
    t["defined"] = [](const Env&, const Value& v, CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](const Env&, const Value& v, CallArgs&) { return v.is_undefined(); };
    t["none"] = [](const Env&, const Value& v, CallArgs&) { return v.is_none(); };
    t["string"] = [](const Env&, const Value& v, CallArgs&) { return v.is_string(); };
    t["mapping"] = [](const Env&, const Value& v, CallArgs&) { return v.is_dict(); };
    t["iterable"] = [](const Env&, const Value& v, CallArgs&) { return v.is_list() || v.is_dict() || v.is_string(); };
    t["sequence"] = [](const Env&, const Value& v, CallArgs&) { return v.is_list() || v.is_dict() || v.is_string(); };
    t["number"] = [](const Env&, const Value& v, CallArgs&) { return v.is_number(); };
    t["integer"] = [](const Env&, const Value& v, CallArgs&) { return v.is_int(); };
    t["float"] = [](const Env&, const Value& v, CallArgs&) { return v.is_float(); };
    t["boolean"] = [](const Env&, const Value& v, CallArgs&) { return v.is_bool(); };
    t["true"] = [](const Env&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](const Env&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); };
    t["callable"] = [](const Env&, const Value& v, CallArgs&) { return v.is_function(); };
    t["lower"] = [](const Env&, const Value& v, CallArgs&) { std::string s = to_str(v); return s == ascii_case(s, false); };
    t["upper"] = [](const Env&, const Value& v, CallArgs&) { std::string s = to_str(v); return s == ascii_case(s, true); };
    t["odd"] = [](const Env&, const Value& v, CallArgs&) {
      if (!is_int_like(v)) IGNIS_FAIL("TypeError: odd test needs an integer");
      return (v.as_int() % 2) != 0;
    };
    t["even"] = [](const Env&, const Value& v, CallArgs&) {
      if (!is_int_like(v)) IGNIS_FAIL("TypeError: even test needs an integer");
      return (v.as_int() % 2) == 0;
    };
    t["divisibleby"] = [need](const Env&, const Value& v, CallArgs& a) {
      const Value& n = need(a, "divisibleby");
      if (!v.is_number() || !n.is_number() || n.as_double() == 0) IGNIS_FAIL("TypeError: divisibleby needs nonzero numbers");
      return std::fmod(v.as_double(), n.as_double()) == 0;
    };
    t["eq"] = t["equalto"] = t["=="] = [need](const Env&, const Value& v, CallArgs& a) { return values_equal(v, need(a, "eq")); };
    t["ne"] = t["!="] = [need](const Env&, const Value& v, CallArgs& a) { return !values_equal(v, need(a, "ne")); };
    t["lt"] = t["lessthan"] = t["<"] = [need](const Env&, const Value& v, CallArgs& a) { return values_less(v, need(a, "lt")); };
    t["gt"] = t["greaterthan"] = t[">"] = [need](const Env&, const Value& v, CallArgs& a) { return values_less(need(a, "gt"), v); };
    t["le"] = t["<="] = [need](const Env&, const Value& v, CallArgs& a) { return !values_less(need(a, "le"), v); };
    t["ge"] = t[">="] = [need](const Env&, const Value& v, CallArgs& a) { return !values_less(v, need(a, "ge")); };
    t["in"] = [need](const Env&, const Value& v, CallArgs& a) { return contains(need(a, "in"), v); };
    t["sameas"] = [need](const Env&, const Value& v, CallArgs& a) {
      const Value& o = need(a, "sameas");
      if (v.is_none() || v.is_bool() || o.is_none() || o.is_bool()) return v.data().index() == o.data().index() && values_equal(v, o);
      if (v.is_list() || v.is_dict()) return v.data().index() == o.data().index() && (v.is_list() ? &v.as_list() == &o.as_list() : &v.as_dict() == &o.as_dict());
      return false;
    };
    return t;
  }();
  return m;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) != 0; }
bool has_test(const std::string& name) { return tests().count(name) != 0; }

Value call_filter(const Env& env, const std::string& name, const Value& v, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) IGNIS_FAIL("TemplateAssertionError: No filter named '{}'.", name);
  return it->second(env, v, args);
}

bool call_test(const Env& env, const std::string& name, const Value& v, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) IGNIS_FAIL("TemplateAssertionError: No test named '{}'.", name);
  return it->second(env, v, args);
}

Value make_globals_dict(const std::tm& now) {
  Value g = Value::dict();
  Dict& d = g.as_dict();
  d.set("range", Value::function("range", [](CallArgs& a) {
    if (a.pos.empty() || a.pos.size() > 3) IGNIS_FAIL("TypeError: range expected 1 to 3 arguments");
    for (auto& p : a.pos)
      if (!p.is_int() && !p.is_bool()) IGNIS_FAIL("TypeError: range() integer argument expected, got {}", p.type_name());
    int64_t start = a.pos.size() > 1 ? a.pos[0].as_int() : 0;
    int64_t stop = a.pos.size() > 1 ? a.pos[1].as_int() : a.pos[0].as_int();
    int64_t step = a.pos.size() > 2 ? a.pos[2].as_int() : 1;
    if (step == 0) IGNIS_FAIL("ValueError: range() arg 3 must not be zero");
    std::vector<Value> out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100000) IGNIS_FAIL("OverflowError: range too big, maximum size for range is 100000");
      out.emplace_back(i);
    }
    return Value::list(std::move(out));
  }));
  d.set("dict", Value::function("dict", [](CallArgs& a) {
    Value out = Value::dict();
    if (!a.pos.empty() && a.pos[0].is_dict())
      for (auto& [k, v] : a.pos[0].as_dict().items) out.as_dict().set(k, v);
    for (auto& [k, v] : a.kw) out.as_dict().set(k, v);
    return out;
  }));
  d.set("namespace", Value::function("namespace", [](CallArgs& a) {
    auto ns = std::make_shared<Namespace>();
    if (!a.pos.empty() && a.pos[0].is_dict())
      for (auto& [k, v] : a.pos[0].as_dict().items) ns->attrs.set(k, v);
    for (auto& [k, v] : a.kw) ns->attrs.set(k, v);
    return Value(ns);
  }));
  d.set("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
    throw RaiseRequest{a.pos.empty() ? std::string() : to_str(a.pos[0])};
  }));
  d.set("strftime_now", Value::function("strftime_now", [now](CallArgs& a) -> Value {
    if (a.pos.empty()) IGNIS_FAIL("TypeError: strftime_now() missing the format argument");
    std::tm tm = now;
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, to_str(a.pos[0]).c_str(), &tm);
    return Value(std::string(buf, n));
  }));
  return g;
}

}  // namespace ignis::tmpl
