// Bad templates and hostile inputs must end in ignis::Error, never a crash or a hang:
// every real chat template, cut short and with characters dropped, parsed and rendered.
#include <gtest/gtest.h>

#include <fstream>

#include "template/chat_template.h"

using nlohmann::ordered_json;
using namespace ignis;

namespace {

const ordered_json& goldens() {
  static const ordered_json j = [] {
    std::ifstream f(std::string(IGNIS_TEST_DATA_DIR) + "/chat_templates/goldens.json");
    return ordered_json::parse(f);
  }();
  return j;
}

// Renders; returns 0 on success, 1 on ignis::Error. Anything else fails the test.
int try_render(const std::string& tmpl, const ordered_json& ctx) {
  try {
    render_chat_template(tmpl, ctx);
    return 0;
  } catch (const Error&) {
    return 1;
  }
}

}  // namespace

TEST(TemplateRobustness, MutatedRealTemplatesFailCleanly) {
  const auto& contexts = goldens()["contexts"];
  int errors = 0, renders = 0;
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  for (auto& [name, t] : goldens()["templates"].items()) {
    std::string src = t.get<std::string>();
    for (int k = 0; k < 6; ++k) {
      std::string cut = src.substr(0, next() % (src.size() + 1));
      std::string dropped = src;
      for (int d = 0; d < 3 && !dropped.empty(); ++d) dropped.erase(next() % dropped.size(), 1);
      for (const std::string* m : {&cut, &dropped}) {
        errors += try_render(*m, contexts[next() % contexts.size()]);
        ++renders;
      }
    }
  }
  // Most mutations break a tag; some still render. Both are fine, crashing is not.
  EXPECT_GT(errors, renders / 4);
  EXPECT_LT(errors, renders);
}

TEST(TemplateRobustness, HostileInputsAreErrors) {
  ordered_json ctx = ordered_json::object();
  EXPECT_THROW(render_chat_template("{{ " + std::string(5000, '(') + "1 }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ " + std::string(5000, '[') + " }}", ctx), Error);
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "{% if true %}";
  EXPECT_THROW(render_chat_template(nested, ctx), Error);
  EXPECT_THROW(render_chat_template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ 'x' * 1000000000000 }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ range(1000000000) | length }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ 99999999999999999999999 }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ 1 // 0 }}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ x.0.99999999999999999999999 }}", ctx), Error);
  EXPECT_EQ(render_chat_template("{{ 1e999 }}", ctx), "inf");
  EXPECT_THROW(render_chat_template("{% for %}", ctx), Error);
  EXPECT_THROW(render_chat_template("{% set ns.a = 1 %}", ctx), Error);
  EXPECT_THROW(render_chat_template("{{ '{0}'.format() }}", ctx), Error);
}
