// ignis rag: the prompt that grounds an answer in retrieved chunks, shared by `ignis rag ask/chat`
// and the server's POST /v1/rag/chat. The numbered chunks ("[n] (citation)\ntext") follow a fixed
// instruction in the system turn, the question is the user turn, and the model's chat template
// renders them (a template without a system role gets everything in the user turn; no template: a
// plain "Question: ...\nAnswer:" prompt). Chunks that do not fit the token budget are dropped from
// the end; a single chunk still too long is cut. Depends on core/ only: the chat template and the
// tokenizer come in as functions.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rag/index.h"

namespace ignis::rag {

// The instruction before the context passages.
extern const char* const kAnswerInstruction;

struct ChatTurn {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

// Renders turns with the model's chat template and the generation prompt; throws ignis::Error when
// the template refuses them (e.g. it has no system role). Null: the model has no chat template.
using RenderTurns = std::function<std::string(const std::vector<ChatTurn>&)>;
// Token ids of a rendered prompt (special tokens as the template wrote them, none added).
using EncodeText = std::function<std::vector<std::int32_t>(const std::string&)>;

// The context block of the first n hits, the last one cut to cut_last bytes (+ " ...") when
// 0 < cut_last < its size: "[1] (file, line 3)\ntext\n\n[2] ...".
std::string context_block(const std::vector<Hit>& hits, std::size_t n, std::size_t cut_last);

// The prompt over the first n hits. `history`: earlier user / assistant turns of a conversation,
// placed between the system turn and the question (empty for a one-shot question).
std::string render_answer_prompt(const std::string& question, const std::vector<Hit>& hits, std::size_t n,
                                 std::size_t cut_last, const RenderTurns& render,
                                 const std::vector<ChatTurn>& history = {});

struct AnswerPrompt {
  std::vector<std::int32_t> ids;
  std::size_t chunks = 0;  // how many of the hits are in it ([1] .. [chunks])
  bool cut = false;        // the last one was cut to fit
};

// The prompt with as many hits as fit in `budget` tokens (the context less the answer's tokens).
// Throws ignis::Error when the question alone (with one chunk cut short) does not fit.
AnswerPrompt fit_answer_prompt(const std::string& question, const std::vector<Hit>& hits, int budget,
                               const RenderTurns& render, const EncodeText& encode,
                               const std::vector<ChatTurn>& history = {});

}  // namespace ignis::rag
