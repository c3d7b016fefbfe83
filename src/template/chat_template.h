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

}  // namespace ignis
