// The shipped models' tests: a model folder on the CPU engine, greedy generation collected.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace ignis::test {

inline std::unique_ptr<Engine> cpu_engine(const std::filesystem::path& dir, std::shared_ptr<const Tokenizer> tok) {
  ModelLoadOptions lo;
  lo.device = "cpu";
  LoadedModel lm = load_model(dir, lo);
  EngineConfig ec;
  ec.kv_num_blocks = lm.kv_num_blocks;
  return std::make_unique<Engine>(std::move(lm.model), ec, std::move(tok));
}

// A request's stream, collected: tokens, text, how it ended, chunks received.
struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::None;
  std::string error;
  int chunks = 0;
};

inline Collected collect(RequestHandle& h) {
  Collected o;
  StreamChunk c;
  while (h.next(&c, std::chrono::seconds(120))) {
    ++o.chunks;
    o.tokens.insert(o.tokens.end(), c.tokens.begin(), c.tokens.end());
    o.text += c.text;
    if (c.finish != FinishReason::None) {
      o.finish = c.finish;
      o.error = c.error;
      break;
    }
  }
  return o;
}

// Greedy continuation of `prompt`, at most max_tokens: the tokens and their streamed text.
inline std::vector<int32_t> greedy(Engine& engine, const std::vector<int32_t>& prompt, int max_tokens, std::string* text) {
  GenerateRequest r;
  r.prompt_ids = prompt;
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  auto h = engine.submit(r);
  std::vector<int32_t> got;
  StreamChunk ch;
  while (h->next(&ch)) {
    got.insert(got.end(), ch.tokens.begin(), ch.tokens.end());
    *text += ch.text;
    if (ch.finish != FinishReason::None) break;
  }
  return got;
}

}  // namespace ignis::test
