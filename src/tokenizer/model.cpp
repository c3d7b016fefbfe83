#include "tokenizer/model.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/unigram.h"
#include "tokenizer/wordpiece.h"

namespace ignis::tok {

std::unique_ptr<TokenModel> make_token_model(const nlohmann::json& m, const std::string& file) {
  IGNIS_CHECK(m.is_object(), "{}: \"model\" must be an object", file);
  std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : std::string();
  if (type.empty() && m.contains("merges")) type = "BPE";  // older files omit the type
  if (type == "BPE") return std::make_unique<BpeModel>(m, file);
  if (type == "WordPiece") return std::make_unique<WordPieceModel>(m, file);
  if (type == "Unigram") return std::make_unique<UnigramModel>(m, file);
  IGNIS_FAIL("{}: unsupported model type '{}' (BPE, WordPiece and Unigram are implemented)", file, type);
}

}  // namespace ignis::tok
