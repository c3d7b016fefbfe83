// JSON (any object) and JSON schema -> rules. Every output is compact JSON with bounded
// whitespace runs (json-ws) so that a model cannot loop on whitespace, and ends right after the
// top-level value. Object properties come in schema order; keys outside `properties` (when
// additionalProperties allows them) come after them and differ from every named key.
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/utf8.h"
#include "structured/frontends.h"
#include "structured/json_number.h"

namespace ignis::structured {

namespace {

using Json = nlohmann::ordered_json;

CharSet hex_digits() {
  CharSet s = CharSet::of('0', '9');
  s.add('a', 'f');
  s.add('A', 'F');
  return s;
}

// Code points a JSON string may hold unescaped.
CharSet plain_chars() {
  CharSet s = CharSet::of(0, 0x1F);
  s.add('"', '"');
  s.add('\\', '\\');
  return s.negated();
}

void add_base_rules(RuleSet& rs) {
  ExprP ws = e_ref("json-ws"), hex = e_chars(hex_digits());
  CharSet blank = CharSet::of(' ', ' ');
  blank.add('\t', '\t');
  rs.add("json-ws", e_opt(e_alt({e_chars(blank), e_seq({e_lit("\n"), e_rep(e_chars(blank), 0, 20)})})));
  rs.add("json-value", e_alt({e_ref("json-object"), e_ref("json-array"), e_ref("json-string"), e_ref("json-number"),
                              e_lit("true"), e_lit("false"), e_lit("null")}));
  rs.add("json-member", e_seq({e_ref("json-string"), ws, e_lit(":"), ws, e_ref("json-value")}));
  rs.add("json-object", e_seq({e_lit("{"), ws,
                               e_opt(e_seq({e_ref("json-member"), e_star(e_seq({ws, e_lit(","), ws, e_ref("json-member")})), ws})),
                               e_lit("}")}));
  rs.add("json-array", e_seq({e_lit("["), ws,
                              e_opt(e_seq({e_ref("json-value"), e_star(e_seq({ws, e_lit(","), ws, e_ref("json-value")})), ws})),
                              e_lit("]")}));
  // \u escapes: any non-surrogate, or a high surrogate followed by a low one (what parsers accept).
  CharSet not_d = hex_digits().minus([] {
    CharSet s = CharSet::of('d', 'd');
    s.add('D', 'D');
    return s;
  }());
  CharSet d = CharSet::of('d', 'd');
  d.add('D', 'D');
  CharSet hi_s = CharSet::of('8', '9');
  hi_s.add('a', 'b');
  hi_s.add('A', 'B');
  CharSet lo_s = CharSet::of('c', 'f');
  lo_s.add('C', 'F');
  rs.add("json-u4", e_alt({e_seq({e_chars(not_d), hex, hex, hex}), e_seq({e_chars(d), e_chars(CharSet::of('0', '7')), hex, hex}),
                           e_seq({e_chars(d), e_chars(hi_s), hex, hex, e_lit("\\u"), e_chars(d), e_chars(lo_s), hex, hex})}));
  CharSet simple;
  for (char c : std::string("\"\\/bfnrt")) simple.add(static_cast<uint8_t>(c), static_cast<uint8_t>(c));
  rs.add("json-char", e_alt({e_chars(plain_chars()), e_seq({e_lit("\\"), e_alt({e_chars(simple), e_seq({e_lit("u"), e_ref("json-u4")})})})}));
  rs.add("json-string", e_seq({e_lit("\""), e_star(e_ref("json-char")), e_lit("\"")}));
  ExprP digits = e_chars(CharSet::of('0', '9'));
  // At most 18 integer digits and 2 exponent digits: every output is a finite double (parsers
  // reject or turn into infinity what overflows).
  rs.add("json-number",
         e_seq({e_opt(e_lit("-")), e_alt({e_lit("0"), e_seq({e_chars(CharSet::of('1', '9')), e_rep(digits, 0, 17)})}),
                e_opt(e_seq({e_lit("."), e_plus(digits)})),
                e_opt(e_seq({e_chars([] {
                               CharSet s = CharSet::of('e', 'e');
                               s.add('E', 'E');
                               return s;
                             }()),
                             e_opt(e_chars([] {
                               CharSet s = CharSet::of('+', '+');
                               s.add('-', '-');
                               return s;
                             }())),
                             e_rep(digits, 1, 2)}))}));
}

// The JSON escape of one special code point (control, quote, backslash).
std::string json_escape(uint32_t c) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\t': return "\\t";
    case '\r': return "\\r";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: return fmt::format("\\u{:04x}", c);
  }
}

