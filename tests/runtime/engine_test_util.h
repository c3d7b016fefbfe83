// Helpers shared by the engine tests.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "fake_model.h"
#include "runtime/engine.h"

namespace ignis::testing {

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::None;
  std::string error;
  int chunks = 0;
};

// Reads every chunk of `h` until the terminal one (or fails after `timeout`).
inline Collected collect(RequestHandle& h, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  Collected c;
  StreamChunk ch;
  while (h.next(&ch, timeout)) {
    ++c.chunks;
    c.tokens.insert(c.tokens.end(), ch.tokens.begin(), ch.tokens.end());
    c.text += ch.text;
    if (ch.finish != FinishReason::None) {
      c.finish = ch.finish;
      c.error = ch.error;
      return c;
    }
  }
  c.error = "timeout";
  return c;
}

inline GenerateRequest greedy_request(std::vector<int32_t> prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt_ids = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  return r;
}

// Polls until the engine has no running/queued request and no used block.
inline EngineStats wait_idle(const Engine& e, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  EngineStats s = e.stats();
  while (std::chrono::steady_clock::now() < until) {
    s = e.stats();
    if (s.running == 0 && s.queued == 0 && s.kv_blocks_used == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return s;
}

}  // namespace ignis::testing
