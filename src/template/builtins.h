// ignis template: the built-in filters, tests, globals and Python methods of values.
#pragma once
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "template/value.h"

namespace ignis::tmpl {

// Callback the filters use to apply a test or filter by name (map('lower'), select('odd')).
struct Env {
  std::function<Value(const std::string& filter, const Value& v, CallArgs& args)> apply_filter;
  std::function<bool(const std::string& test, const Value& v, CallArgs& args)> apply_test;
};

// Filter `name` on v; throws "No filter named 'x'" when unknown.
Value call_filter(const Env& env, const std::string& name, const Value& v, CallArgs& args);
bool has_filter(const std::string& name);
// Test `name` on v; throws "No test named 'x'" when unknown.
bool call_test(const Env& env, const std::string& name, const Value& v, CallArgs& args);
bool has_test(const std::string& name);

// Jinja's attribute / item lookup (sandboxed): dict keys, Python methods of str/dict/list,
// namespace attributes. Missing → Undefined with Jinja's hint.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);

// Globals: range, dict, namespace, raise_exception, strftime_now (fixed time given), lipsum-less.
Value make_globals_dict(const std::tm& now);

// Python operators used by the evaluator.
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// Python str.format with {} / {0} / {name} fields (format specs: none).
std::string py_format(const std::string& fmt_str, const CallArgs& args);
// Python str methods shared by filters and methods (case mapping: ASCII, Latin-1/Extended-A, Greek, Cyrillic).
std::string py_strip(const std::string& s, const Value* chars, bool left, bool right);
std::string ascii_case(std::string s, bool upper);
std::string py_title(const std::string& s);
std::string jinja_title(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string py_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count);
std::vector<Value> py_split(const std::string& s, const Value* sep, int64_t maxsplit);

// Python "%" string formatting for %s, %d, %r, %%.
std::string py_percent(const std::string& fmt_str, const Value& args);

}  // namespace ignis::tmpl
