// The grounded-answer prompt (rag/answer.h) shared by `ignis rag ask` and POST /v1/rag/chat:
// numbered chunks with citations in the system turn, the question as the user turn, the
// fallback for templates without a system role, the plain prompt without a template, history
// turns, and fitting a token budget (trailing chunks dropped, then the one left cut).
#include <gtest/gtest.h>

#include "core/error.h"
#include "rag/answer.h"

using namespace ignis;
using namespace ignis::rag;

namespace {

Hit hit(const std::string& file, int line, const std::string& text) {
  Hit h;
  h.file = file;
  h.line = line;
  h.text = text;
  return h;
}

// "<role>:content|" per turn.
std::string flat(const std::vector<ChatTurn>& turns) {
  std::string s;
  for (const auto& t : turns) s += t.role + ":" + t.content + "|";
  return s;
}

std::vector<std::int32_t> bytes(const std::string& s) { return std::vector<std::int32_t>(s.begin(), s.end()); }

}  // namespace

TEST(RagAnswer, ContextBlockNumbersAndCites) {
  std::vector<Hit> hits = {hit("a.txt", 2, "alpha text"), hit("b.md", 5, "beta text")};
  EXPECT_EQ(context_block(hits, 2, 0), "[1] (a.txt, line 2)\nalpha text\n\n[2] (b.md, line 5)\nbeta text\n\n");
  EXPECT_EQ(context_block(hits, 1, 3), "[1] (a.txt, line 2)\nalp ...\n\n");
  EXPECT_EQ(context_block(hits, 0, 0), "");
}

TEST(RagAnswer, SystemTurnThenQuestion) {
  std::vector<Hit> hits = {hit("a.txt", 2, "alpha")};
  std::vector<ChatTurn> seen;
  RenderTurns render = [&](const std::vector<ChatTurn>& t) {
    seen = t;
    return flat(t);
  };
  std::string p = render_answer_prompt("why?", hits, 1, 0, render);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].role, "system");
  EXPECT_EQ(seen[0].content, std::string(kAnswerInstruction) + "\n\nContext:\n\n[1] (a.txt, line 2)\nalpha\n\n");
  EXPECT_EQ(seen[1].role, "user");
  EXPECT_EQ(seen[1].content, "why?");
  // History goes between the system turn and the question.
  render_answer_prompt("and then?", hits, 1, 0, render, {{"user", "why?"}, {"assistant", "because"}});
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].content, "why?");
  EXPECT_EQ(seen[2].role, "assistant");
  EXPECT_EQ(seen[3].content, "and then?");
}

TEST(RagAnswer, TemplateWithoutSystemRoleGetsContextInTheFirstUserTurn) {
  std::vector<Hit> hits = {hit("a.txt", 2, "alpha")};
  RenderTurns no_system = [](const std::vector<ChatTurn>& t) {
    for (const auto& x : t) IGNIS_CHECK(x.role != "system", "System role not supported");
    return flat(t);
  };
  const std::string sys = std::string(kAnswerInstruction) + "\n\nContext:\n\n[1] (a.txt, line 2)\nalpha\n\n";
  EXPECT_EQ(render_answer_prompt("why?", hits, 1, 0, no_system), "user:" + sys + "Question: why?|");
  EXPECT_EQ(render_answer_prompt("more?", hits, 1, 0, no_system, {{"user", "why?"}, {"assistant", "b"}}),
            "user:" + sys + "Question: why?|assistant:b|user:more?|");
}

TEST(RagAnswer, PlainPromptWithoutTemplate) {
  std::vector<Hit> hits = {hit("a.txt", 2, "alpha")};
  std::string p = render_answer_prompt("why?", hits, 1, 0, nullptr);
  EXPECT_EQ(p.rfind(kAnswerInstruction, 0), 0u);
  EXPECT_NE(p.find("[1] (a.txt, line 2)\nalpha"), std::string::npos);
  const std::string tail = "\n\nQuestion: why?\nAnswer:";
  ASSERT_GT(p.size(), tail.size());
  EXPECT_EQ(p.substr(p.size() - tail.size()), tail);
}

TEST(RagAnswer, FitDropsTrailingChunksThenCuts) {
  std::vector<Hit> hits = {hit("a.txt", 1, std::string(300, 'a')), hit("b.txt", 1, std::string(300, 'b')),
                           hit("c.txt", 1, std::string(300, 'c'))};
  const size_t all = render_answer_prompt("q", hits, 3, 0, nullptr).size();
  const size_t two = render_answer_prompt("q", hits, 2, 0, nullptr).size();
  AnswerPrompt p = fit_answer_prompt("q", hits, int(all), nullptr, bytes);
  EXPECT_EQ(p.chunks, 3u);
  EXPECT_FALSE(p.cut);
  EXPECT_EQ(p.ids, bytes(render_answer_prompt("q", hits, 3, 0, nullptr)));
  p = fit_answer_prompt("q", hits, int(all) - 1, nullptr, bytes);
  EXPECT_EQ(p.chunks, 2u);
  EXPECT_EQ(p.ids.size(), two);
  const size_t one = render_answer_prompt("q", hits, 1, 0, nullptr).size();
  p = fit_answer_prompt("q", hits, int(one) - 100, nullptr, bytes);
  EXPECT_EQ(p.chunks, 1u);
  EXPECT_TRUE(p.cut);
  EXPECT_LE(p.ids.size(), one - 100);
  EXPECT_THROW(fit_answer_prompt("q", hits, 50, nullptr, bytes), Error);  // the instruction alone is longer
  EXPECT_THROW(fit_answer_prompt("q", hits, 0, nullptr, bytes), Error);
  // No hits: the prompt without context.
  p = fit_answer_prompt("q", {}, 10000, nullptr, bytes);
  EXPECT_EQ(p.chunks, 0u);
}
