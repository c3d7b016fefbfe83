// ignis tokenizer: the "model" stage of tokenizer.json (BPE, WordPiece, Unigram):
// one pre-tokenized word in, token ids out.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ignis::tok {

class TokenModel {
 public:
  virtual ~TokenModel() = default;
  // Appends the ids of one pre-tokenized word. Thread-safe.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& out) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view tok) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;  // nullptr if unknown
  virtual int32_t max_id() const = 0;
};

// Builds from tokenizer.json's "model" object ("type" BPE / WordPiece / Unigram; BPE when
// the type is missing and "merges" is present). Throws Error naming `file`.
std::unique_ptr<TokenModel> make_token_model(const nlohmann::json& m, const std::string& file);

}  // namespace ignis::tok
