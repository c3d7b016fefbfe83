// ignis tokenizer: the Hugging Face tokenizer.json pipeline (added tokens ->
// normalizer -> pre-tokenizer -> BPE -> post-processor; decoder for the way back).
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <unordered_map>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace ignis::tok {

// One element of TemplateProcessing's "single" template: special-token ids or the sequence.
struct TemplatePiece {
  bool is_sequence = false;
  std::vector<int32_t> ids;
};

class HfTokenizer : public Tokenizer {
 public:
  // `json`: parsed tokenizer.json; `config`: parsed tokenizer_config.json (or null);
  // `file`: the path used in error messages.
  HfTokenizer(const nlohmann::json& json, const nlohmann::json& config, const std::string& file);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  std::string id_to_piece(int32_t id) const override;
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
  void load_config(const nlohmann::json& config, const std::string& file);
  void load_post_processor(const nlohmann::json& j, const std::string& file);

  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<TemplatePiece> template_single_;  // empty: no special tokens added
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
