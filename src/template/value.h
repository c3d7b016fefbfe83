// ignis template: the dynamic value type of the Jinja2-subset engine.
// Python semantics where chat templates observe them: lists, dicts and namespaces are
// shared by reference; dicts keep insertion order; ints and floats stay distinct;
// Undefined renders empty, is falsy, and raises its hint when used strictly.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ignis::tmpl {

class Value;

struct Undefined {
  std::string hint;  // error raised when used strictly ("UndefinedError: 'x' is undefined")
};
struct None {};

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // tuples repr as (a, b)
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order, unique keys
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value v);
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Argument `name` given by position `index` or keyword; nullptr when absent.
  const Value* get(size_t index, const std::string& name) const;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

struct Namespace {
  Dict attrs;
};

using ListPtr = std::shared_ptr<List>;
using DictPtr = std::shared_ptr<Dict>;
using FuncPtr = std::shared_ptr<Function>;
using NsPtr = std::shared_ptr<Namespace>;

class Value {
 public:
  using Data = std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr, DictPtr,
                            FuncPtr, NsPtr>;
  Value() : data_(Undefined{}) {}
  Value(Undefined u) : data_(std::move(u)) {}
  Value(None) : data_(None{}) {}
  Value(bool b) : data_(b) {}
  Value(int v) : data_(int64_t{v}) {}
  Value(int64_t v) : data_(v) {}
  Value(size_t v) : data_(static_cast<int64_t>(v)) {}
  Value(double v) : data_(v) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(ListPtr l) : data_(std::move(l)) {}
  Value(DictPtr d) : data_(std::move(d)) {}
  Value(FuncPtr f) : data_(std::move(f)) {}
  Value(NsPtr n) : data_(std::move(n)) {}

  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value list(std::vector<Value> items = {}, bool tuple = false);
  static Value dict();
  static Value function(std::string name, std::function<Value(CallArgs&)> fn);

  bool is_undefined() const { return std::holds_alternative<Undefined>(data_); }
  bool is_none() const { return std::holds_alternative<None>(data_); }
  bool is_bool() const { return std::holds_alternative<bool>(data_); }
  bool is_int() const { return std::holds_alternative<int64_t>(data_); }
  bool is_float() const { return std::holds_alternative<double>(data_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(data_); }
  bool is_list() const { return std::holds_alternative<ListPtr>(data_); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(data_); }
  bool is_function() const { return std::holds_alternative<FuncPtr>(data_); }
  bool is_namespace() const { return std::holds_alternative<NsPtr>(data_); }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;   // int or bool
  double as_double() const; // int, bool or float
  const std::string& as_string() const { return std::get<std::string>(data_); }
  List& as_list() const { return *std::get<ListPtr>(data_); }
  Dict& as_dict() const { return *std::get<DictPtr>(data_); }
  Function& as_function() const { return *std::get<FuncPtr>(data_); }
  Namespace& as_namespace() const { return *std::get<NsPtr>(data_); }
  const Undefined& as_undefined() const { return std::get<Undefined>(data_); }
  const Data& data() const { return data_; }

  // Python truthiness.
  bool truthy() const;
  // Python type name as Jinja's messages use it: "str", "dict", "list", "int", ...
  std::string type_name() const;
  // Throw the Undefined's hint if this is Undefined.
  void require_defined() const;

  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);

 private:
  Data data_;
};

// Python str(v) (what {{ v }} prints; Undefined prints empty) and repr(v).
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
// Python float repr ("1.0", "1e-07", "0.30000000000000004").
std::string float_repr(double d);
// json.dumps(v, ensure_ascii=False, indent, separators, sort_keys), as transformers' tojson.
struct JsonStyle {
  int indent = -1;  // <0: single line
  std::string indent_str;  // used when indent is given as a string
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;  // escape non-ASCII as \uXXXX (surrogate pairs above U+FFFF)
};
std::string to_json(const Value& v, const JsonStyle& style);

// Python ==, and < (throws for unorderable types).
bool values_equal(const Value& a, const Value& b);
bool values_less(const Value& a, const Value& b);

// Iterate like Python's iter(): list items, dict keys, string characters; Undefined is empty.
std::vector<Value> iterate(const Value& v);

// UTF-8 helpers: code points of a string and back.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
size_t utf8_length(const std::string& s);

}  // namespace ignis::tmpl
