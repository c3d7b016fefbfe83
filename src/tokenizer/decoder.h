// ignis tokenizer: decoders of tokenizer.json ("decoder": ByteLevel, Replace,
// ByteFallback, Fuse, Strip, Metaspace, WordPiece, Sequence), same output as HF `tokenizers`.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>
#include <vector>

namespace ignis::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF decode_chain: token strings in, token strings out (joined by the caller).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // One token's bytes in the middle of a sequence (Tokenizer::token_bytes): no first-token rules,
  // no UTF-8 repair. `whole`: an earlier decoder joined the tokens, so rules that act on the ends
  // of each token now act on the ends of the whole text (Strip after Fuse). The default runs
  // decode_chain on the token alone.
  virtual void token_bytes(std::string& t, bool& whole) const;
};

// null JSON gives nullptr; unsupported types throw Error naming the type and `file`.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& file);

}  // namespace ignis::tok
