// ignis template: parser. Precedence (loosest first), as in Jinja2's parser.py:
//   x if c else y  <  or  <  and  <  not  <  comparisons/in  <  + -  <  ~  <  * / // %
//   <  **  <  unary - +  <  primary with .attr [item] (call) | filter  is test
#include "template/parser.h"

#include <charconv>
#include <set>

#include "template/errors.h"

namespace ignis::tmpl {
namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  NodePtr document() {
    auto body = statements({});
    if (cur().kind != Tok::kEof) fail(fmt::format("unexpected '{}'", describe(cur())));
    return body;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  [[noreturn]] void fail(const std::string& what) const { throw TemplateError(cur().line, "TemplateSyntaxError: " + what); }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "end of statement block";
      case Tok::kVarEnd: return "end of print statement";
      case Tok::kBlockBegin: return "begin of statement block";
      case Tok::kVarBegin: return "begin of print statement";
      case Tok::kText: return "template text";
      default: return t.value;
    }
  }
  bool is_op(const char* op) const { return cur().kind == Tok::kOp && cur().value == op; }
  bool is_name(const char* n) const { return cur().kind == Tok::kName && cur().value == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(fmt::format("expected '{}', got '{}'", op, describe(cur())));
    next();
  }
  void expect_name(const char* n) {
    if (!is_name(n)) fail(fmt::format("expected '{}', got '{}'", n, describe(cur())));
    next();
  }
  std::string identifier() {
    if (cur().kind != Tok::kName) fail(fmt::format("expected a name, got '{}'", describe(cur())));
    std::string n = cur().value;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().kind != Tok::kBlockEnd) fail(fmt::format("expected end of statement block, got '{}'", describe(cur())));
    next();
  }
  NodePtr make(NodeKind k) const { return std::make_unique<Node>(k, cur().line); }

  // Parses statements until a {% <one of ends> %} tag; leaves cur() at that tag's name.
  NodePtr statements(const std::set<std::string>& ends) {
    auto body = make(NodeKind::kBody);
    while (true) {
      const Token& tk = cur();
      if (tk.kind == Tok::kEof) {
        if (!ends.empty()) {
          std::string want;
          for (auto& e : ends) want += (want.empty() ? "'" : " or '") + e + "'";
          fail("unexpected end of template, expected " + want);
        }
        return body;
      }
      if (tk.kind == Tok::kText) {
        auto n = make(NodeKind::kText);
        n->name = tk.value;
        body->kids.push_back(std::move(n));
        next();
      } else if (tk.kind == Tok::kVarBegin) {
        next();
        auto n = make(NodeKind::kOutput);
        n->kids.push_back(tuple_expr());
        if (cur().kind != Tok::kVarEnd) fail(fmt::format("expected end of print statement, got '{}'", describe(cur())));
        next();
        body->kids.push_back(std::move(n));
      } else if (tk.kind == Tok::kBlockBegin) {
        next();
        if (cur().kind == Tok::kName && ends.count(cur().value)) return body;
        body->kids.push_back(statement());
      } else {
        fail(fmt::format("unexpected '{}'", describe(tk)));
      }
    }
  }

  NodePtr statement() {
    DepthGuard guard(*this);
    if (cur().kind != Tok::kName) fail(fmt::format("expected a statement, got '{}'", describe(cur())));
    std::string kw = cur().value;
    if (kw == "if") return if_stmt();
    if (kw == "for") return for_stmt();
    if (kw == "set") return set_stmt();
    if (kw == "macro") return macro_stmt();
    if (kw == "call") return call_block();
    if (kw == "filter") return filter_block();
    if (kw == "break" || kw == "continue") {
      auto n = make(kw == "break" ? NodeKind::kBreak : NodeKind::kContinue);
      next();
      expect_block_end();
      return n;
    }
    if (kw == "generation") {  // transformers' AssistantTracker block: renders its body
      next();
      expect_block_end();
      auto body = statements({"endgeneration"});
      next();
      expect_block_end();
      return body;
    }
    fail(fmt::format("unknown or unsupported tag '{}'", kw));
  }

  NodePtr if_stmt() {
    auto n = make(NodeKind::kIf);
    next();
    while (true) {
      n->kids.push_back(tuple_expr());
      expect_block_end();
      n->kids.push_back(statements({"elif", "else", "endif"}));
      std::string tag = cur().value;
      next();
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end();
        n->kids.push_back(statements({"endif"}));
        n->flag = true;
        next();
      }
      expect_block_end();
      return n;
    }
  }

  NodePtr for_stmt() {
    auto n = make(NodeKind::kFor);
    next();
    do {
      n->names.push_back(identifier());
    } while (is_op(",") && (next(), true));
    expect_name("in");
    n->kids.push_back(tuple_expr(/*allow_cond=*/false));
    if (is_name("if")) {
      next();
      n->kids.push_back(expression());
    } else {
      n->kids.push_back(nullptr);
    }
    if (is_name("recursive")) fail("recursive loops are not supported");
    expect_block_end();
    n->kids.push_back(statements({"endfor", "else"}));
    if (is_name("else")) {
      next();
      expect_block_end();
      n->kids.push_back(statements({"endfor"}));
    } else {
      n->kids.push_back(nullptr);
    }
    next();
    expect_block_end();
    return n;
  }

  NodePtr set_stmt() {
    int line = cur().line;
    next();
    std::vector<std::string> targets;
    do {
      std::string t = identifier();
      if (is_op(".")) {
        next();
        t += "." + identifier();
      }
      targets.push_back(t);
    } while (is_op(",") && (next(), true));
    if (is_op("=")) {
      next();
      auto n = std::make_unique<Node>(NodeKind::kSet, line);
      n->names = targets;
      n->kids.push_back(tuple_expr());
      expect_block_end();
      return n;
    }
    if (targets.size() != 1) fail("block set takes one target");
    auto n = std::make_unique<Node>(NodeKind::kSetBlock, line);
    n->name = targets[0];
    NodePtr filt;
    if (is_op("|")) filt = filter_chain(nullptr);
    expect_block_end();
    n->kids.push_back(statements({"endset"}));
    n->kids.push_back(std::move(filt));
    next();
    expect_block_end();
    return n;
  }

  void params(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n.names.empty()) expect_op(",");
      if (is_op(")")) break;
      n.names.push_back(identifier());
      if (is_op("=")) {
        next();
        n.kids.push_back(expression());
      } else {
        n.kids.push_back(nullptr);
      }
    }
    next();
  }

  NodePtr macro_stmt() {
    auto n = make(NodeKind::kMacro);
    next();
    n->name = identifier();
    n->kids.push_back(nullptr);  // body slot
    params(*n);
    expect_block_end();
    n->kids[0] = statements({"endmacro"});
    next();
    if (cur().kind == Tok::kName) next();  // {% endmacro name %}
    expect_block_end();
    return n;
  }

  NodePtr call_block() {
    auto n = make(NodeKind::kCallBlock);
    next();
    Node caller_params(NodeKind::kMacro, n->line);
    if (is_op("(")) params(caller_params);
    n->names = caller_params.names;
    auto call = expression();
    if (call->kind != NodeKind::kCall) fail("expected a call after 'call'");
    expect_block_end();
    n->kids.push_back(std::move(call));
    n->kids.push_back(statements({"endcall"}));
    next();
    expect_block_end();
    return n;
  }

  NodePtr filter_block() {
    auto n = make(NodeKind::kFilterBlock);
    next();
    // parse "name(args) | name2" as a chain applied to a null value
    auto base = filter_one(nullptr);
    while (is_op("|")) {
      next();
      base = filter_one(std::move(base));
    }
    expect_block_end();
    n->kids.push_back(std::move(base));
    n->kids.push_back(statements({"endfilter"}));
    next();
    expect_block_end();
    return n;
  }

  // ------------------------------------------------------------ expressions

  // Comma-separated expressions form a tuple (as in {{ a, b }} or {% for x in a, b %}).
  NodePtr tuple_expr(bool allow_cond = true) {
    int line = cur().line;
    auto first = allow_cond ? expression() : or_expr();
    if (!is_op(",")) return first;
    auto t = std::make_unique<Node>(NodeKind::kTuple, line);
    t->kids.push_back(std::move(first));
    while (is_op(",")) {
      next();
      if (cur().kind == Tok::kBlockEnd || cur().kind == Tok::kVarEnd || is_op(")")) break;
      t->kids.push_back(allow_cond ? expression() : or_expr());
    }
    return t;
  }

  NodePtr expression() {
    auto e = or_expr();
    while (is_name("if")) {
      auto n = make(NodeKind::kCond);
      next();
      auto cond = or_expr();
      NodePtr otherwise;
      if (is_name("else")) {
        next();
        otherwise = expression();
      }
      n->kids.push_back(std::move(cond));
      n->kids.push_back(std::move(e));
      n->kids.push_back(std::move(otherwise));
      e = std::move(n);
    }
    return e;
  }

  NodePtr binary(NodePtr a, const std::string& op, NodePtr b, int line) {
    auto n = std::make_unique<Node>(NodeKind::kBinary, line);
    n->name = op;
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(b));
    return n;
  }

  NodePtr or_expr() {
    auto a = and_expr();
    while (is_name("or")) {
      int line = cur().line;
      next();
      a = binary(std::move(a), "or", and_expr(), line);
    }
    return a;
  }
  NodePtr and_expr() {
    auto a = not_expr();
    while (is_name("and")) {
      int line = cur().line;
      next();
      a = binary(std::move(a), "and", not_expr(), line);
    }
    return a;
  }
  NodePtr not_expr() {
    if (is_name("not")) {
      auto n = make(NodeKind::kUnary);
      n->name = "not";
      next();
      n->kids.push_back(not_expr());
      return n;
    }
    return compare();
  }
  NodePtr compare() {
    auto first = math1();
    NodePtr n;
    while (true) {
      std::string op;
      if (cur().kind == Tok::kOp && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                     cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
        op = cur().value;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().kind == Tok::kName && peek().value == "in") {
        op = "notin";
        next();
        next();
      } else {
        break;
      }
      if (!n) {
        n = make(NodeKind::kCompare);
        n->kids.push_back(std::move(first));
      }
      n->names.push_back(op);
      n->kids.push_back(math1());
    }
    return n ? std::move(n) : std::move(first);
  }
  NodePtr math1() {
    auto a = concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().value;
      int line = cur().line;
      next();
      a = binary(std::move(a), op, concat(), line);
    }
    return a;
  }
  NodePtr concat() {
    auto a = math2();
    while (is_op("~")) {
      int line = cur().line;
      next();
      a = binary(std::move(a), "~", math2(), line);
    }
    return a;
  }
  NodePtr math2() {
    auto a = power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().value;
      int line = cur().line;
      next();
      a = binary(std::move(a), op, power(), line);
    }
    return a;
  }
  NodePtr power() {
    auto a = unary(true);
    while (is_op("**")) {
      int line = cur().line;
      next();
      a = binary(std::move(a), "**", unary(true), line);
    }
    return a;
  }
  NodePtr unary(bool with_filter) {
    DepthGuard guard(*this);
    NodePtr n;
    if (is_op("-") || is_op("+")) {
      n = make(NodeKind::kUnary);
      n->name = cur().value;
      next();
      n->kids.push_back(unary(false));
    } else {
      n = primary();
    }
    n = postfix(std::move(n));
    if (with_filter) n = filter_expr(std::move(n));
    return n;
  }

  // Guards the recursion of nested expressions and blocks against stack exhaustion.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    }
    ~DepthGuard() { --p.depth_; }
  };
  static constexpr int kMaxDepth = 200;

  NodePtr primary() {
    DepthGuard guard(*this);
    const Token& tk = cur();
    if (tk.kind == Tok::kName) {
      const std::string& v = tk.value;
      auto c = make(NodeKind::kConst);
      if (v == "true" || v == "True") c->value = Value(true);
      else if (v == "false" || v == "False") c->value = Value(false);
      else if (v == "none" || v == "None") c->value = Value(None{});
      else {
        auto n = make(NodeKind::kName);
        n->name = v;
        next();
        return n;
      }
      next();
      return c;
    }
    if (tk.kind == Tok::kString) {
      auto c = make(NodeKind::kConst);
      std::string s;
      while (cur().kind == Tok::kString) {  // adjacent literals concatenate
        s += cur().value;
        next();
      }
      c->value = Value(s);
      return c;
    }
    if (tk.kind == Tok::kInt) {
      auto c = make(NodeKind::kConst);
      int64_t v = 0;
      auto r = std::from_chars(tk.value.data(), tk.value.data() + tk.value.size(), v);
      if (r.ec != std::errc()) fail(fmt::format("integer literal {} is out of range", tk.value));
      c->value = Value(v);
      next();
      return c;
    }
    if (tk.kind == Tok::kFloat) {
      auto c = make(NodeKind::kConst);
      c->value = Value(std::strtod(tk.value.c_str(), nullptr));  // 1e999 is inf, as Python
      next();
      return c;
    }
    if (is_op("(")) {
      int line = tk.line;
      next();
      if (is_op(")")) {
        next();
        return std::make_unique<Node>(NodeKind::kTuple, line);
      }
      auto e = expression();
      if (is_op(",")) {
        auto t = std::make_unique<Node>(NodeKind::kTuple, line);
        t->kids.push_back(std::move(e));
        while (is_op(",")) {
          next();
          if (is_op(")")) break;
          t->kids.push_back(expression());
        }
        e = std::move(t);
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      auto n = make(NodeKind::kList);
      next();
      while (!is_op("]")) {
        if (!n->kids.empty()) expect_op(",");
        if (is_op("]")) break;
        n->kids.push_back(expression());
      }
      next();
      return n;
    }
    if (is_op("{")) {
      auto n = make(NodeKind::kDict);
      next();
      while (!is_op("}")) {
        if (!n->kids.empty()) expect_op(",");
        if (is_op("}")) break;
        n->kids.push_back(expression());
        expect_op(":");
        n->kids.push_back(expression());
      }
      next();
      return n;
    }
    fail(fmt::format("expected an expression, got '{}'", describe(tk)));
  }

  NodePtr postfix(NodePtr n) {
    while (true) {
      if (is_op(".")) {
        next();
        auto g = make(NodeKind::kGetAttr);
        if (cur().kind == Tok::kName) {
          g->name = cur().value;
        } else if (cur().kind == Tok::kInt) {  // x.0 is x[0]
          g->kind = NodeKind::kGetItem;
          auto k = make(NodeKind::kConst);
          int64_t idx = 0;
          auto r = std::from_chars(cur().value.data(), cur().value.data() + cur().value.size(), idx);
          if (r.ec != std::errc()) fail(fmt::format("index {} is out of range", cur().value));
          k->value = Value(idx);
          g->kids.push_back(std::move(n));
          g->kids.push_back(std::move(k));
          next();
          n = std::move(g);
          continue;
        } else {
          fail(fmt::format("expected an attribute name, got '{}'", describe(cur())));
        }
        next();
        g->kids.push_back(std::move(n));
        n = std::move(g);
      } else if (is_op("[")) {
        n = subscript(std::move(n));
      } else if (is_op("(")) {
        n = call(std::move(n));
      } else {
        return n;
      }
    }
  }

  NodePtr subscript(NodePtr obj) {
    int line = cur().line;
    next();
    NodePtr parts[3];
    int colons = 0;
    for (int k = 0; k < 3; ++k) {
      if (!is_op(":") && !is_op("]")) parts[k] = expression();
      if (is_op(":") && k < 2) {
        ++colons;
        next();
      } else {
        break;
      }
    }
    expect_op("]");
    if (colons == 0) {
      if (!parts[0]) fail("expected a subscript expression");
      auto n = std::make_unique<Node>(NodeKind::kGetItem, line);
      n->kids.push_back(std::move(obj));
      n->kids.push_back(std::move(parts[0]));
      return n;
    }
    auto n = std::make_unique<Node>(NodeKind::kSlice, line);
    n->kids.push_back(std::move(obj));
    for (auto& p : parts) n->kids.push_back(p ? std::move(p) : std::make_unique<Node>(NodeKind::kNone, line));
    return n;
  }

  // Parses "(args, k=v)" into n->kids (after any existing kids) and n->names.
  void call_args(Node& n) {
    expect_op("(");
    std::vector<NodePtr> pos, kwv;
    while (!is_op(")")) {
      if (!pos.empty() || !kwv.empty()) expect_op(",");
      if (is_op(")")) break;
      if (cur().kind == Tok::kName && peek().kind == Tok::kOp && peek().value == "=") {
        n.names.push_back(cur().value);
        next();
        next();
        kwv.push_back(expression());
      } else {
        if (!kwv.empty()) fail("positional argument follows keyword argument");
        pos.push_back(expression());
      }
    }
    next();
    for (auto& p : pos) n.kids.push_back(std::move(p));
    for (auto& k : kwv) n.kids.push_back(std::move(k));
  }

  NodePtr call(NodePtr callee) {
    auto n = make(NodeKind::kCall);
    n->kids.push_back(std::move(callee));
    call_args(*n);
    return n;
  }

  NodePtr filter_one(NodePtr value) {
    auto n = make(NodeKind::kFilter);
    n->name = identifier();
    while (is_op(".")) {  // dotted filter names
      next();
      n->name += "." + identifier();
    }
    // Unknown filter/test names fail when evaluated: Jinja 3 defers the check inside
    // conditional branches, so a dead branch may name one.
    n->kids.push_back(std::move(value));
    if (is_op("(")) call_args(*n);
    return n;
  }

  NodePtr filter_chain(NodePtr value) {
    while (is_op("|")) {
      next();
      value = filter_one(std::move(value));
    }
    return value;
  }

  NodePtr filter_expr(NodePtr n) {
    while (true) {
      if (is_op("|")) {
        next();
        n = filter_one(std::move(n));
      } else if (is_name("is")) {
        next();
        auto t = make(NodeKind::kTest);
        if (is_name("not")) {
          t->flag = true;
          next();
        }
        t->name = identifier();
        t->kids.push_back(std::move(n));
        if (is_op("(")) {
          call_args(*t);
        } else if ((cur().kind == Tok::kName || cur().kind == Tok::kString || cur().kind == Tok::kInt ||
                    cur().kind == Tok::kFloat || is_op("[") || is_op("{")) &&
                   !(cur().kind == Tok::kName && (cur().value == "else" || cur().value == "or" ||
                                                  cur().value == "and" || cur().value == "if"))) {
          t->kids.push_back(postfix(primary()));
        }
        n = std::move(t);
      } else if (is_op("(")) {
        n = call(std::move(n));
      } else {
        return n;
      }
    }
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

NodePtr parse(const std::vector<Token>& tokens) { return Parser(tokens).document(); }

}  // namespace ignis::tmpl
