// ignis template: rendering a model's chat template (tokenizer_config.json "chat_template").
//   std::string prompt = render_chat_template(tmpl, {{"messages", msgs},
//       {"add_generation_prompt", true}, {"bos_token", "<s>"}, {"eos_token", "</s>"}});
// Context keys are template variables: messages (list of {role, content, tool_calls?, ...}),
// add_generation_prompt, bos_token, eos_token, tools (optional) and any extra keys
// (enable_thinking, date_string, ...). Rendering matches transformers' apply_chat_template
// (Jinja2 with trim_blocks + lstrip_blocks) byte for byte; errors are TemplateError /
// RaisedError (both ignis::Error) naming the template line.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "template/template.h"

namespace ignis {

// Use ordered_json when key order matters (tools schemas printed with tojson keep the
// order given); nlohmann::json sorts object keys.
std::string render_chat_template(const std::string& tmpl, const nlohmann::json& context,
                                 const tmpl::RenderOptions& opts = {});
std::string render_chat_template(const std::string& tmpl, const nlohmann::ordered_json& context,
                                 const tmpl::RenderOptions& opts = {});

// The chat template in a tokenizer_config.json: the "chat_template" string, or from the
// named-template list form [{"name": ..., "template": ...}] the one called `name`
// ("default" when name is empty). Throws ignis::Error when absent.
std::string chat_template_from_config(const nlohmann::json& tokenizer_config, const std::string& name = "");

// A model's chat template parsed once, with the special tokens transformers passes in.
//   auto ct = ChatTemplate::from_model_dir("/models/llama3");
//   std::string prompt = ct.apply(messages, /*add_generation_prompt=*/true);
class ChatTemplate {
 public:
  ChatTemplate(const std::string& source, nlohmann::ordered_json special_tokens);
  // tokenizer_config.json: its chat_template (string or named list; `name` picks one) and
  // its special tokens (bos_token, eos_token, unk_token, pad_token, ...; a token given as
  // an AddedToken object {"content": ...} counts as its content).
  static ChatTemplate from_tokenizer_config(const nlohmann::json& cfg, const std::string& name = "");
  // A Hugging Face model folder: chat_template.jinja when present (newer transformers save
  // it there), else tokenizer_config.json's chat_template.
  static ChatTemplate from_model_dir(const std::string& dir, const std::string& name = "");

  // Renders messages (+ tools when non-null) with add_generation_prompt; `extra` keys
  // (enable_thinking, documents, ...) are added to the context and override the defaults.
  std::string apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                    const nlohmann::ordered_json& tools = nullptr,
                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                    const tmpl::RenderOptions& opts = {}) const;

  const std::string& source() const { return source_; }
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  std::string source_;
  tmpl::Template template_;
  nlohmann::ordered_json special_tokens_;
};

}  // namespace ignis
