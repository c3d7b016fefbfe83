// ignis template: the syntax tree. One Node type; what its fields mean depends on kind
// (listed per kind below), which keeps the parser and evaluator small.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "template/value.h"

namespace ignis::tmpl {

enum class NodeKind {
  // ---- expressions
  kConst,      // value
  kName,       // name
  kList,       // kids: items
  kTuple,      // kids: items
  kDict,       // kids: key0, val0, key1, val1, ...
  kGetAttr,    // kids[0]: object; name: attribute
  kGetItem,    // kids[0]: object, kids[1]: key
  kSlice,      // kids[0]: object, kids[1..3]: start, stop, step (kNone when absent)
  kCall,       // kids[0]: callee, kids[1..]: args; names: kwarg names for the last names.size() args
  kFilter,     // kids[0]: value (null for {% filter %} blocks), kids[1..]: args; name; names: kwargs
  kTest,       // kids[0]: value, kids[1..]: args; name; flag: negated
  kUnary,      // name: "-", "+", "not"; kids[0]
  kBinary,     // name: operator (+ - * / // % ** ~ and or); kids[0], kids[1]
  kCompare,    // kids[0]: first; then ops in names with operands kids[1..]
  kCond,       // kids: cond, then, else (else may be null)
  kNone,       // placeholder for an absent slice part
  // ---- statements
  kBody,       // kids: statements
  kText,       // name: the text
  kOutput,     // kids[0]: expression
  kIf,         // kids: cond0, body0, cond1, body1, ..., [else body] (flag: has else)
  kFor,        // names: targets; kids: iter, filter-or-null, body, else-or-null
  kSet,        // names: targets (one name, or "ns.attr"); kids[0]: value
  kSetBlock,   // name: target; kids[0]: body; kids[1]: filter-or-null
  kMacro,      // name; names: params; kids[0]: body; kids[1..]: defaults (null when none), one per param
  kCallBlock,  // kids[0]: the call expression, kids[1]: body; names: caller params
  kFilterBlock,// kids[0]: filter chain (kFilter with null innermost value), kids[1]: body
  kBreak,
  kContinue,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  int line = 0;
  std::string name;
  Value value;
  std::vector<NodePtr> kids;
  std::vector<std::string> names;
  bool flag = false;

  Node(NodeKind k, int l) : kind(k), line(l) {}
};

}  // namespace ignis::tmpl
