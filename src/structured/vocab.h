// ignis structured: TokenVocab, the bytes each token adds to the text mid-sequence, and the byte
// trie over them that mask computation walks (structured.h declares make_token_vocab).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ignis::structured {

class TokenVocab {
 public:
  // bytes[id]: nullopt for tokens a constraint never allows (special tokens); empty strings are
  // never allowed either. `end_ids` are allowed exactly when the constraint is complete.
  TokenVocab(std::vector<std::optional<std::string>> bytes, std::vector<int32_t> end_ids);

  int size() const { return static_cast<int>(bytes_.size()); }
  const std::string* bytes(int32_t id) const {
    return id >= 0 && id < size() && bytes_[id] ? &*bytes_[id] : nullptr;
  }
  const std::vector<int32_t>& end_ids() const { return end_ids_; }
  bool is_end(int32_t id) const;

  // Trie in preorder; node 0 is the root (depth 0, no byte). A node's subtree is
  // [i, subtree_end[i]); its tokens are toks[tok_begin[i] .. tok_begin[i + 1]).
  struct Trie {
    std::vector<uint8_t> byte;
    std::vector<uint16_t> depth;
    std::vector<uint32_t> subtree_end;
    std::vector<uint32_t> tok_begin;  // size n_nodes + 1
    std::vector<int32_t> toks;
    size_t max_depth = 0;
    size_t size() const { return byte.size(); }
  };
  const Trie& trie() const { return trie_; }

 private:
  std::vector<std::optional<std::string>> bytes_;
  std::vector<int32_t> end_ids_;
  Trie trie_;
};

}  // namespace ignis::structured
