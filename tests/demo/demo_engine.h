// The shipped models' tests: a model folder on the CPU engine, greedy generation collected.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
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

// The demo's test prompts: the training script's completion prompts (eval_golden.json) and windows of
// held-out Python code, `count` in all.
inline std::vector<std::vector<int32_t>> demo_prompts(const std::filesystem::path& dir, const Tokenizer& tok,
                                                      size_t count = 7) {
  std::vector<std::vector<int32_t>> prompts;
  nlohmann::json golden = nlohmann::json::parse(std::ifstream(dir / "eval_golden.json"));
  for (auto& c : golden["completions"]) prompts.push_back(c["prompt_ids"].get<std::vector<int32_t>>());
  std::stringstream ss;
  ss << std::ifstream(dir / "heldout.txt").rdbuf();
  const std::vector<int32_t> ids = tok.encode(ss.str(), false);
  for (size_t start = 0, len = 20; prompts.size() < count && start + len < ids.size(); start += 997, len += 13) {
    std::vector<int32_t> p = {1};  // BOS
    p.insert(p.end(), ids.begin() + long(start), ids.begin() + long(start + len));
    prompts.push_back(p);
  }
  return prompts;
}

// A greedy request (temperature 0), or a seeded sampled one.
inline GenerateRequest demo_request(const std::vector<int32_t>& p, int max_tokens, float temperature = 0,
                                    uint64_t seed = 0) {
  GenerateRequest r;
  r.prompt_ids = p;
  r.sampling.temperature = temperature;
  if (temperature > 0) r.sampling.seed = seed;
  r.sampling.max_tokens = max_tokens;
  return r;
}

// Every stream ended without an error, with the reference's tokens and text.
inline void expect_same_outputs(const std::vector<Collected>& got, const std::vector<Collected>& ref) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NE(got[i].finish, FinishReason::Error) << got[i].error;
    EXPECT_EQ(got[i].tokens, ref[i].tokens) << "prompt " << i;
    EXPECT_EQ(got[i].text, ref[i].text) << "prompt " << i;
  }
}

// The engine's stats once nothing runs and no KV block is held (or after about 2 s).
inline EngineStats wait_idle(Engine& e) {
  EngineStats s = e.stats();
  for (int i = 0; i < 2000 && (s.running || s.kv_blocks_used); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s = e.stats();
  }
  return s;
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

// Every prompt on `e` at once, every third opting out of speculation: the outputs are the
// reference, the engine speculated and holds no KV block at the end. Returns its idle stats (the
// caller checks preemptions: the engines of these tests are too small for every sequence at once).
inline EngineStats expect_mixed_opt_out_identical(Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                                                  const std::vector<Collected>& ref, int max_tokens) {
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest r = demo_request(prompts[i], max_tokens);
    r.speculative = i % 3 != 1;  // some opt out
    hs.push_back(e.submit(r));
  }
  std::vector<Collected> got;
  for (auto& h : hs) got.push_back(collect(*h));
  expect_same_outputs(got, ref);
  EngineStats s = wait_idle(e);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
  return s;
}

// Seeded sampled requests (temperature 0.8, top-p 0.95, repetition penalty 1.1: the rows' own
// histories, output + their path) for every `stride`-th prompt: the same tokens on `plain` and on
// `spec`, which speculated and holds no KV block at the end.
inline void expect_seeded_sampling_identical(Engine& plain, Engine& spec, const std::vector<std::vector<int32_t>>& prompts,
                                             size_t stride, int max_tokens) {
  for (size_t i = 0; i < prompts.size(); i += stride) {
    GenerateRequest q = demo_request(prompts[i], max_tokens, 0.8f, 1000 + i);
    q.sampling.top_p = 0.95f;
    q.sampling.repetition_penalty = 1.1f;
    Collected want = collect(*plain.submit(q)), got = collect(*spec.submit(q));
    ASSERT_NE(got.finish, FinishReason::Error) << got.error;
    EXPECT_EQ(got.tokens, want.tokens) << "prompt " << i;
  }
  EngineStats s = wait_idle(spec);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
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
