// ignis template: the evaluator (scopes, statements, expressions).
#include "template/template.h"

#include <chrono>

#include "template/builtins.h"
#include "template/parser.h"

namespace ignis::tmpl {
namespace {

struct Scope;
using ScopePtr = std::shared_ptr<Scope>;

// Variables of one block level: the template top level, one for-loop iteration, one macro call.
struct Scope {
  ScopePtr parent;
  Dict vars;
  explicit Scope(ScopePtr p) : parent(std::move(p)) {}
  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      if (const Value* v = s->vars.find(name)) return v;
    return nullptr;
  }
};

enum class Flow { kNormal, kBreak, kContinue };

std::string undefined_name_hint(const std::string& name) {
  return fmt::format("UndefinedError: '{}' is undefined", name);
}

class Renderer {
 public:
  Renderer(const Value& context, const std::tm& now) : context_(context), globals_(make_globals_dict(now)) {
    env_.apply_filter = [this](const std::string& f, const Value& v, CallArgs& a) { return call_filter(env_, f, v, a); };
    env_.apply_test = [this](const std::string& t, const Value& v, CallArgs& a) { return call_test(env_, t, v, a); };
  }

  std::string run(const Node& root) {
    auto scope = std::make_shared<Scope>(nullptr);
    std::string out;
    exec(root, scope, out);
    return out;
  }

 private:
  // ------------------------------------------------------------ statements

  Flow exec(const Node& n, const ScopePtr& sc, std::string& out) {
    try {
      return exec_inner(n, sc, out);
    } catch (const TemplateError&) {
      throw;
    } catch (const RaiseRequest& r) {
      throw RaisedError(n.line, r.message);
    } catch (const ignis::Error& e) {
      throw TemplateError(n.line, e.what());
    } catch (const std::bad_alloc&) {
      throw TemplateError(n.line, "out of memory while rendering");
    } catch (const std::exception& e) {  // a library failure must still surface as ignis::Error
      throw TemplateError(n.line, std::string("internal error: ") + e.what());
    }
  }

  Flow exec_inner(const Node& n, const ScopePtr& sc, std::string& out) {
    switch (n.kind) {
      case NodeKind::kBody:
        for (auto& k : n.kids) {
          Flow f = exec(*k, sc, out);
          if (f != Flow::kNormal) return f;
        }
        return Flow::kNormal;
      case NodeKind::kText: out += n.name; return Flow::kNormal;
      case NodeKind::kOutput: out += to_str(eval(*n.kids[0], sc)); return Flow::kNormal;
      case NodeKind::kIf: {
        size_t pairs = (n.kids.size() - (n.flag ? 1 : 0)) / 2;
        for (size_t i = 0; i < pairs; ++i)
          if (eval(*n.kids[2 * i], sc).truthy()) return exec(*n.kids[2 * i + 1], sc, out);
        if (n.flag) return exec(*n.kids.back(), sc, out);
        return Flow::kNormal;
      }
      case NodeKind::kFor: exec_for(n, sc, out); return Flow::kNormal;
      case NodeKind::kSet: {
        Value v = eval(*n.kids[0], sc);
        assign(n.names, v, sc);
        return Flow::kNormal;
      }
      case NodeKind::kSetBlock: {
        std::string body;
        exec(*n.kids[0], sc, body);
        Value v(body);
        if (n.kids[1]) v = eval_filter(*n.kids[1], sc, &v);
        assign({n.name}, v, sc);
        return Flow::kNormal;
      }
      case NodeKind::kMacro: sc->vars.set(n.name, make_macro(n, n.name, sc)); return Flow::kNormal;
      case NodeKind::kCallBlock: {
        // The body becomes `caller`, a macro with the call block's parameters.
        Node& body = *n.kids[1];
        Value caller = make_caller(n, body, sc);
        out += to_str(eval_call(*n.kids[0], sc, &caller));
        return Flow::kNormal;
      }
      case NodeKind::kFilterBlock: {
        std::string body;
        exec(*n.kids[1], sc, body);
        Value v(body);
        out += to_str(eval_filter(*n.kids[0], sc, &v));
        return Flow::kNormal;
      }
      case NodeKind::kBreak: return Flow::kBreak;
      case NodeKind::kContinue: return Flow::kContinue;
      default: IGNIS_FAIL("internal: expression node used as a statement");
    }
  }

