// Tool calling (server/tool_calls.h): the family a chat template belongs to, the whole-text and
// streamed parse of each family's call syntax (content before a call, several calls, arguments as
// JSON text, held-back markers, text that only looked like a call), and the tool_choice grammar's
// shape. The grammar's effect on generation is tested end to end in tests/server/tools.mjs.
#include <gtest/gtest.h>

#include <regex>

#include "server/tool_calls.h"

using namespace ignis::server;

namespace {

// Every split of `text` into two pushes gives the same events' concatenations as one push.
ToolParse streamed(ToolFormat f, const std::string& text, size_t step) {
  ToolCallParser p(f);
  std::vector<ToolEvent> ev;
  for (size_t at = 0; at < text.size(); at += step) p.push(std::string_view(text).substr(at, step), ev);
  p.finish(ev);
  ToolParse r;
  for (auto& e : ev) {
    if (e.kind == ToolEvent::Kind::Content) r.content += e.text;
    else if (e.kind == ToolEvent::Kind::Call) r.calls.push_back({e.id, e.name, ""});
    else r.calls.at(e.index).arguments += e.text;
  }
  return r;
}

void expect_same_for_every_step(ToolFormat f, const std::string& text) {
  const ToolParse whole = parse_tool_calls(f, text);
  for (size_t step = 1; step <= text.size(); ++step) {
    const ToolParse s = streamed(f, text, step);
    ASSERT_EQ(s.content, whole.content) << "step " << step;
    ASSERT_EQ(s.calls.size(), whole.calls.size()) << "step " << step;
    for (size_t i = 0; i < s.calls.size(); ++i) {
      EXPECT_EQ(s.calls[i].name, whole.calls[i].name);
      EXPECT_EQ(s.calls[i].arguments, whole.calls[i].arguments);
    }
  }
}

}  // namespace

TEST(ToolCalls, DetectsTheFamilyFromTheTemplate) {
  EXPECT_EQ(detect_tool_format("{%- for tool in tools %}<tool_call>\\n{{ tool }}</tool_call>{% endfor %}"), ToolFormat::Hermes);
  EXPECT_EQ(detect_tool_format("{{ '[AVAILABLE_TOOLS] ' + tools|tojson + '[/AVAILABLE_TOOLS]' }}"), ToolFormat::Mistral);
  EXPECT_EQ(detect_tool_format("{{- '<|python_tag|>' + tool_call.name }}"), ToolFormat::Llama3Json);
  EXPECT_EQ(detect_tool_format("<|start_header_id|>system<|end_header_id|>{% if tools %}{{ tools }}{% endif %}"),
            ToolFormat::Llama3Json);
  EXPECT_EQ(detect_tool_format("{% for m in messages %}{{ m.content }}{% endfor %}"), ToolFormat::None);
}

TEST(ToolCalls, HermesContentThenTwoCalls) {
  const std::string t =
      "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET {x}\"}}\n</tool_call>";
  ToolParse p = parse_tool_calls(ToolFormat::Hermes, t);
  EXPECT_EQ(p.content, "Let me look.\n");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(p.calls[0].arguments), nlohmann::json({{"city", "Paris"}, {"days", 2}}));
  EXPECT_EQ(nlohmann::json::parse(p.calls[1].arguments)["tz"], "CET {x}");  // braces inside strings
  EXPECT_TRUE(std::regex_match(p.calls[0].id, std::regex("call_[A-Za-z0-9]{24}")));
  EXPECT_NE(p.calls[0].id, p.calls[1].id);
  expect_same_for_every_step(ToolFormat::Hermes, t);
  // parallel_tool_calls false: the first call only
  EXPECT_EQ(parse_tool_calls(ToolFormat::Hermes, t, 1).calls.size(), 1u);
}

