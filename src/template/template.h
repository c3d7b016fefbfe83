// ignis template: a parsed Jinja2-subset template, rendered over a JSON context.
//   auto t = Template::parse(text);           // throws TemplateError on a syntax error
//   std::string out = t.render(context_json); // throws TemplateError / RaisedError
// Rendering follows jinja2 as transformers configures it for chat templates
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, {% generation %},
// its tojson filter and its raise_exception / strftime_now globals).
// A parsed Template is immutable: render() may be called from several threads at once.
// Not supported (clear TemplateError): include/extends/import, recursive loops, dict
// literals with non-string keys, str.format specs; case mapping covers ASCII, Latin-1,
// Latin Extended-A, Greek and Cyrillic only.
#pragma once
#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "template/ast.h"
#include "template/errors.h"
#include "template/value.h"

namespace ignis::tmpl {

struct RenderOptions {
  // Time returned by strftime_now(); the local time at render when unset.
  std::optional<std::tm> now;
};

class Template {
 public:
  static Template parse(const std::string& source);

  std::string render(const nlohmann::json& context, const RenderOptions& opts = {}) const;
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& opts = {}) const;
  // Context as a Value dict (keys become top-level variables).
  std::string render_value(const Value& context, const RenderOptions& opts = {}) const;

 private:
  std::shared_ptr<Node> root_;
};

}  // namespace ignis::tmpl
