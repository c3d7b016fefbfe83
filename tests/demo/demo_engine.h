// The shipped models' tests: a model folder on the CPU engine, greedy generation collected.
#pragma once

#include <gtest/gtest.h>

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

// Stops in the middle of a speculative step: for every `stride`-th prompt whose greedy reference is long
// enough, three greedy requests (stop token = its 12th token, a 4-byte stop string from the middle of its
// text, max_tokens 7) on `plain` and on `spec` must end alike, with the same tokens and text. Returns how
// many requests were compared.
inline int compare_mid_step_stops(Engine& plain, Engine& spec, const std::vector<std::vector<int32_t>>& prompts,
                                  const std::vector<Collected>& ref, size_t stride, int max_tokens) {
  auto request = [](const std::vector<int32_t>& p, int n) {
    GenerateRequest r;
    r.prompt_ids = p;
    r.sampling.temperature = 0;
    r.sampling.max_tokens = n;
    return r;
  };
  int compared = 0;
  for (size_t i = 0; i < prompts.size(); i += stride) {
    const Collected& r = ref[i];
    if (r.tokens.size() < 20 || r.text.size() < 30) continue;
    std::vector<GenerateRequest> reqs;
    GenerateRequest a = request(prompts[i], max_tokens);
    a.sampling.stop_token_ids = {r.tokens[11]};  // ends where that token first comes
    reqs.push_back(a);
    GenerateRequest b = request(prompts[i], max_tokens);
    b.sampling.stop_strings = {r.text.substr(r.text.size() / 2, 4)};
    reqs.push_back(b);
    reqs.push_back(request(prompts[i], 7));  // max_tokens inside a step
    for (auto& q : reqs) {
      Collected want = collect(*plain.submit(q)), got = collect(*spec.submit(q));
      EXPECT_EQ(got.finish, want.finish);
      EXPECT_EQ(got.tokens, want.tokens);
      EXPECT_EQ(got.text, want.text);
      ++compared;
    }
  }
  return compared;
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
