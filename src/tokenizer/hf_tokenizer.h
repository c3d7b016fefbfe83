// ignis tokenizer: the Hugging Face tokenizer.json pipeline (added tokens ->
// normalizer -> pre-tokenizer -> model (BPE / WordPiece / Unigram) -> truncation ->
// post-processor; decoder for the way back).
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <unordered_map>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace ignis::tok {

class HfTokenizer : public Tokenizer {
 public:
  // `json`: parsed tokenizer.json; `config`: parsed tokenizer_config.json (or null);
  // `file`: the path used in error messages.
  HfTokenizer(const nlohmann::json& json, const nlohmann::json& config, const std::string& file);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  Encoding encode_full(std::string_view a, const std::string_view* b = nullptr, bool add_special_tokens = true,
                       size_t max_length = 0) const override;
  // Number of special tokens the post-processor adds (0 without add_special_tokens).
  size_t num_special_tokens(bool pair) const { return post_.added_tokens(pair); }
  int32_t vocab_size() const override { return vocab_size_; }
  std::string id_to_piece(int32_t id) const override;
  std::optional<std::string> token_bytes(int32_t id) const override;
  std::optional<int32_t> piece_to_id(std::string_view piece) const override;
  bool is_special(int32_t id) const override;
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::string bos_token() const override { return bos_token_; }
  std::string eos_token() const override { return eos_token_; }
  std::string chat_template(std::string_view name = "default") const override;
  bool add_bos_token() const { return add_bos_; }

 private:
  // `at_start`: the segment begins at offset 0 of the input (Metaspace "first").
  void encode_segment(std::string text, bool at_start, std::vector<int32_t>& out) const;
  std::vector<int32_t> encode_ids(std::string_view input) const;  // no post-processing
  void load_config(const nlohmann::json& config, const std::string& file);

  std::unique_ptr<TokenModel> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  PostProcessor post_;
  Truncation truncation_;
  std::string file_;
  std::unordered_map<int32_t, AddedToken> added_;  // id -> token
  Vocab added_by_content_;
  AddedTokenMatcher raw_matcher_, normalized_matcher_;
  int32_t vocab_size_ = 0;
  std::optional<int32_t> bos_id_, eos_id_;
  std::string bos_token_, eos_token_;
  bool add_bos_ = false;
  std::vector<std::pair<std::string, std::string>> chat_templates_;  // name -> template
};

}  // namespace ignis::tok
