// WordPiece / BertNormalizer / BertPreTokenizer / TemplateProcessing pairs / WordPiece
// decoder against hand-computed HF `tokenizers` results (tests/data/encoder has the
// goldens from the real library once tools/golden/make_encoder_tokenizers.py has run).
#include "common.h"
#include "core/error.h"
#include "encoder_tok_common.h"
#include "tokenizer/bert_normalizer.h"

namespace ignis::test {
namespace {

using V = std::vector<int32_t>;

TEST(WordPiece, BasicBertPipeline) {
  auto t = make_tok(bert_json());
  EXPECT_EQ(t->encode("Hello, World!"), (V{2, 5, 11, 6, 12, 3}));
  EXPECT_EQ(t->encode("Hello, World!", false), (V{5, 11, 6, 12}));
  EXPECT_EQ(t->encode("unaffable hellos"), (V{2, 8, 9, 10, 5, 7, 3}));
  EXPECT_EQ(t->encode("", true), (V{2, 3}));
}

TEST(WordPiece, UnknownWordsAndLongWords) {
  auto t = make_tok(bert_json());
  EXPECT_EQ(t->encode("xyz", false), (V{1}));          // no piece covers 'x'
  EXPECT_EQ(t->encode("helloz world", false), (V{1, 6}));  // "hello" matches, "##z" does not: whole word unk
  EXPECT_EQ(t->encode("aaaaaaaaaa", false), (V{16, 17, 17, 17, 17, 17, 17, 17, 17, 17}));  // 10 chars
  EXPECT_EQ(t->encode("aaaaaaaaaaa", false), (V{1}));  // 11 > max_input_chars_per_word
}

TEST(WordPiece, NormalizerSteps) {
  auto t = make_tok(bert_json());
  EXPECT_EQ(t->encode("Caf\xC3\xA9", false), (V{13}));            // accents stripped (follows lowercase)
  EXPECT_EQ(t->encode("Cafe\xCC\x81", false), (V{13}));           // decomposed accent too
  EXPECT_EQ(t->encode("\xE4\xB8\xAD\xE6\x96\x87", false), (V{14, 15}));  // CJK split apart
  EXPECT_EQ(t->encode("hel\x01lo\x7f", false), (V{5}));          // controls removed
  EXPECT_EQ(t->encode("hello\xC2\xA0world\tworld", false), (V{5, 6, 6}));  // NBSP and tab are spaces
  EXPECT_EQ(t->encode("hello\xE2\x80\x8Bworld", false), (V{1}));  // U+200B (Cf) removed: "helloworld" -> unk
  EXPECT_EQ(t->encode("$5", false), (V{18, 19}));                 // ASCII symbols split as punctuation
  EXPECT_EQ(t->encode("hello\xE2\x80\x94world", false), (V{5, 1, 6}));  // em dash (Pd) isolated, unknown
  EXPECT_EQ(t->encode("hello\xE2\x82\xACworld", false), (V{1}));  // euro sign (Sc) is not punctuation

  EXPECT_EQ(tok::bert_clean_text("a\x0b" "b\x0c" "c\xC2\x85" "d\xEF\xBF\xBD" "e\t\r\n"), "abcde   ");
  EXPECT_EQ(tok::bert_pad_chinese("a\xE4\xB8\xAD" "b"), "a \xE4\xB8\xAD b");
  EXPECT_EQ(tok::lowercase_chars("\xC3\x89T\xC3\x89 \xCE\xA3"), "\xC3\xA9t\xC3\xA9 \xCF\x83");  // ÉTÉ Σ -> été σ
  EXPECT_EQ(tok::lowercase_chars("\xC4\xB0"), "i\xCC\x87");  // İ -> i + combining dot (full mapping)
}

TEST(WordPiece, NormalizerOptions) {
  // lowercase off and strip_accents null: accents and case kept.
  auto t = make_tok(bert_json({{"type", "BertNormalizer"}, {"lowercase", false}}));
  EXPECT_EQ(t->encode("Hello", false), (V{1}));
  EXPECT_EQ(t->encode("cafe caf\xC3\xA9", false), (V{13, 1}));
  // lowercase on, strip_accents explicitly off.
  auto u = make_tok(bert_json({{"type", "BertNormalizer"}, {"lowercase", true}, {"strip_accents", false}}));
  EXPECT_EQ(u->encode("CAFE CAF\xC3\x89", false), (V{13, 1}));
}

TEST(WordPiece, SpecialTokensAndPairs) {
  auto t = make_tok(bert_json());
  EXPECT_EQ(t->encode("hello [MASK] world", false), (V{5, 4, 6}));
  std::string_view b = "world!";
  Encoding e = t->encode_full("hello", &b);
  EXPECT_EQ(e.ids, (V{2, 5, 3, 6, 12, 3}));
  EXPECT_EQ(e.type_ids, (V{0, 0, 0, 1, 1, 1}));
  Encoding n = t->encode_full("hello", &b, false);  // HF default processing: B gets type 1
  EXPECT_EQ(n.ids, (V{5, 6, 12}));
  EXPECT_EQ(n.type_ids, (V{0, 1, 1}));
  EXPECT_EQ(t->num_special_tokens(false), 2u);
  EXPECT_EQ(t->num_special_tokens(true), 3u);
}

TEST(WordPiece, Truncation) {
  auto t = make_tok(bert_json());
  Encoding e = t->encode_full("hello world hello world", nullptr, true, 4);  // room for 2 + [CLS] [SEP]
  EXPECT_EQ(e.ids, (V{2, 5, 6, 3}));
  EXPECT_EQ(e.type_ids, (V{0, 0, 0, 0}));
  auto j = bert_json();
  j["truncation"] = {{"direction", "Left"}, {"max_length", 3}, {"strategy", "LongestFirst"}, {"stride", 0}};
  auto l = make_tok(j);
  EXPECT_EQ(l->encode("hello world !"), (V{2, 12, 3}));
  EXPECT_EQ(l->encode("hello world !", false), (V{5, 6, 12}));  // without specials all 3 fit
  EXPECT_EQ(l->encode("hello hello world !", false), (V{5, 6, 12}));  // Left keeps the end
  std::string_view b = "world";
  EXPECT_THROW(t->encode_full("hello world", &b, true, 4), Error);
}

TEST(WordPiece, Decode) {
  auto t = make_tok(bert_json());
  EXPECT_EQ(t->decode({2, 8, 9, 10, 11, 6, 12, 3}, true), "unaffable, world!");
  EXPECT_EQ(t->decode({2, 5, 3}, false), "[CLS] hello [SEP]");
  EXPECT_EQ(t->decode({7, 5}, false), "##s hello");  // the first token keeps its prefix
  auto j = bert_json();
  j["decoder"]["cleanup"] = false;
  EXPECT_EQ(make_tok(j)->decode({5, 11, 6, 12}, false), "hello , world !");
}

TEST(WordPiece, Errors) {
  auto j = bert_json();
  j["model"]["vocab"].erase("[UNK]");
  j["added_tokens"].erase(1);
  auto t = make_tok(j);
  EXPECT_EQ(t->encode("hello", false), (V{5}));
  try {
    t->encode("xyz", false);
    FAIL() << "no error for a missing unk token";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unk_token"), std::string::npos) << e.what();
  }
  auto k = bert_json();
  k["model"]["vocab"]["hello"] = "five";
  EXPECT_THROW(make_tok(k), Error);
  auto p = bert_json();
  p["post_processor"]["single"][0]["SpecialToken"]["id"] = "[NOPE]";
  EXPECT_THROW(make_tok(p), Error);
}

TEST(WordPiece, BertAndRobertaProcessing) {
  auto j = bert_json();
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}};
  auto t = make_tok(j);
  std::string_view b = "world";
  Encoding e = t->encode_full("hello", &b);
  EXPECT_EQ(e.ids, (V{2, 5, 3, 6, 3}));
  EXPECT_EQ(e.type_ids, (V{0, 0, 0, 1, 1}));
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}},
                         {"trim_offsets", true}, {"add_prefix_space", true}};
  Encoding r = make_tok(j)->encode_full("hello", &b);
  EXPECT_EQ(r.ids, (V{2, 5, 3, 3, 6, 3}));
  EXPECT_EQ(r.type_ids, (V{0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace ignis::test
