// Detokenized streaming text and stop strings through the engine, with a tiny fake
// tokenizer (token i -> a 1- or 2-character piece) over the FakeModel.
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "piece_tokenizer.h"

using namespace ignis;
using namespace ignis::testing;

namespace {

EngineConfig cfg() {
  EngineConfig c;
  c.kv_block_size = 8;
  c.kv_num_blocks = 32;
  return c;
}

const std::vector<int32_t> kPrompt = {5, 9, 14, 20, 33};

}  // namespace

TEST(EngineText, StreamsDetokenizedText) {
  auto tok = std::make_shared<PieceTokenizer>();
  Engine e(std::make_unique<FakeModel>(), cfg(), tok);
  Collected c = collect(*e.submit(greedy_request(kPrompt, 30)));
  ASSERT_EQ(c.finish, FinishReason::Length);
  EXPECT_EQ(c.text, tok->decode(c.tokens, true));
  EXPECT_GT(c.chunks, 1);  // streamed, not one blob
  auto no_text = greedy_request(kPrompt, 30);
  no_text.detokenize = false;
  Collected c2 = collect(*e.submit(no_text));
  EXPECT_EQ(c2.tokens, c.tokens);
  EXPECT_EQ(c2.text, "");
}

TEST(EngineText, StopStringEndsGenerationAndIsNotEmitted) {
  auto tok = std::make_shared<PieceTokenizer>();
  Engine e(std::make_unique<FakeModel>(), cfg(), tok);
  Collected base = collect(*e.submit(greedy_request(kPrompt, 40)));
  const std::string full = base.text;
  ASSERT_GE(full.size(), 20u);
  // A stop string spanning pieces in the middle of the output.
  const std::string stop = full.substr(10, 3);
  const size_t pos = full.find(stop);
  size_t ntok = 0, len = 0;
  while (len < pos + stop.size()) len += PieceTokenizer::piece(base.tokens[ntok++]).size();

  auto r = greedy_request(kPrompt, 40);
  r.sampling.stop_strings = {"never-there", stop};
  Collected c = collect(*e.submit(r));
  EXPECT_EQ(c.finish, FinishReason::Stop);
  EXPECT_EQ(c.text, full.substr(0, pos));
  EXPECT_EQ(c.tokens, std::vector<int32_t>(base.tokens.begin(), base.tokens.begin() + long(ntok)));
}

TEST(EngineText, HeldBackTailIsReleasedAtLength) {
  auto tok = std::make_shared<PieceTokenizer>();
  Engine e(std::make_unique<FakeModel>(), cfg(), tok);
  Collected base = collect(*e.submit(greedy_request(kPrompt, 12)));
  // A stop string that starts with the output's last character but never completes:
  // that character is held back while streaming and must still come out at the end.
  auto r = greedy_request(kPrompt, 12);
  r.sampling.stop_strings = {std::string(1, base.text.back()) + "#"};
  Collected c = collect(*e.submit(r));
  EXPECT_EQ(c.finish, FinishReason::Length);
  EXPECT_EQ(c.text, base.text);
}
