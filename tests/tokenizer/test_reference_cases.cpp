// Independent reference cases: the test tables shipped in npm llama3-tokenizer-js@1.2.0
// (src/llama3-tokenizer.js, ids without BOS) and mistral-tokenizer-js@1.0.0
// (mistral-tokenizer.js, ids with BOS), checked against both encode and decode.
#include "common.h"

namespace ignis::test {
namespace {

struct Case {
  const char* text;
  std::vector<int32_t> ids;
};

void check(const Tokenizer& tok, const std::vector<Case>& cases, bool add_special, bool skip_special, const char* what) {
  for (const auto& c : cases) {
    EXPECT_EQ(tok.encode(c.text, add_special), c.ids) << what << ": '" << printable(c.text) << "'";
    EXPECT_EQ(tok.decode(c.ids, skip_special), c.text) << what << ": decode of '" << printable(c.text) << "'";
  }
}

TEST(ReferenceCases, Llama3TokenizerJs) {
  IGNIS_TOKENIZER_OR_SKIP(tok, "llama3");
  check(*tok,
        {{"grabbed", {59312, 2788}},
         {" grabbed", {30418}},
         {"           grabbed", {1881, 30418}},
         {"\n", {198}},
         {" \n", {720}},
         {"\ttabs\t\t\t\tout here", {3324, 3518, 573, 14294, 1618}},
         {"ax\n####\nboo", {710, 198, 71050, 34093}},
         {"\xE9\x95\x87", {104643}},                                          // 镇
         {"\xF0\x9F\xA6\x99", {9468, 99, 247}},                               // 🦙
         {"\xF0\x9F\xA6\x99\xEA\x99\x8A", {9468, 99, 247, 166, 247, 232}},    // 🦙Ꙋ
         {"\xEA\x99\x8A\xF0\x9F\xA6\x99", {166, 247, 232, 9468, 99, 247}},    // Ꙋ🦙
         {"This is a test sentence.", {2028, 374, 264, 1296, 11914, 13}},
         // <|eom_id|> (128008) of the original case is a Llama 3.1 token; this Llama 3.0 vocab
         // has <|eot_id|> (128009) instead.
         {"<|start_header_id|>This text has special tokens<|eot_id|> in the middle of it.<|end_header_id|><|eot_id|>",
          {128006, 2028, 1495, 706, 3361, 11460, 128009, 304, 279, 6278, 315, 433, 13, 128007, 128009}}},
        false, false, "llama3");
  EXPECT_EQ(tok->decode({128000, 2028, 374, 264, 1296, 11914, 13, 128001}, false),
            "<|begin_of_text|>This is a test sentence.<|end_of_text|>");
}

TEST(ReferenceCases, MistralTokenizerJs) {
  IGNIS_TOKENIZER_OR_SKIP(tok, "mistral");
  check(*tok,
        {{"grabbed", {1, 13300}},
         {"           grabbed", {1, 17422, 13300}},
         {"ax\n####\nboo", {1, 6056, 13, 2000, 13, 1798, 28709}},
         {"\xF0\x9F\xA6\x99\xEA\x99\x8A", {1, 28705, 243, 162, 169, 156, 237, 156, 141}},
         {"\xEA\x99\x8A\xF0\x9F\xA6\x99", {1, 28705, 237, 156, 141, 243, 162, 169, 156}}},
        true, true, "mistral");
  // These decode with the SentencePiece leading space removed (HF Strip decoder) or
  // keep an extra "▁" piece, so only the ids are compared.
  EXPECT_EQ(tok->encode(" grabbed", true), (std::vector<int32_t>{1, 28705, 13300}));
  EXPECT_EQ(tok->encode("\n", true), (std::vector<int32_t>{1, 28705, 13}));
  EXPECT_EQ(tok->encode(" \n", true), (std::vector<int32_t>{1, 259, 13}));
  EXPECT_EQ(tok->encode("\ttabs\t\t\t\tout here", true),
            (std::vector<int32_t>{1, 28705, 12, 24856, 12, 12, 12, 12, 406, 1236}));
  EXPECT_EQ(tok->encode("\xE9\x95\x87", true), (std::vector<int32_t>{1, 28705, 29780}));
  EXPECT_EQ(tok->encode("\xF0\x9F\xA6\x99", true), (std::vector<int32_t>{1, 28705, 243, 162, 169, 156}));
}

}  // namespace
}  // namespace ignis::test
