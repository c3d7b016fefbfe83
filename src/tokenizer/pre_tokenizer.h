// ignis tokenizer: pre-tokenizers of tokenizer.json ("pre_tokenizer": Split,
// ByteLevel, Metaspace, BertPreTokenizer, WhitespaceSplit, Sequence), same splitting as HF `tokenizers`.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>
#include <vector>

namespace ignis::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each piece by its sub-pieces (empty pieces are dropped). `first_at_start`:
  // pieces[0] begins at offset 0 of the original input (Metaspace's "first" scheme);
  // a stage that moves that start clears it.
  virtual void pre_tokenize(std::vector<std::string>& pieces, bool& first_at_start) const = 0;
};

// null JSON gives nullptr; unsupported types throw Error naming the type and `file`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& file);

}  // namespace ignis::tok
