// StreamDecoder: token-by-token output concatenates to the one-shot decode, never
// emits broken UTF-8, and keeps SentencePiece's leading space after a prompt.
#include "common.h"
#include "tokenizer/utf8.h"

namespace ignis::test {
namespace {

class Stream : public ::testing::TestWithParam<const char*> {};

TEST_P(Stream, TokenByTokenEqualsOneShotDecode) {
  std::string name = GetParam();
  IGNIS_TOKENIZER_OR_SKIP(tok, name);
  auto corpus = read_json_file(tokenizer_data_dir() / "corpus.json");
  int bad = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    auto ids = tok->encode(corpus[i].get<std::string>(), true);
    for (bool skip : {false, true}) {
      StreamDecoder sd(*tok, {}, skip);
      std::string acc;
      bool utf8_ok = true;
      for (int32_t id : ids) {
        std::string piece = sd.push(id);
        utf8_ok = utf8_ok && tok::is_valid_utf8(piece);
        acc += piece;
      }
      std::string tail = sd.flush();
      acc += tail;
      std::string want = tok->decode(ids, skip);
      if ((acc != want || !utf8_ok) && ++bad <= 5)
        ADD_FAILURE() << name << " case " << i << " skip=" << skip << (utf8_ok ? "" : " emitted broken UTF-8")
                      << "\n  stream  '" << printable(acc) << "'\n  oneshot '" << printable(want) << "'";
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(Stream, ContinuationAfterPromptMatchesFullDecode) {
  std::string name = GetParam();
  IGNIS_TOKENIZER_OR_SKIP(tok, name);
  auto corpus = read_json_file(tokenizer_data_dir() / "corpus.json");
  int checked = 0;
  for (size_t i = 0; i < corpus.size(); i += 3) {
    auto ids = tok->encode(corpus[i].get<std::string>(), true);
    if (ids.size() < 4) continue;
    size_t cut = ids.size() / 2;
    std::vector<int32_t> prompt(ids.begin(), ids.begin() + cut);
    std::string full = tok->decode(ids, true), head = tok->decode(prompt, true);
    // Only where the prompt text is a clean prefix (not inside a split UTF-8 character).
    if (full.compare(0, head.size(), head) != 0 || !tok::is_valid_utf8(head) || head.find("\xEF\xBF\xBD") != std::string::npos)
      continue;
    StreamDecoder sd(*tok, prompt, true);
    std::string acc;
    for (size_t k = cut; k < ids.size(); ++k) acc += sd.push(ids[k]);
    acc += sd.flush();
    EXPECT_EQ(acc, full.substr(head.size())) << name << " case " << i;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Stream, ::testing::ValuesIn(kTokenizerNames));

TEST(StreamSentencePiece, FirstGeneratedTokenKeepsLeadingSpace) {
  IGNIS_TOKENIZER_OR_SKIP(tok, "mistral");
  auto prompt = tok->encode("Hello", true);      // <s> ▁Hello
  auto gen = tok->encode("world peace", false);  // ▁world ▁peace
  StreamDecoder sd(*tok, prompt, true);
  std::string acc;
  for (int32_t id : gen) acc += sd.push(id);
  acc += sd.flush();
  EXPECT_EQ(acc, " world peace");
  // Without a prompt the SentencePiece leading space is stripped, like decode().
  StreamDecoder bare(*tok, {}, true);
  std::string acc2;
  for (int32_t id : gen) acc2 += bare.push(id);
  EXPECT_EQ(acc2 + bare.flush(), "world peace");
}

TEST(StreamByteLevel, HoldsBackSplitCharacter) {
  IGNIS_TOKENIZER_OR_SKIP(tok, "llama3");
  // A rare CJK character is split over several byte-level tokens: nothing may be
  // emitted until it is complete.
  std::string text = "\xF0\xA0\x80\x8B";  // U+2000B
  auto ids = tok->encode(text, false);
  ASSERT_GT(ids.size(), 1u);
  StreamDecoder sd(*tok, {}, true);
  std::string acc;
  for (size_t k = 0; k + 1 < ids.size(); ++k) EXPECT_EQ(sd.push(ids[k]), "");
  acc = sd.push(ids.back());
  EXPECT_EQ(acc, text);
}

}  // namespace
}  // namespace ignis::test
