// ignis rag: the grounded-answer prompt (rag/answer.h).
#include "rag/answer.h"

#include <fmt/format.h>

#include "core/error.h"

namespace ignis::rag {

const char* const kAnswerInstruction =
    "Answer the question using only the numbered context passages below. Cite the passages you use as [n]. "
    "If the answer is not in them, say that the documents do not say.";

std::string context_block(const std::vector<Hit>& hits, std::size_t n, std::size_t cut_last) {
  std::string ctx;
  for (std::size_t i = 0; i < n && i < hits.size(); i++) {
    std::string text = hits[i].text;
    if (i + 1 == n && cut_last > 0 && cut_last < text.size()) text = text.substr(0, cut_last) + " ...";
    ctx += fmt::format("[{}] ({})\n{}\n\n", i + 1, cite(hits[i]), text);
  }
  return ctx;
}

std::string render_answer_prompt(const std::string& question, const std::vector<Hit>& hits, std::size_t n,
                                 std::size_t cut_last, const RenderTurns& render,
                                 const std::vector<ChatTurn>& history) {
  const std::string system = std::string(kAnswerInstruction) + "\n\nContext:\n\n" + context_block(hits, n, cut_last);
  if (!render) {
    std::string plain = system;
    for (const ChatTurn& t : history) plain += (t.role == "assistant" ? "Answer: " : "Question: ") + t.content + "\n";
    return plain + "Question: " + question + "\nAnswer:";
  }
  std::vector<ChatTurn> turns{{"system", system}};
  turns.insert(turns.end(), history.begin(), history.end());
  turns.push_back({"user", question});
  try {
    return render(turns);
  } catch (const Error&) {  // a template without a system role: the context goes in the first user turn
    turns.erase(turns.begin());
    ChatTurn& first = turns.front();  // a user turn (history starts with one, else the question)
    first.content = system + "Question: " + first.content;
    return render(turns);
  }
}

AnswerPrompt fit_answer_prompt(const std::string& question, const std::vector<Hit>& hits, int budget,
                               const RenderTurns& render, const EncodeText& encode,
                               const std::vector<ChatTurn>& history) {
  IGNIS_CHECK(budget > 0, "no room for the prompt in the model's context");
  AnswerPrompt p;
  p.chunks = hits.size();
  std::size_t cut = 0;
  p.ids = encode(render_answer_prompt(question, hits, p.chunks, 0, render, history));
  while (int(p.ids.size()) > budget && p.chunks > 1)
    p.ids = encode(render_answer_prompt(question, hits, --p.chunks, 0, render, history));
  if (int(p.ids.size()) > budget && p.chunks == 1) {  // even one chunk is too long: cut it
    cut = hits[0].text.size();
    while (int(p.ids.size()) > budget && cut > 16) {
      cut = cut * 3 / 4;
      p.ids = encode(render_answer_prompt(question, hits, 1, cut, render, history));
    }
    p.cut = true;
  }
  IGNIS_CHECK(int(p.ids.size()) <= budget,
              "the question does not fit the model's context ({} tokens with the shortest context, {} allowed)",
              p.ids.size(), budget);
  return p;
}

}  // namespace ignis::rag