TEST(ToolCalls, ArgumentsStreamAsTheyArrive) {
  ToolCallParser p(ToolFormat::Hermes);
  std::vector<ToolEvent> ev;
  p.push("<tool_call>\n{\"name\": \"get_weather\", \"argu", ev);
  EXPECT_TRUE(ev.empty());  // the head is not complete yet
  p.push("ments\": {\"city\": \"Par", ev);
  ASSERT_EQ(ev.size(), 2u);  // the call (id, name) as soon as its arguments open, then their first piece
  EXPECT_EQ(ev[0].kind, ToolEvent::Kind::Call);
  EXPECT_EQ(ev[0].name, "get_weather");
  EXPECT_EQ(ev[1].text, "{\"city\": \"Par");
  p.push("is\", \"note\": \"}{\"}}\n</tool_call>", ev);
  p.finish(ev);
  std::string args;
  for (auto& e : ev)
    if (e.kind == ToolEvent::Kind::Arguments) args += e.text;
  EXPECT_EQ(args, "{\"city\": \"Paris\", \"note\": \"}{\"}");  // braces in strings do not end it
  EXPECT_EQ(nlohmann::json::parse(args)["note"], "}{");
  EXPECT_EQ(p.num_calls(), 1u);
  // cut off inside the arguments: the call still counts (finish_reason comes from max_tokens)
  ToolCallParser q(ToolFormat::Hermes);
  q.push("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": ", ev);
  q.finish(ev);
  EXPECT_EQ(q.num_calls(), 1u);
}

TEST(ToolCalls, LlamaBareJsonAndPythonTag) {
  const std::string bare = "  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}";
  ToolParse p = parse_tool_calls(ToolFormat::Llama3Json, bare);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{\"city\": \"Oslo\"}");  // the model's own text of the object
  expect_same_for_every_step(ToolFormat::Llama3Json, bare);
  const std::string tagged = "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": [1]}}";
  p = parse_tool_calls(ToolFormat::Llama3Json, tagged);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[1].name, "b");
  expect_same_for_every_step(ToolFormat::Llama3Json, tagged);
  // prose that merely contains braces later is content
  p = parse_tool_calls(ToolFormat::Llama3Json, "Use {\"name\": \"x\"} like this.");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "Use {\"name\": \"x\"} like this.");
}

TEST(ToolCalls, MistralListWithAndWithoutTheMarker) {
  const std::string t = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1}}, {\"name\": \"g\", \"arguments\": \"{\\\"b\\\": 2}\"}]";
  ToolParse p = parse_tool_calls(ToolFormat::Mistral, t);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[1].arguments, "{\"b\": 2}");  // arguments given as JSON text are passed through
  expect_same_for_every_step(ToolFormat::Mistral, t);
  // [TOOL_CALLS] is a special token the detokenizer drops: the bare list counts
  p = parse_tool_calls(ToolFormat::Mistral, " [ {\"name\": \"f\", \"arguments\": {}}]");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{}");
}

TEST(ToolCalls, MarkersAreHeldBackAndFalseStartsComeBack) {
  ToolCallParser p(ToolFormat::Hermes);
  std::vector<ToolEvent> ev;
  p.push("Hi <tool", ev);  // could begin <tool_call>: held
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "Hi ");
  p.push("box> done", ev);  // it did not
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].text, "<toolbox> done");
  // a marker with no complete call after it is content at the end
  ToolParse r = parse_tool_calls(ToolFormat::Hermes, "x <tool_call>{\"name\": ");
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.content, "x <tool_call>{\"name\": ");
}

TEST(ToolCalls, GrammarNamesTheFormatAndTheTools) {
  const json tools = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"},
                     "hours": {"type": "array", "items": {"type": "number"}}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "noop"}}])");
  const std::string g = tool_call_grammar(ToolFormat::Hermes, tools, "", true);
  EXPECT_NE(g.find("root ::= call (\"\\n\" call)*"), std::string::npos) << g;
  EXPECT_NE(g.find("<tool_call>"), std::string::npos);
  EXPECT_NE(g.find("get_weather"), std::string::npos);
  EXPECT_NE(g.find("noop"), std::string::npos);
  EXPECT_NE(g.find("\"\\\"c\\\"\" | \"\\\"f\\\"\""), std::string::npos) << g;  // the enum's JSON literals
  const std::string named = tool_call_grammar(ToolFormat::Mistral, tools, "noop", false);
  EXPECT_EQ(named.find("get_weather"), std::string::npos);
  EXPECT_NE(named.find("root ::= \"[TOOL_CALLS][\" obj \"]\""), std::string::npos) << named;
  const std::string llama = tool_call_grammar(ToolFormat::Llama3Json, tools, "get_weather", false);
  EXPECT_NE(llama.find("\\\"parameters\\\": "), std::string::npos) << llama;
  EXPECT_THROW(tool_call_grammar(ToolFormat::Hermes, tools, "nope", false), ignis::Error);
}
