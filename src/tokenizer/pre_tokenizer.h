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
  // Replaces each piece by its sub-pieces (empty pieces are dropped). `spans[k]`: how many
  // bytes at the start of pieces[k] come from the first character of the original input
  // (0 for the others; HF: offsets_original().0 == 0, what Metaspace's "first" scheme
  // tests); kept parallel to `pieces` (missing entries count as 0).
  virtual void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const = 0;
};

// null JSON gives nullptr; unsupported types throw Error naming the type and `file`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& file);

}  // namespace ignis::tok