// A code point expression (regex) as the JSON string content that encodes it.
ExprP json_encoded(const ExprP& e) {
  switch (e->k) {
    case Expr::K::Chars: {
      CharSet special = plain_chars().negated();
      std::vector<ExprP> alts{e_chars(e->set.minus(special))};
      for (auto [lo, hi] : e->set.ranges)
        for (uint32_t c = lo; c <= hi && c <= 0x5C; ++c)
          if (special.contains(c)) alts.push_back(e_lit(json_escape(c)));
      return e_alt(std::move(alts));
    }
    case Expr::K::Bytes: {
      std::string out;
      for (unsigned char c : e->text) out += (c < 0x20 || c == '"' || c == '\\') ? json_escape(c) : std::string(1, static_cast<char>(c));
      return e_lit(out);
    }
    case Expr::K::Seq:
    case Expr::K::Alt:
    case Expr::K::Repeat: {
      auto x = std::make_shared<Expr>(*e);
      for (auto& k : x->kids) k = json_encoded(k);
      return x;
    }
    default: return e;
  }
}

const std::set<std::string>& ignored_keywords() {
  static const std::set<std::string> s{"description", "title", "default", "examples", "$schema", "$id", "$comment"};
  return s;
}
const std::set<std::string>& known_keywords() {
  static const std::set<std::string> s{
      "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
      "minLength", "maxLength", "pattern", "format", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
      "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions"};
  return s;
}

