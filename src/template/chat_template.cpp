// ignis template: chat-template entry points.
#include "template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

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

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  IGNIS_CHECK(f.good(), "cannot read {}", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, nlohmann::ordered_json special_tokens)
    : source_(source), template_(tmpl::Template::parse(source)), special_tokens_(std::move(special_tokens)) {
  IGNIS_CHECK(special_tokens_.is_object(), "chat template special tokens must be a JSON object");
}

ChatTemplate ChatTemplate::from_tokenizer_config(const nlohmann::json& cfg, const std::string& name) {
  std::string source = chat_template_from_config(cfg, name);
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) continue;
    if (it->is_string()) {
      tokens[key] = it->get<std::string>();
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens[key] = (*it)["content"].get<std::string>();
    } else {
      IGNIS_FAIL("tokenizer_config.json: \"{}\" must be a string or an object with \"content\"", key);
    }
  }
  if (auto it = cfg.find("additional_special_tokens"); it != cfg.end() && it->is_array()) {
    nlohmann::ordered_json extra = nlohmann::ordered_json::array();
    for (auto& t : *it) {
      if (t.is_string()) extra.push_back(t.get<std::string>());
      else if (t.is_object() && t.contains("content") && t["content"].is_string()) extra.push_back(t["content"].get<std::string>());
    }
    tokens["additional_special_tokens"] = extra;
  }
  return ChatTemplate(source, tokens);
}

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  nlohmann::json cfg = nlohmann::json::object();
  if (fs::exists(cfg_path)) {
    try {
      cfg = nlohmann::json::parse(read_text_file(cfg_path.string()));
    } catch (const nlohmann::json::exception& e) {
      IGNIS_FAIL("{}: invalid JSON: {}", cfg_path.string(), e.what());
    }
  }
  fs::path jinja = fs::path(dir) / "chat_template.jinja";
  if (fs::exists(jinja) && (name.empty() || name == "default")) {
    nlohmann::json with_file = cfg;
    with_file["chat_template"] = read_text_file(jinja.string());
    return from_tokenizer_config(with_file);
  }
  IGNIS_CHECK(fs::exists(cfg_path), "{}: no chat_template.jinja or tokenizer_config.json", dir);
  try {
    return from_tokenizer_config(cfg, name);
  } catch (const tmpl::TemplateError&) {
    throw;
  } catch (const Error& e) {
    IGNIS_FAIL("{}: {}", cfg_path.string(), e.what());
  }
}

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const nlohmann::ordered_json& tools, const nlohmann::ordered_json& extra,
                                const tmpl::RenderOptions& opts) const {
  IGNIS_CHECK(messages.is_array(), "chat messages must be a JSON array");
  IGNIS_CHECK(extra.is_object(), "chat template extra context must be a JSON object");
  nlohmann::ordered_json ctx = special_tokens_;
  ctx["messages"] = messages;
  ctx["add_generation_prompt"] = add_generation_prompt;
  if (!tools.is_null()) ctx["tools"] = tools;
  for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
  return template_.render(ctx, opts);
}

}  // namespace ignis
