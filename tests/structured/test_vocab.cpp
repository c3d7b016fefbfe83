// Tokenizer::token_bytes against decode for every id of the real tokenizers, and the vocabulary
// trie the masks walk.
#include <algorithm>

#include "common.h"
#include "tokenizer/utf8.h"

namespace ignis::test {
namespace {

// Byte-level tokenizers: a token decoded alone is its bytes (lossy where they are not UTF-8).
void check_byte_level(const std::string& name) {
  const Tokenizer* tok = structured_tokenizer(name);
  if (!tok) GTEST_SKIP() << name << " not fetched";
  int partial = 0, specials = 0;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    auto b = tok->token_bytes(id);
    if (tok->is_special(id)) {
      EXPECT_FALSE(b.has_value()) << id;
      ++specials;
      continue;
    }
    ASSERT_TRUE(b.has_value()) << id;
    std::string d = tok->decode({id});
    if (tok::utf8_lossy(*b) != *b) ++partial;
    ASSERT_EQ(tok::utf8_lossy(*b), d) << name << " id " << id;
  }
  EXPECT_GT(partial, 100) << "byte-level vocabularies hold tokens with partial characters";
  EXPECT_GT(specials, 0);
}

TEST(StructuredVocab, Llama3TokenBytesMatchDecode) { check_byte_level("llama3"); }
TEST(StructuredVocab, Qwen3TokenBytesMatchDecode) { check_byte_level("qwen3"); }

// SentencePiece-style (Mistral, and models/demo which ships the same tokenizer): mid-sequence,
// after a plain token, a token adds exactly its bytes (U+2581 -> space, <0xNN> -> one byte).
void check_sentencepiece(const Tokenizer* tok) {
  int32_t ref = *tok->piece_to_id("a");
  std::string ref_text = tok->decode({ref});
  ASSERT_EQ(ref_text, "a");
  int bytes_tokens = 0;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    auto b = tok->token_bytes(id);
    if (tok->is_special(id)) {
      EXPECT_FALSE(b.has_value()) << id;
      continue;
    }
    ASSERT_TRUE(b.has_value()) << id;
    std::string piece = tok->id_to_piece(id);
    if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0) {
      ASSERT_EQ(b->size(), 1u) << piece;
      EXPECT_EQ(static_cast<unsigned char>((*b)[0]), std::stoi(piece.substr(3, 2), nullptr, 16)) << piece;
      ++bytes_tokens;
    }
    std::string d = tok->decode({ref, id});
    ASSERT_EQ(ref_text + tok::utf8_lossy(*b), d) << "id " << id << " piece " << piece;
  }
  EXPECT_EQ(bytes_tokens, 256);
  EXPECT_EQ(*tok->token_bytes(*tok->piece_to_id("\xE2\x96\x81the")), " the");
}

TEST(StructuredVocab, MistralTokenBytesMatchDecodeMidSequence) {
  const Tokenizer* tok = structured_tokenizer("mistral");
  if (!tok) GTEST_SKIP() << "mistral not fetched";
  check_sentencepiece(tok);
}

TEST(StructuredVocab, DemoModelTokenBytesMatchDecodeMidSequence) {
  auto dir = std::filesystem::path(IGNIS_SOURCE_DIR) / "models" / "demo";
  if (!std::filesystem::exists(dir / "tokenizer.json")) GTEST_SKIP() << "models/demo tokenizer not copied (scripts/fetch-assets.sh)";
  auto tok = Tokenizer::load(dir);
  check_sentencepiece(tok.get());
}

TEST(StructuredVocab, TrieHoldsEveryAllowedToken) {
  IGNIS_VOCAB_OR_SKIP(v, "llama3");
  const auto& t = v->trie();
  std::vector<int> seen(v->size(), 0);
  // Rebuild each node's string from the preorder walk and compare with the token's bytes.
  std::vector<std::string> path(t.max_depth + 1);
  for (uint32_t i = 1; i < t.size(); ++i) {
    size_t d = t.depth[i];
    path[d] = path[d - 1] + static_cast<char>(t.byte[i]);
    ASSERT_LE(t.subtree_end[i], t.size());
    ASSERT_GT(t.subtree_end[i], i);
    for (uint32_t k = t.tok_begin[i]; k < t.tok_begin[i + 1]; ++k) {
      ASSERT_EQ(*v->bytes(t.toks[k]), path[d]);
      seen[t.toks[k]]++;
    }
  }
  for (int32_t id = 0; id < v->size(); ++id) {
    bool allowed = v->bytes(id) && !v->bytes(id)->empty() && !v->is_end(id);
    EXPECT_EQ(seen[id], allowed ? 1 : 0) << id;
  }
  EXPECT_EQ(v->end_ids().size(), 2u);  // <|end_of_text|> and <|eot_id|>
}

}  // namespace
}  // namespace ignis::test
