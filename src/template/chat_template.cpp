// ignis template: chat-template entry points.
#include "template/chat_template.h"

namespace ignis {

std::string render_chat_template(const std::string& tmpl, const nlohmann::json& context,
                                 const tmpl::RenderOptions& opts) {
  return tmpl::Template::parse(tmpl).render(context, opts);
}

std::string render_chat_template(const std::string& tmpl, const nlohmann::ordered_json& context,
                                 const tmpl::RenderOptions& opts) {
  return tmpl::Template::parse(tmpl).render(context, opts);
}

std::string chat_template_from_config(const nlohmann::json& cfg, const std::string& name) {
  IGNIS_CHECK(cfg.is_object(), "tokenizer_config.json: expected a JSON object");
  auto it = cfg.find("chat_template");
  IGNIS_CHECK(it != cfg.end() && !it->is_null(), "tokenizer_config.json: no \"chat_template\" field");
  if (it->is_string()) {
    IGNIS_CHECK(name.empty() || name == "default", "tokenizer_config.json: chat_template is a single template, no template named '{}'", name);
    return it->get<std::string>();
  }
  IGNIS_CHECK(it->is_array(), "tokenizer_config.json: \"chat_template\" must be a string or a list of {{name, template}}");
  std::string want = name.empty() ? "default" : name;
  std::string names;
  for (auto& e : *it) {
    IGNIS_CHECK(e.is_object() && e.contains("name") && e.contains("template") && e["name"].is_string() &&
                    e["template"].is_string(),
                "tokenizer_config.json: each chat_template entry needs string \"name\" and \"template\"");
    if (e["name"] == want) return e["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
  }
  IGNIS_FAIL("tokenizer_config.json: no chat template named '{}' (have: {})", want, names);
}

}  // namespace ignis
