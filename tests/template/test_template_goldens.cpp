// Chat templates rendered by ignis must equal real Jinja2's output byte for byte.
// Goldens: tests/data/chat_templates/goldens.json, written by
// tools/golden/chat_template_goldens.py (Jinja2 configured like transformers).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "template/chat_template.h"

using nlohmann::ordered_json;
using namespace ignis;

namespace {

const ordered_json& goldens() {
  static const ordered_json j = [] {
    std::ifstream f(std::string(IGNIS_TEST_DATA_DIR) + "/chat_templates/goldens.json");
    EXPECT_TRUE(f.good()) << "missing tests/data/chat_templates/goldens.json";
    return ordered_json::parse(f);
  }();
  return j;
}

tmpl::RenderOptions fixed_now() {
  // goldens.json "now" is 2024-07-26T10:30:00 (a Friday, day 208 of the year).
  std::string iso = goldens()["now"].get<std::string>();
  std::tm tm{};
  std::istringstream in(iso);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  timegm(&tm);  // fills tm_wday / tm_yday
  tmpl::RenderOptions o;
  o.now = tm;
  return o;
}

std::string show(const std::string& s) { return ordered_json(s).dump(); }

// Returns "" when `tmpl` over `ctx` behaves like the golden entry `g`, else a description.
std::string check(const std::string& tmpl, const ordered_json& ctx, const ordered_json& g) {
  std::string got;
  try {
    got = render_chat_template(tmpl, ctx, fixed_now());
  } catch (const tmpl::RaisedError& e) {
    if (g.contains("error") && g["raised"].get<bool>() && e.message() == g["error"].get<std::string>()) return "";
    return "raised: " + std::string(e.what()) + "\n  expected: " + g.dump().substr(0, 400);
  } catch (const Error& e) {
    if (g.contains("error") && !g["raised"].get<bool>()) {
      // Same kind of failure as Jinja2 (UndefinedError, TypeError, TemplateSyntaxError, ...).
      std::string jinja = g["error"].get<std::string>();
      std::string kind = jinja.substr(0, jinja.find(':'));
      if (std::string(e.what()).find(kind) != std::string::npos) return "";
      return "error of another kind: " + std::string(e.what()) + "\n  expected: " + jinja;
    }
    return "error: " + std::string(e.what()) + "\n  expected: " + g.dump().substr(0, 400);
  }
  if (g.contains("error")) return "rendered but Jinja2 failed with: " + g["error"].get<std::string>();
  std::string want = g["expected"].get<std::string>();
  if (got == want) return "";
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  size_t from = i > 60 ? i - 60 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  got:  " + show(got.substr(from, 160)) +
         "\n  want: " + show(want.substr(from, 160));
}

}  // namespace

TEST(ChatTemplateGoldens, FeatureTemplatesMatchJinja2) {
  int failures = 0;
  for (auto& f : goldens()["features"]) {
    std::string why = check(f["template"].get<std::string>(), f["context"], f);
    if (!why.empty()) {
      ++failures;
      ADD_FAILURE() << "feature '" << f["name"].get<std::string>() << "': " << why;
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GE(goldens()["features"].size(), 60u);
}

TEST(ChatTemplateGoldens, ModelTemplatesMatchJinja2) {
  const auto& templates = goldens()["templates"];
  const auto& contexts = goldens()["contexts"];
  int failures = 0, rendered = 0;
  for (auto& c : goldens()["cases"]) {
    std::string name = c["template"].get<std::string>();
    std::string why = check(templates[name].get<std::string>(), contexts[c["context"].get<size_t>()], c);
    if (!why.empty()) {
      ++failures;
      ADD_FAILURE() << name << " / context " << c["context"] << ": " << why;
    }
    rendered += c.contains("expected");
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(rendered, 700);
}

TEST(ChatTemplateGoldens, CoverTheFamiliesTheIssueNames) {
  std::set<std::string> have;
  for (auto& [name, _] : goldens()["templates"].items()) have.insert(name);
  for (const char* want : {"ollama:library/llama2:7b", "ollama:library/llama3:8b", "ollama:library/llama3.1:8b",
                           "ollama:library/llama3.2:3b", "ollama:library/mistral:7b-instruct-fp16",
                           "ollama:library/qwen2:0.5b", "ollama:library/qwen2.5:0.5b", "ollama:library/qwen3:0.6b",
                           "hf:tokenizer-llama3", "hf:tokenizer-llama3_1", "hf:tokenizer-qwen3"})
    EXPECT_TRUE(have.count(want)) << want;
  // A tool call context renders through the tool-capable templates (not an error).
  const auto& contexts = goldens()["contexts"];
  int tool_renders = 0;
  for (auto& c : goldens()["cases"])
    if (contexts[c["context"].get<size_t>()].contains("tools") && c.contains("expected") &&
        c["expected"].get<std::string>().find("get_weather") != std::string::npos)
      ++tool_renders;
  EXPECT_GT(tool_renders, 40);
}
