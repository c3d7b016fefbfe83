// Hand-written BERT-style (WordPiece) and XLM-R-style (Unigram) tokenizer.json files for
// the encoder tokenizer tests; expectations in the tests are worked out by hand from HF
// `tokenizers`' algorithms.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/hf_tokenizer.h"

namespace ignis::test {

inline nlohmann::json bert_json(nlohmann::json normalizer = nullptr, int max_chars = 10) {
  using nlohmann::json;
  const char* words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s",  "un",
                         "##aff", "##able", ",",    "!",     "cafe",  "\xE4\xB8\xAD", "\xE6\x96\x87",
                         "a",     "##a",   "$",     "5",     "e"};
  json vocab = json::object();
  for (int i = 0; i < static_cast<int>(std::size(words)); ++i) vocab[words[i]] = i;
  if (normalizer.is_null())
    normalizer = {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                  {"strip_accents", nullptr}, {"lowercase", true}};
  auto special = [](int id, const char* s) {
    return json{{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                {"normalized", false}, {"special", true}};
  };
  auto sp = [](const char* id, int type) { return json{{"SpecialToken", {{"id", id}, {"type_id", type}}}}; };
  auto seq = [](const char* id, int type) { return json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  return json{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]"), special(4, "[MASK]")}},
      {"normalizer", normalizer},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0)}},
        {"pair", {sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0), seq("B", 1), sp("[SEP]", 1)}},
        {"special_tokens",
         {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", max_chars},
        {"vocab", vocab}}}};
}

inline std::unique_ptr<tok::HfTokenizer> make_tok(const nlohmann::json& j) {
  return std::make_unique<tok::HfTokenizer>(j, nlohmann::json(), "test/tokenizer.json");
}

}  // namespace ignis::test
