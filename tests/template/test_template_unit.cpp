// Engine behaviour that goldens cannot show: error reporting, API shapes, value semantics.
#include <gtest/gtest.h>

#include <fstream>

#include "template/chat_template.h"
#include "template/lexer.h"

using namespace ignis;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {
std::string render(const std::string& t, const json& ctx = json::object()) { return render_chat_template(t, ctx); }

std::string error_of(const std::string& t, const json& ctx = json::object()) {
  try {
    render(t, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(TemplateErrors, SyntaxErrorNamesLine) {
  std::string e = error_of("line one\nline two\n{% if %}");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an expression"), std::string::npos) << e;
}

TEST(TemplateErrors, UnclosedBlockNamesExpectedTag) {
  std::string e = error_of("{% for x in y %}\nno end");
  EXPECT_NE(e.find("endfor"), std::string::npos) << e;
}

TEST(TemplateErrors, RuntimeErrorNamesLineAndCause) {
  std::string e = error_of("ok\n{{ messages[0].content.text.x }}", {{"messages", {{{"content", "hi"}}}}});
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("'str object' has no attribute 'text'"), std::string::npos) << e;
}

TEST(TemplateErrors, RaiseExceptionCarriesMessage) {
  try {
    render("a\n\n{{ raise_exception('Roles must alternate') }}");
    FAIL() << "expected RaisedError";
  } catch (const tmpl::RaisedError& e) {
    EXPECT_EQ(e.message(), "Roles must alternate");
    EXPECT_EQ(e.line(), 3);
  }
}

TEST(TemplateErrors, UnknownFilterAndUnterminatedThings) {
  EXPECT_NE(error_of("{{ 1 | frobnicate }}").find("No filter named 'frobnicate'"), std::string::npos);
  EXPECT_NE(error_of("{{ 'abc }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(error_of("{# open comment").find("comment"), std::string::npos);
  EXPECT_NE(error_of("{{ x ").find("expected '}}'"), std::string::npos);
  EXPECT_NE(error_of("{% unknowntag %}").find("unknowntag"), std::string::npos);
}

TEST(TemplateErrors, ContextMustBeObject) { EXPECT_THROW(render("x", json::array()), Error); }

TEST(TemplateApi, ParseOnceRenderMany) {
  auto t = tmpl::Template::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  EXPECT_EQ(t.render(json{{"messages", {{{"role", "user"}, {"content", "a"}}}}}), "user:a;");
  EXPECT_EQ(t.render(json{{"messages", json::array()}}), "");
}

TEST(TemplateApi, OrderedJsonKeepsKeyOrderInToJson) {
  ordered_json ctx = {{"tool", {{"name", "f"}, {"description", "d"}, {"a", 1}}}};
  EXPECT_EQ(render_chat_template("{{ tool | tojson }}", ctx), R"({"name": "f", "description": "d", "a": 1})");
  json sorted_ctx = {{"tool", {{"name", "f"}, {"a", 1}}}};
  EXPECT_EQ(render_chat_template("{{ tool | tojson }}", sorted_ctx), R"({"a": 1, "name": "f"})");
}

TEST(TemplateApi, StrftimeNowUsesInjectedTime) {
  std::tm tm{};
  tm.tm_year = 124;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  tmpl::RenderOptions o;
  o.now = tm;
  EXPECT_EQ(render_chat_template("{{ strftime_now('%d %b %Y') }}", json::object(), o), "02 Jan 2024");
}

TEST(TemplateApi, ChatTemplateFromConfigForms) {
  EXPECT_EQ(chat_template_from_config(json{{"chat_template", "X"}}), "X");
  json named = {{"chat_template", {{{"name", "default"}, {"template", "D"}}, {{"name", "tool_use"}, {"template", "T"}}}}};
  EXPECT_EQ(chat_template_from_config(named), "D");
  EXPECT_EQ(chat_template_from_config(named, "tool_use"), "T");
  EXPECT_THROW(chat_template_from_config(named, "rag"), Error);
  EXPECT_THROW(chat_template_from_config(json{{"bos_token", "<s>"}}), Error);
}

TEST(TemplateSemantics, NamespaceSurvivesLoopScopesButSetDoesNot) {
  std::string t =
      "{% set ns = namespace(found=false) %}{% set plain = false %}"
      "{% for m in messages %}{% if m.role == 'system' %}{% set ns.found = true %}{% set plain = true %}{% endif %}{% endfor %}"
      "{{ ns.found }} {{ plain }}";
  EXPECT_EQ(render(t, {{"messages", {{{"role", "system"}}}}}), "True False");
}

TEST(TemplateSemantics, ListsAreSharedByReference) {
  // Jinja's sandbox forbids list.append; the value stays unchanged and calling it fails.
  EXPECT_NE(error_of("{% set xs = [1] %}{{ xs.append(2) }}").find("unsafe"), std::string::npos);
}

TEST(TemplateLexer, WhitespaceControlTokens) {
  auto toks = tmpl::lex("a  {%- if x -%}  b\n{% endif %}\nc");
  ASSERT_GE(toks.size(), 3u);
  EXPECT_EQ(toks[0].kind, tmpl::Tok::kText);
  EXPECT_EQ(toks[0].value, "a");
  // trim_blocks removes the newline after {% endif %}.
  EXPECT_EQ(toks[toks.size() - 2].value, "c");
}

TEST(TemplateSemantics, Utf8AwareStringOps) {
  EXPECT_EQ(render("{{ s | length }} {{ s[1] }} {{ s[::-1] }} {{ s.find('l') }}", {{"s", "héllo"}}), "5 é olléh 2");
}

TEST(ChatTemplateClass, FromRealTokenizerConfigUsesItsSpecialTokens) {
  std::string dir = std::string(IGNIS_ASSETS_DIR) + "/tokenizer-llama3_1/models";
  if (!std::ifstream(dir + "/tokenizer_config.json").good()) GTEST_SKIP() << "assets not fetched: run scripts/fetch-assets.sh";
  auto ct = ChatTemplate::from_model_dir(dir);
  EXPECT_EQ(ct.special_tokens()["bos_token"], "<|begin_of_text|>");
  ordered_json msgs = ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  std::string out = ct.apply(msgs, true);
  // Same as rendering the raw template with the same context by hand.
  ordered_json ctx = ct.special_tokens();
  ctx["messages"] = msgs;
  ctx["add_generation_prompt"] = true;
  EXPECT_EQ(out, render_chat_template(ct.source(), ctx));
  EXPECT_EQ(out.rfind("<|begin_of_text|>", 0), 0u) << out;
  EXPECT_NE(out.find("<|start_header_id|>assistant<|end_header_id|>"), std::string::npos) << out;
}

TEST(ChatTemplateClass, AddedTokenObjectsToolsAndExtra) {
  json cfg = {{"chat_template", "{{ bos_token }}{{ tools | length }}{{ flag }}{% for m in messages %}{{ m.content }}{% endfor %}"},
              {"bos_token", {{"content", "<B>"}, {"lstrip", false}}},
              {"eos_token", "</E>"}};
  auto ct = ChatTemplate::from_tokenizer_config(cfg);
  EXPECT_EQ(ct.apply(ordered_json::array({{{"role", "user"}, {"content", "x"}}}), false, ordered_json::array({1, 2}),
                     {{"flag", "F"}}),
            "<B>2Fx");
  EXPECT_THROW(ct.apply(ordered_json::object(), false), Error);
  EXPECT_THROW(ChatTemplate::from_model_dir("/nonexistent/dir"), Error);
}