  void assign(const std::vector<std::string>& names, const Value& v, const ScopePtr& sc) {
    if (names.size() == 1) {
      const std::string& t = names[0];
      size_t dot = t.find('.');
      if (dot == std::string::npos) {
        sc->vars.set(t, v);
        return;
      }
      std::string ns_name = t.substr(0, dot);
      const Value* ns = lookup(ns_name, sc);
      if (!ns || !ns->is_namespace())
        IGNIS_FAIL("TemplateRuntimeError: cannot assign attribute on non-namespace object '{}'", ns_name);
      ns->as_namespace().attrs.set(t.substr(dot + 1), v);
      return;
    }
    std::vector<Value> items = iterate(v);
    if (items.size() != names.size())
      IGNIS_FAIL("ValueError: cannot unpack {} values into {} names", items.size(), names.size());
    for (size_t i = 0; i < names.size(); ++i) assign({names[i]}, items[i], sc);
  }

  void exec_for(const Node& n, const ScopePtr& sc, std::string& out) {
    Value seq = eval(*n.kids[0], sc);
    if (!seq.is_undefined() && !seq.is_list() && !seq.is_dict() && !seq.is_string())
      IGNIS_FAIL("TypeError: '{}' object is not iterable", seq.type_name());
    std::vector<Value> items = iterate(seq);
    if (n.kids[1]) {  // {% for x in xs if cond %}: filter first, loop.* counts what is kept
      std::vector<Value> kept;
      for (auto& it : items) {
        auto tmp = std::make_shared<Scope>(sc);
        assign(n.names, it, tmp);
        if (eval(*n.kids[1], tmp).truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (n.kids[3]) exec(*n.kids[3], sc, out);
      return;
    }
    int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      auto it_scope = std::make_shared<Scope>(sc);
      assign(n.names, items[i], it_scope);
      Value loop = Value::dict();
      Dict& d = loop.as_dict();
      d.set("index", Value(i + 1));
      d.set("index0", Value(i));
      d.set("revindex", Value(len - i));
      d.set("revindex0", Value(len - i - 1));
      d.set("first", Value(i == 0));
      d.set("last", Value(i == len - 1));
      d.set("length", Value(len));
      d.set("depth", Value(int64_t{1}));
      d.set("depth0", Value(int64_t{0}));
      if (i > 0) d.set("previtem", items[i - 1]);
      if (i + 1 < len) d.set("nextitem", items[i + 1]);
      d.set("cycle", Value::function("cycle", [i](CallArgs& a) -> Value {
        if (a.pos.empty()) IGNIS_FAIL("TypeError: no items for cycling given");
        return a.pos[static_cast<size_t>(i) % a.pos.size()];
      }));
      it_scope->vars.set("loop", loop);
      Flow f = exec(*n.kids[2], it_scope, out);
      if (f == Flow::kBreak) break;
    }
  }

  // A macro or a call block's caller: binds parameters in a new scope over the defining one.
  Value make_callable(const Node& params_node, const Node& body, size_t first_default, const std::string& name,
                      const ScopePtr& defining) {
    const Node* pn = &params_node;
    const Node* bn = &body;
    // The macro is stored in the scope it closes over: hold that scope weakly (no
    // shared_ptr cycle) and keep it alive for the whole render in keep_alive_.
    keep_alive_.push_back(defining);
    std::weak_ptr<Scope> weak_defining = defining;
    return Value::function(name, [this, pn, bn, first_default, name, weak_defining](CallArgs& args) -> Value {
      ScopePtr defining = weak_defining.lock();
      if (!defining) IGNIS_FAIL("macro '{}' called after its render ended", name);
      if (call_depth_ >= kMaxCallDepth) IGNIS_FAIL("RecursionError: macro '{}' nested deeper than {} calls", name, kMaxCallDepth);
      struct Depth {
        int& d;
        ~Depth() { --d; }
      } depth{++call_depth_};
      auto sc = std::make_shared<Scope>(defining);
      const auto& params = pn->names;
      if (args.pos.size() > params.size())
        IGNIS_FAIL("TypeError: macro '{}' takes not more than {} argument(s)", name, params.size());
      for (size_t i = 0; i < params.size(); ++i) {
        if (i < args.pos.size()) {
          sc->vars.set(params[i], args.pos[i]);
        } else if (const Value* kv = args.get(SIZE_MAX, params[i])) {
          sc->vars.set(params[i], *kv);
        } else if (first_default + i < pn->kids.size() && pn->kids[first_default + i]) {
          sc->vars.set(params[i], eval(*pn->kids[first_default + i], sc));
        } else {
          sc->vars.set(params[i], Value::undefined(fmt::format("UndefinedError: parameter '{}' was not provided", params[i])));
        }
      }
      for (auto& [k, v] : args.kw) {
        bool known = k == "caller";
        for (auto& p : params) known = known || p == k;
        if (!known) IGNIS_FAIL("TypeError: macro '{}' takes no keyword argument '{}'", name, k);
        if (k == "caller") sc->vars.set("caller", v);
      }
      std::string out;
      exec(*bn, sc, out);
      return Value(out);
    });
  }
  Value make_macro(const Node& n, const std::string& name, const ScopePtr& sc) {
    return make_callable(n, *n.kids[0], 1, name, sc);
  }
  Value make_caller(const Node& n, const Node& body, const ScopePtr& sc) {
    // Call-block parameters carry no defaults in this subset.
    return make_callable(n, body, SIZE_MAX / 2, "caller", sc);
  }

  // ------------------------------------------------------------ expressions

  const Value* lookup(const std::string& name, const ScopePtr& sc) const {
    if (const Value* v = sc->lookup(name)) return v;
    if (context_.is_dict())
      if (const Value* v = context_.as_dict().find(name)) return v;
    return globals_.as_dict().find(name);
  }

  CallArgs eval_args(const Node& n, size_t first, const ScopePtr& sc) {
    CallArgs a;
    size_t n_kw = n.names.size();
    size_t n_pos = n.kids.size() - first - n_kw;
    for (size_t i = 0; i < n_pos; ++i) a.pos.push_back(eval(*n.kids[first + i], sc));
    for (size_t i = 0; i < n_kw; ++i) a.kw.emplace_back(n.names[i], eval(*n.kids[first + n_pos + i], sc));
    return a;
  }

  Value eval_call(const Node& n, const ScopePtr& sc, const Value* caller) {
    Value f = eval(*n.kids[0], sc);
    if (f.is_undefined()) f.require_defined();
    if (!f.is_function()) IGNIS_FAIL("TypeError: '{}' object is not callable", f.type_name());
    CallArgs a = eval_args(n, 1, sc);
    if (caller) a.kw.emplace_back("caller", *caller);
    return f.as_function().fn(a);
  }

  // Applies a filter node; `override` replaces a null innermost value (filter blocks).
  Value eval_filter(const Node& n, const ScopePtr& sc, const Value* override) {
    Value v;
    if (n.kids[0]) {
      v = n.kids[0]->kind == NodeKind::kFilter && !n.kids[0]->kids[0] ? eval_filter(*n.kids[0], sc, override)
                                                                      : eval(*n.kids[0], sc);
    } else if (override) {
      v = *override;
    }
    CallArgs a = eval_args(n, 1, sc);
    return call_filter(env_, n.name, v, a);
  }

  Value eval(const Node& n, const ScopePtr& sc) {
    switch (n.kind) {
      case NodeKind::kConst: return n.value;
      case NodeKind::kNone: return Value(None{});
      case NodeKind::kName: {
        const Value* v = lookup(n.name, sc);
        return v ? *v : Value::undefined(undefined_name_hint(n.name));
      }
      case NodeKind::kList:
      case NodeKind::kTuple: {
        std::vector<Value> items;
        for (auto& k : n.kids) items.push_back(eval(*k, sc));
        return Value::list(std::move(items), n.kind == NodeKind::kTuple);
      }
      case NodeKind::kDict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < n.kids.size(); i += 2) {
          Value k = eval(*n.kids[i], sc);
          if (!k.is_string()) IGNIS_FAIL("dict literal keys must be strings in this engine, got {}", k.type_name());
          d.as_dict().set(k.as_string(), eval(*n.kids[i + 1], sc));
        }
        return d;
      }
      case NodeKind::kGetAttr: {
        Value obj = eval(*n.kids[0], sc);
        obj.require_defined();
        return get_attr(obj, n.name);
      }
      case NodeKind::kGetItem: {
        Value obj = eval(*n.kids[0], sc);
        obj.require_defined();
        return get_item(obj, eval(*n.kids[1], sc));
      }
      case NodeKind::kSlice: {
        Value obj = eval(*n.kids[0], sc);
        obj.require_defined();
        return slice(obj, eval(*n.kids[1], sc), eval(*n.kids[2], sc), eval(*n.kids[3], sc));
      }
      case NodeKind::kCall: return eval_call(n, sc, nullptr);
      case NodeKind::kFilter: return eval_filter(n, sc, nullptr);
      case NodeKind::kTest: {
        Value v = eval(*n.kids[0], sc);
        CallArgs a = eval_args(n, 1, sc);
        bool r = call_test(env_, n.name, v, a);
        return Value(n.flag ? !r : r);
      }
      case NodeKind::kUnary: {
        Value v = eval(*n.kids[0], sc);
        if (n.name == "not") return Value(!v.truthy());
        v.require_defined();
        if (!v.is_number()) IGNIS_FAIL("TypeError: bad operand type for unary {}: '{}'", n.name, v.type_name());
        if (n.name == "+") return v.is_bool() ? Value(v.as_int()) : v;
        return v.is_float() ? Value(-v.as_double()) : Value(-v.as_int());
      }
      case NodeKind::kBinary: {
        Value a = eval(*n.kids[0], sc);
        if (n.name == "and") return a.truthy() ? eval(*n.kids[1], sc) : a;
        if (n.name == "or") return a.truthy() ? a : eval(*n.kids[1], sc);
        return binary_op(n.name, a, eval(*n.kids[1], sc));
      }
      case NodeKind::kCompare: {
        Value left = eval(*n.kids[0], sc);
        for (size_t i = 0; i < n.names.size(); ++i) {
          Value right = eval(*n.kids[i + 1], sc);
          const std::string& op = n.names[i];
          bool r;
          if (op == "==") r = values_equal(left, right);
          else if (op == "!=") r = !values_equal(left, right);
          else if (op == "in") r = contains(right, left);
          else if (op == "notin") r = !contains(right, left);
          else {
            left.require_defined();
            right.require_defined();
            if (op == "<") r = values_less(left, right);
            else if (op == ">") r = values_less(right, left);
            else if (op == "<=") r = !values_less(right, left);
            else r = !values_less(left, right);
          }
          if (!r) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case NodeKind::kCond: {
        if (eval(*n.kids[0], sc).truthy()) return eval(*n.kids[1], sc);
        if (n.kids[2]) return eval(*n.kids[2], sc);
        return Value::undefined("UndefinedError: the inline if-expression evaluated to false and no else section was defined.");
      }
      default: IGNIS_FAIL("internal: statement node used as an expression");
    }
  }

  static constexpr int kMaxCallDepth = 100;
  Value context_;
  Value globals_;
  Env env_;
  int call_depth_ = 0;
  std::vector<ScopePtr> keep_alive_;  // scopes that macros close over
};

std::tm local_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

}  // namespace

Template Template::parse(const std::string& source) {
  Template t;
  t.root_ = std::shared_ptr<Node>(tmpl::parse(lex(source)));
  return t;
}

std::string Template::render_value(const Value& context, const RenderOptions& opts) const {
  IGNIS_CHECK(context.is_dict(), "chat template context must be a JSON object, got {}", context.type_name());
  Renderer r(context, opts.now ? *opts.now : local_now());
  return r.run(*root_);
}

std::string Template::render(const nlohmann::json& context, const RenderOptions& opts) const {
  return render_value(Value::from_json(context), opts);
}

std::string Template::render(const nlohmann::ordered_json& context, const RenderOptions& opts) const {
  return render_value(Value::from_json(context), opts);
}

}  // namespace ignis::tmpl
