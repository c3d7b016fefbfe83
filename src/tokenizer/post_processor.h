// ignis tokenizer: post-processors of tokenizer.json ("post_processor":
// TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence), all
// reduced to templates over special tokens and the sequences A / B, with the type ids
// HF `tokenizers` gives; plus tokenizer.json's "truncation".
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ignis::tok {

class PostProcessor {
 public:
  PostProcessor() = default;
  // null JSON: no post-processor (ids pass through; a pair gets type ids 0 then 1).
  PostProcessor(const nlohmann::json& j, const std::string& file);
  // `b` null for a single sequence. Without add_special, HF's default processing.
  Encoding apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b, bool add_special) const;
  size_t added_tokens(bool pair) const;
  bool adds_nothing() const { return single_.empty(); }

 private:
  struct Piece {
    int seq = -1;  // -1: special token ids, 0: sequence A, 1: sequence B
    std::vector<int32_t> ids;
    int32_t type_id = 0;
  };
  void load(const nlohmann::json& j, const std::string& file);
  static std::vector<Piece> parse_template(const nlohmann::json& t, const nlohmann::json& specials,
                                           const std::string& file, const char* which);
  std::vector<Piece> single_, pair_;
  bool has_pair_ = false;
  std::string file_;
};

// tokenizer.json "truncation" (null: none): {"direction": "Right"|"Left", "max_length",
// "strategy", "stride"}. Only single sequences and stride 0 are supported.
struct Truncation {
  size_t max_length = 0;  // 0: off
  bool left = false;
  static Truncation from_json(const nlohmann::json& j, const std::string& file);
};

// Keeps at most `n` ids of `ids` (the first ones, or the last ones with `left`).
void truncate_ids(std::vector<int32_t>& ids, size_t n, bool left);

}  // namespace ignis::tok