const char* format_regex(const std::string& f) {
  static const std::map<std::string, const char*> m{
      {"date", R"([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))"},
      {"time", R"(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))"},
      {"date-time",
       R"([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))"},
      {"uuid", R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"},
      {"email", R"([a-zA-Z0-9._%+-]{1,64}@([a-zA-Z0-9-]{1,63}\.){1,8}[a-zA-Z]{2,24})"},
      {"ipv4", R"(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))"},
  };
  auto it = m.find(f);
  return it == m.end() ? nullptr : it->second;
}

class SchemaCompiler {
 public:
  SchemaCompiler(const Json& root, bool strict) : root_(root), strict_(strict) {}

  RuleSet run() {
    add_base_rules(rs_);
    ExprP top = schema(root_, "#");
    rs_.add("root", top);
    return std::move(rs_);
  }

 private:
  ExprP ws() { return e_ref("json-ws"); }

  ExprP schema(const Json& s, const std::string& at) {
    if (s.is_boolean()) return s.get<bool>() ? e_ref("json-value") : e_never();
    IGNIS_CHECK(s.is_object(), "json_schema: a schema must be an object or a boolean (at {})", at);
    for (auto& [k, v] : s.items())
      IGNIS_CHECK(known_keywords().count(k) || ignored_keywords().count(k), "json_schema: unsupported keyword '{}'", k);
    auto siblings = [&](std::initializer_list<const char*> except) {
      std::vector<std::string> out;
      for (auto& [k, v] : s.items()) {
        if (ignored_keywords().count(k) || k == "$defs" || k == "definitions") continue;
        bool skip = false;
        for (const char* e : except) skip = skip || k == e;
        if (!skip) out.push_back(k);
      }
      return out;
    };
    if (s.contains("$ref")) {
      auto sib = siblings({"$ref"});
      IGNIS_CHECK(sib.empty(), "json_schema: '{}' beside $ref is not supported (at {})", sib.empty() ? "" : sib[0], at);
      return ref(s["$ref"], at);
    }
    if (s.contains("allOf")) {
      const Json& all = s["allOf"];
      IGNIS_CHECK(all.is_array() && all.size() == 1, "json_schema: allOf is supported with a single schema only (at {})", at);
      Json merged = s;
      merged.erase("allOf");
      return schema(merge(merged, all[0], "allOf", at), at + "/allOf/0");
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      const Json& branches = s[kw];
      IGNIS_CHECK(branches.is_array() && !branches.empty(), "json_schema: {} must be a non-empty array (at {})", kw, at);
      Json rest = s;
      rest.erase(kw);
      if (std::string(kw) == "anyOf") rest.erase("oneOf");
      std::vector<ExprP> alts;
      for (size_t i = 0; i < branches.size(); ++i)
        alts.push_back(schema(merge(rest, branches[i], kw, at), fmt::format("{}/{}/{}", at, kw, i)));
      return e_alt(std::move(alts));
    }
    if (s.contains("const")) return e_lit(s["const"].dump());
    if (s.contains("enum")) {
      const Json& en = s["enum"];
      IGNIS_CHECK(en.is_array() && !en.empty(), "json_schema: enum must be a non-empty array (at {})", at);
      std::vector<std::string> lits;
      for (auto& v : en) lits.push_back(v.dump());
      return e_literals(lits);
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) types.push_back(t.get<std::string>());
      else if (t.is_array())
        for (auto& x : t) {
          IGNIS_CHECK(x.is_string(), "json_schema: type must be a string or a list of strings (at {})", at);
          types.push_back(x.get<std::string>());
        }
      else IGNIS_FAIL("json_schema: type must be a string or a list of strings (at {})", at);
    } else {
      auto has = [&](std::initializer_list<const char*> ks) {
        for (const char* k : ks)
          if (s.contains(k)) return true;
        return false;
      };
      if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
      if (has({"items", "prefixItems", "minItems", "maxItems"})) types.push_back("array");
      if (has({"minLength", "maxLength", "pattern", "format"})) types.push_back("string");
      if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) types.push_back("number");
      if (types.empty()) return e_ref("json-value");
    }
    std::vector<ExprP> alts;
    for (auto& t : types) alts.push_back(typed(t, s, at));
    return e_alt(std::move(alts));
  }

  // `base` (the keywords beside anyOf / allOf) merged into `branch`.
  Json merge(const Json& base, const Json& branch, const char* kw, const std::string& at) {
    if (branch.is_boolean()) {
      if (!branch.get<bool>()) return branch;
      return base;
    }
    IGNIS_CHECK(branch.is_object(), "json_schema: {} entries must be schemas (at {})", kw, at);
    Json out = branch;
    for (auto& [k, v] : base.items()) {
      if (ignored_keywords().count(k)) continue;
      if (k == "$defs" || k == "definitions") continue;
      IGNIS_CHECK(!out.contains(k), "json_schema: '{}' both beside {} and inside it is not supported (at {})", k, kw, at);
      out[k] = v;
    }
    return out;
  }

  ExprP ref(const Json& r, const std::string& at) {
    IGNIS_CHECK(r.is_string(), "json_schema: $ref must be a string (at {})", at);
    std::string p = r.get<std::string>();
    IGNIS_CHECK(p == "#" || p.rfind("#/", 0) == 0, "json_schema: $ref '{}' is not supported (only local '#/...' references)", p);
    auto it = refs_.find(p);
    if (it != refs_.end()) return e_ref(it->second);
    const Json* target = &root_;
    if (p != "#") {
      try {
        target = &root_.at(Json::json_pointer(p.substr(1)));
      } catch (const std::exception&) {
        IGNIS_FAIL("json_schema: $ref '{}' does not resolve", p);
      }
    }
    std::string name = fmt::format("ref{}", refs_.size());
    refs_[p] = name;  // before compiling: recursive references resolve to the rule
    rs_.add(name, schema(*target, p));
    return e_ref(name);
  }

  ExprP typed(const std::string& t, const Json& s, const std::string& at) {
    if (t == "object") return object(s, at);
    if (t == "array") return array(s, at);
    if (t == "string") return string(s, at);
    if (t == "integer") return integer(s, at);
    if (t == "number") return number(s, at);
    if (t == "boolean") return e_alt({e_lit("true"), e_lit("false")});
    if (t == "null") return e_lit("null");
    IGNIS_FAIL("json_schema: unknown type '{}' (at {})", t, at);
  }

  static std::optional<int64_t> count(const Json& s, const char* k, const std::string& at) {
    if (!s.contains(k)) return std::nullopt;
    const Json& v = s[k];
    IGNIS_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
                "json_schema: {} must be a non-negative integer (at {})", k, at);
    int64_t n = v.get<int64_t>();
    IGNIS_CHECK(n <= 10000, "json_schema: {} = {} is too large (at most 10000) (at {})", k, n, at);
    return n;
  }

  ExprP object(const Json& s, const std::string& at) {
    struct Prop {
      std::string key;
      ExprP value;
      bool required;
    };
    std::vector<Prop> props;
    std::set<std::string> required;
    if (s.contains("required")) {
      IGNIS_CHECK(s["required"].is_array(), "json_schema: required must be an array (at {})", at);
      for (auto& r : s["required"]) {
        IGNIS_CHECK(r.is_string(), "json_schema: required must hold strings (at {})", at);
        required.insert(r.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      IGNIS_CHECK(s["properties"].is_object(), "json_schema: properties must be an object (at {})", at);
      for (auto& [k, v] : s["properties"].items())
        props.push_back({k, schema(v, at + "/properties/" + k), required.count(k) > 0});
    }
    ExprP extra_value;  // null: no properties beyond the named ones
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) extra_value = schema(a, at + "/additionalProperties");
    } else if (!strict_) {
      extra_value = e_ref("json-value");
    }
    std::set<std::string> named;
    for (auto& p : props) named.insert(p.key);
    for (auto& r : required) {
      if (named.count(r)) continue;
      IGNIS_CHECK(extra_value, "json_schema: required property '{}' is not in properties and additionalProperties is false (at {})", r, at);
      props.push_back({r, extra_value, true});
      named.insert(r);
    }
    ExprP extra;
    if (extra_value) extra = e_seq({e_lit("\""), key_not_in(named), e_lit("\""), ws(), e_lit(":"), ws(), extra_value});
    size_t id = objects_++;
    auto sname = [&](size_t i) { return fmt::format("obj{}-s{}", id, i); };
    auto rname = [&](size_t i) { return fmt::format("obj{}-r{}", id, i); };
    size_t n = props.size();
    // s_i: properties i.. with none emitted yet; r_i: properties i.. after one was emitted.
    rs_.add(rname(n), extra ? e_star(e_seq({ws(), e_lit(","), ws(), extra})) : e_empty());
    rs_.add(sname(n), extra ? e_opt(e_seq({extra, e_ref(rname(n))})) : e_empty());
    for (size_t i = n; i-- > 0;) {
      const Prop& p = props[i];
      ExprP kv = e_seq({e_lit(Json(p.key).dump()), ws(), e_lit(":"), ws(), p.value});
      ExprP comma_kv = e_seq({ws(), e_lit(","), ws(), kv});
      rs_.add(rname(i), e_seq({p.required ? comma_kv : e_opt(comma_kv), e_ref(rname(i + 1))}));
      ExprP first = e_seq({kv, e_ref(rname(i + 1))});
      rs_.add(sname(i), p.required ? first : e_alt({first, e_ref(sname(i + 1))}));
    }
    return e_seq({e_lit("{"), ws(), e_ref(sname(0)), ws(), e_lit("}")});
  }

  // String content (unescaped characters only) that differs from every key in `keys`.
  ExprP key_not_in(const std::set<std::string>& keys) {
    ExprP any = e_star(e_chars(plain_chars()));
    if (keys.empty()) return any;
    // Trie over code points of the plain keys (keys needing escapes never collide with these).
    struct TNode {
      bool final = false;
      std::map<uint32_t, size_t> kids;
    };
    std::vector<TNode> trie(1);
    for (auto& k : keys) {
      size_t n = 0;
      for (size_t i = 0; i < k.size();) {
        unsigned char c = static_cast<unsigned char>(k[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int j = 1; j < len && i + j < k.size(); ++j) cp = (cp << 6) | (static_cast<unsigned char>(k[i + j]) & 0x3F);
        i += len;
        auto it = trie[n].kids.find(cp);
        if (it == trie[n].kids.end()) {
          trie.push_back({});
          it = trie[n].kids.emplace(cp, trie.size() - 1).first;
        }
        n = it->second;
      }
      trie[n].final = true;
    }
    std::function<ExprP(size_t)> build = [&](size_t n) -> ExprP {
      std::vector<ExprP> alts;
      if (!trie[n].final) alts.push_back(e_empty());
      CharSet kids;
      for (auto& [cp, child] : trie[n].kids) {
        kids.add(cp, cp);
        std::string u;
        append_cp(u, cp);
        alts.push_back(e_seq({e_lit(u), build(child)}));
      }
      alts.push_back(e_seq({e_chars(plain_chars().minus(kids)), any}));
      return e_alt(std::move(alts));
    };
    return build(0);
  }
  static void append_cp(std::string& out, uint32_t cp);

  ExprP array(const Json& s, const std::string& at) {
    std::vector<ExprP> prefix;
    // Draft-4 tuples ("items": [..]) are prefixItems followed by any items.
    const bool tuple_items = s.contains("items") && s["items"].is_array();
    const char* prefix_kw = tuple_items ? "items" : "prefixItems";
    IGNIS_CHECK(!(tuple_items && s.contains("prefixItems")), "json_schema: items as a list together with prefixItems (at {})", at);
    if (s.contains(prefix_kw)) {
      IGNIS_CHECK(s[prefix_kw].is_array(), "json_schema: prefixItems must be an array (at {})", at);
      for (size_t i = 0; i < s[prefix_kw].size(); ++i)
        prefix.push_back(schema(s[prefix_kw][i], fmt::format("{}/{}/{}", at, prefix_kw, i)));
    }
    ExprP items = e_ref("json-value");
    bool items_false = false;
    if (s.contains("items") && !tuple_items) {
      const Json& it = s["items"];
      if (it.is_boolean() && !it.get<bool>()) items_false = true;
      else items = schema(it, at + "/items");
    }
    int64_t mn = count(s, "minItems", at).value_or(0);
    std::optional<int64_t> mx = count(s, "maxItems", at);
    int64_t k = static_cast<int64_t>(prefix.size());
    if (items_false) mx = mx ? std::min(*mx, k) : k;
    IGNIS_CHECK(!mx || mn <= *mx, "json_schema: minItems {} is more than the items allowed ({}) (at {})", mn, *mx, at);
    auto elem = [&](int64_t i) { return i < k ? prefix[i] : items; };
    ExprP sep = e_seq({ws(), e_lit(","), ws()});
    // tail(i): the items after the first i.
    std::function<ExprP(int64_t)> tail = [&](int64_t i) -> ExprP {
      if (mx && i >= *mx) return e_empty();
      if (i >= k && i >= mn) return e_rep(e_seq({sep, items}), 0, mx ? static_cast<int>(*mx - i) : -1);
      ExprP next = e_seq({sep, elem(i), tail(i + 1)});
      return i >= mn ? e_opt(next) : next;
    };
    if (mx && *mx == 0) return e_seq({e_lit("["), ws(), e_lit("]")});
    ExprP body = e_seq({elem(0), tail(1), ws()});
    return e_seq({e_lit("["), ws(), mn == 0 ? e_opt(body) : body, e_lit("]")});
  }

  ExprP string(const Json& s, const std::string& at) {
    auto mn = count(s, "minLength", at), mx = count(s, "maxLength", at);
    IGNIS_CHECK(!mn || !mx || *mn <= *mx, "json_schema: minLength > maxLength (at {})", at);
    bool has_len = mn || mx;
    if (s.contains("pattern") || s.contains("format")) {
      IGNIS_CHECK(!has_len, "json_schema: minLength / maxLength together with pattern or format are not supported (at {})", at);
      IGNIS_CHECK(!(s.contains("pattern") && s.contains("format")), "json_schema: pattern together with format is not supported (at {})", at);
      ExprP re;
      if (s.contains("pattern")) {
        IGNIS_CHECK(s["pattern"].is_string(), "json_schema: pattern must be a string (at {})", at);
        re = parse_regex(s["pattern"].get<std::string>(), "json_schema: pattern", /*search=*/true);
      } else {
        IGNIS_CHECK(s["format"].is_string(), "json_schema: format must be a string (at {})", at);
        std::string f = s["format"].get<std::string>();
        const char* rx = format_regex(f);
        IGNIS_CHECK(rx, "json_schema: unsupported format '{}'", f);
        re = parse_regex(rx, "json_schema: format");
      }
      return e_seq({e_lit("\""), json_encoded(re), e_lit("\"")});
    }
    return e_seq({e_lit("\""), e_rep(e_ref("json-char"), static_cast<int>(mn.value_or(0)), mx ? static_cast<int>(*mx) : -1),
                  e_lit("\"")});
  }

  // Bounds: minimum / maximum, exclusiveMinimum / exclusiveMaximum as numbers (draft 6+) or as
  // booleans that make minimum / maximum strict (draft 4).
  struct Bounds {
    std::optional<double> lo, hi;
    bool lo_strict = false, hi_strict = false;
  };
  static Bounds bounds(const Json& s, const std::string& at) {
    Bounds b;
    auto num = [&](const char* k) {
      IGNIS_CHECK(s[k].is_number(), "json_schema: {} must be a number (at {})", k, at);
      return s[k].get<double>();
    };
    if (s.contains("minimum")) b.lo = num("minimum");
    if (s.contains("maximum")) b.hi = num("maximum");
    for (const char* k : {"exclusiveMinimum", "exclusiveMaximum"}) {
      if (!s.contains(k)) continue;
      bool is_min = std::string(k) == "exclusiveMinimum";
      auto& bound = is_min ? b.lo : b.hi;
      bool& strict = is_min ? b.lo_strict : b.hi_strict;
      if (s[k].is_boolean()) {
        strict = s[k].get<bool>();
        continue;
      }
      double v = num(k);
      if (!bound || (is_min ? v >= *bound : v <= *bound)) bound = v, strict = true;
    }
    return b;
  }

  ExprP integer(const Json& s, const std::string& at) {
    Bounds b = bounds(s, at);
    std::optional<int64_t> lo, hi;
    if (b.lo) lo = static_cast<int64_t>(b.lo_strict ? std::floor(*b.lo) + 1 : std::ceil(*b.lo));
    if (b.hi) hi = static_cast<int64_t>(b.hi_strict ? std::ceil(*b.hi) - 1 : std::floor(*b.hi));
    IGNIS_CHECK(!lo || !hi || *lo <= *hi, "json_schema: no integer satisfies the bounds (at {})", at);
    return integer_range(lo, hi);
  }

  ExprP number(const Json& s, const std::string& at) {
    Bounds b = bounds(s, at);
    if (!b.lo && !b.hi) return e_ref("json-number");
    IGNIS_CHECK(!b.lo || !b.hi || *b.lo < *b.hi || (*b.lo == *b.hi && !b.lo_strict && !b.hi_strict),
                "json_schema: no number satisfies the bounds (at {})", at);
    IGNIS_CHECK(!b.lo || !b.hi || std::ceil(*b.lo) <= std::floor(*b.hi),
                "json_schema: number bounds without an integer between them are not supported (at {})", at);
    return number_range(b.lo, b.lo_strict, b.hi, b.hi_strict);
  }

  const Json& root_;
  bool strict_;
  RuleSet rs_;
  std::map<std::string, std::string> refs_;
  size_t objects_ = 0;
};

void SchemaCompiler::append_cp(std::string& out, uint32_t cp) { append_utf8(out, cp); }

}  // namespace

RuleSet json_object_rules() {
  RuleSet rs;
  add_base_rules(rs);
  rs.add("root", e_ref("json-object"));
  return rs;
}

RuleSet json_schema_rules(const Json& schema, bool strict) { return SchemaCompiler(schema, strict).run(); }

}  // namespace ignis::structured
