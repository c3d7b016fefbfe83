// ignis bench: chat-conversation workloads rendered with the model's chat template.
#include <fstream>
#include <nlohmann/json.hpp>

#include "bench/lib/dataset.h"
#include "core/error.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ignis::bench {

namespace {
// {"messages": [...]} or ShareGPT {"conversations": [{"from", "value"}]} -> [{"role", "content"}].
nlohmann::json messages_of(const nlohmann::json& j, const std::string& where) {
  nlohmann::json msgs = nlohmann::json::array();
  if (j.contains("messages")) {
    IGNIS_CHECK(j["messages"].is_array(), "{}: messages must be an array", where);
    for (const auto& m : j["messages"]) {
      IGNIS_CHECK(m.is_object() && m.contains("role") && m["role"].is_string() && m.contains("content") &&
                      m["content"].is_string(),
                  "{}: each message needs string role and content", where);
      msgs.push_back({{"role", m["role"]}, {"content", m["content"]}});
    }
  } else if (j.contains("conversations")) {
    IGNIS_CHECK(j["conversations"].is_array(), "{}: conversations must be an array", where);
    for (const auto& m : j["conversations"]) {
      IGNIS_CHECK(m.is_object() && m.contains("from") && m["from"].is_string() && m.contains("value") &&
                      m["value"].is_string(),
                  "{}: each conversation turn needs string from and value", where);
      const std::string from = m["from"];
      const std::string role = from == "human" || from == "user" ? "user"
                               : from == "gpt" || from == "assistant" ? "assistant"
                                                                       : from;
      msgs.push_back({{"role", role}, {"content", m["value"]}});
    }
  } else {
    IGNIS_FAIL("{}: expected a \"messages\" or \"conversations\" array", where);
  }
  IGNIS_CHECK(!msgs.empty(), "{}: empty conversation", where);
  return msgs;
}
}  // namespace

std::vector<WorkItem> chat_workload(const std::filesystem::path& chats, const Tokenizer& tok, const SyntheticOptions& o) {
  const std::string src = tok.chat_template();
  IGNIS_CHECK(!src.empty(), "dataset: the tokenizer has no chat_template (needed for --chats)");
  std::ifstream f(chats, std::ios::binary);
  IGNIS_CHECK(f.good(), "{}: cannot open the chats file", chats.string());
  LengthSampler ls(o.seed);
  std::vector<WorkItem> out;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line) && static_cast<int>(out.size()) < o.num_requests) {
    lineno++;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = chats.string() + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      IGNIS_FAIL("{}: not valid JSON ({})", where, e.what());
    }
    IGNIS_CHECK(j.is_object(), "{}: each line must be a JSON object", where);
    nlohmann::json msgs = messages_of(j, where);
    WorkItem w;
    if (msgs.back()["role"] == "assistant" && msgs.size() > 1) {
      w.output_len = std::max<int>(1, static_cast<int>(tok.encode(msgs.back()["content"].get<std::string>(), false).size()));
      msgs.erase(msgs.size() - 1);
    } else {
      w.output_len = ls.draw(o.output);
    }
    nlohmann::json ctx = {{"messages", msgs}, {"add_generation_prompt", true},
                          {"bos_token", tok.bos_token()}, {"eos_token", tok.eos_token()}};
    w.prompt = render_chat_template(src, ctx);
    w.prompt_ids = tok.encode(w.prompt, false);  // the template already wrote BOS where the model wants it
    IGNIS_CHECK(!w.prompt_ids.empty(), "{}: the rendered prompt is empty", where);
    out.push_back(std::move(w));
  }
  IGNIS_CHECK(!out.empty(), "{}: no conversations", chats.string());
  return out;
}

}  // namespace ignis::bench
