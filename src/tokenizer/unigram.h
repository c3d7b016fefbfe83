// ignis tokenizer: the Unigram model of tokenizer.json ("model": {"type": "Unigram"},
// SentencePiece / XLM-R), same as HF `tokenizers`: Viterbi over the piece scores, each
// uncovered character an unk node scored min_score - 10, consecutive unks fused, and
// byte_fallback (<0xXX> pieces) for a fused unk string when set.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include "tokenizer/bpe.h"  // Vocab
#include "tokenizer/model.h"

namespace ignis::tok {

class UnigramModel : public TokenModel {
 public:
  UnigramModel(const nlohmann::json& model, const std::string& file);
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view tok) const override;
  const std::string* id_to_token(int32_t id) const override;
  int32_t max_id() const override { return static_cast<int32_t>(pieces_.size()) - 1; }

  // The Viterbi segmentation of `s` as byte ranges (unk runs fused), for tests.
  std::vector<std::pair<size_t, size_t>> segment(std::string_view s) const;

 private:
  std::vector<std::string> pieces_;  // id -> piece
  std::vector<double> scores_;       // id -> log-probability
  Vocab to_id_;                      // piece -> id (the last one for duplicates, as HF)
  // Every prefix of every piece -> id of the piece equal to it, or -1 (a hashed trie).
  Vocab prefixes_;
  std::optional<int32_t> unk_id_;
  double unk_score_ = 0;
  bool byte_fallback_ = false;
  int32_t byte_ids_[256];
  std::string file_;
};

}  // namespace ignis::tok
