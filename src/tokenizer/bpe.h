// ignis tokenizer: the BPE model of tokenizer.json ("model": {"type": "BPE"}),
// merge order identical to HF `tokenizers` (lowest rank first, leftmost on ties).
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/model.h"

namespace ignis::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel : public TokenModel {
 public:
  // Throws Error naming `file` for malformed vocab/merges or unsupported options.
  BpeModel(const nlohmann::json& model, const std::string& file);

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;

  std::optional<int32_t> token_to_id(std::string_view tok) const override;
  const std::string* id_to_token(int32_t id) const override;  // nullptr if unknown
  int32_t max_id() const override { return static_cast<int32_t>(id_to_tok_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank, new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  Vocab vocab_;
  std::vector<std::string> id_to_tok_;  // id -> token ("" for holes)
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];  // <0xXX> token ids for byte_fallback, -1 if absent

  // word -> ids, for words shorter than kCacheMaxLen bytes.
  static constexpr size_t kCacheMaxLen = 256, kCacheCapacity = 1 << 18;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace ignis::tok
