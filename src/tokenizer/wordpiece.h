// ignis tokenizer: the WordPiece model of tokenizer.json ("model": {"type": "WordPiece"})
// and the WordPiece decoder, same behaviour as HF `tokenizers` (greedy longest match from
// the left, continuation pieces carry continuing_subword_prefix, a word that cannot be
// covered or is longer than max_input_chars_per_word becomes one unk token).
#pragma once
#include <nlohmann/json_fwd.hpp>

#include "tokenizer/bpe.h"  // Vocab
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"

namespace ignis::tok {

class WordPieceModel : public TokenModel {
 public:
  WordPieceModel(const nlohmann::json& model, const std::string& file);
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view tok) const override;
  const std::string* id_to_token(int32_t id) const override;
  int32_t max_id() const override { return static_cast<int32_t>(id_to_tok_.size()) - 1; }

 private:
  Vocab vocab_;
  std::vector<std::string> id_to_tok_;  // id -> token ("" for holes)
  std::string prefix_ = "##", unk_;
  size_t max_chars_ = 100;
  std::string file_;
};

// {"type": "WordPiece", "prefix": "##", "cleanup": true}
std::unique_ptr<Decoder> make_wordpiece_decoder(const nlohmann::json& j, const std::string& file);

}  // namespace ignis::tok
