// ignis tokenizer: the Precompiled normalizer of tokenizer.json (SentencePiece's
// precompiled_charsmap: a darts-clone double-array trie over UTF-8 keys plus a blob of
// NUL-terminated replacements), applied as HF `tokenizers` / spm_precompiled do: each
// extended grapheme cluster shorter than 6 bytes is looked up whole, else (or when it
// has no entry) each of its characters; a lookup takes the first (shortest) prefix match.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/normalizer.h"

namespace ignis::tok {

class PrecompiledCharsMap {
 public:
  // `blob`: the decoded precompiled_charsmap. Throws Error naming `file` when malformed.
  PrecompiledCharsMap(std::string_view blob, const std::string& file);
  // The replacement of the shortest key that is a prefix of `chunk`, if any.
  std::optional<std::string_view> transform(std::string_view chunk) const;
  std::string normalize(std::string_view s) const;

 private:
  std::vector<uint32_t> units_;
  std::string normalized_;
};

// {"type": "Precompiled", "precompiled_charsmap": base64}; an empty charsmap is the identity.
std::unique_ptr<Normalizer> make_precompiled_normalizer(const nlohmann::json& j, const std::string& file);

// RFC 4648 base64 (padding optional); throws Error naming `what` on bad input.
std::string base64_decode(std::string_view in, const std::string& what);

}  // namespace ignis::tok
