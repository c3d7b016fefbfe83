#include "structured/vocab.h"

#include <algorithm>

#include "core/error.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

namespace ignis::structured {

TokenVocab::TokenVocab(std::vector<std::optional<std::string>> bytes, std::vector<int32_t> end_ids)
    : bytes_(std::move(bytes)), end_ids_(std::move(end_ids)) {
  for (int32_t e : end_ids_)
    IGNIS_CHECK(e >= 0 && e < size(), "structured: end id {} is outside the vocabulary ({} tokens)", e, size());
  IGNIS_CHECK(!end_ids_.empty(), "structured: a token vocabulary needs at least one end id");
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < size(); ++i)
    if (bytes_[i] && !bytes_[i]->empty() && !is_end(i)) ids.push_back(i);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return *bytes_[a] < *bytes_[b]; });
  // Sorted strings give the trie in preorder: a string's nodes extend the previous one's path.
  Trie& t = trie_;
  t.byte.push_back(0);
  t.depth.push_back(0);
  t.subtree_end.push_back(0);
  t.tok_begin.push_back(0);
  std::vector<uint32_t> path{0};  // node per depth
  const std::string* prev = nullptr;
  auto pop_to = [&](size_t len) {
    while (path.size() > len + 1) {
      t.subtree_end[path.back()] = static_cast<uint32_t>(t.byte.size());
      path.pop_back();
    }
  };
  for (int32_t id : ids) {
    const std::string& s = *bytes_[id];
    IGNIS_CHECK(s.size() < 65535, "structured: token {} has {} bytes", id, s.size());
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < s.size() && (*prev)[common] == s[common]) ++common;
    pop_to(common);
    for (size_t k = common; k < s.size(); ++k) {
      path.push_back(static_cast<uint32_t>(t.byte.size()));
      t.byte.push_back(static_cast<uint8_t>(s[k]));
      t.depth.push_back(static_cast<uint16_t>(k + 1));
      t.subtree_end.push_back(0);
      t.tok_begin.push_back(static_cast<uint32_t>(t.toks.size()));
    }
    t.toks.push_back(id);  // belongs to the last node (duplicates of one string are adjacent)
    t.max_depth = std::max(t.max_depth, s.size());
    prev = &s;
  }
  pop_to(0);
  t.subtree_end[0] = static_cast<uint32_t>(t.byte.size());
  t.tok_begin.push_back(static_cast<uint32_t>(t.toks.size()));
}

bool TokenVocab::is_end(int32_t id) const { return std::find(end_ids_.begin(), end_ids_.end(), id) != end_ids_.end(); }

std::shared_ptr<const TokenVocab> make_token_vocab(const Tokenizer& tok, std::vector<int32_t> end_ids) {
  std::vector<std::optional<std::string>> bytes(tok.vocab_size());
  for (int32_t i = 0; i < tok.vocab_size(); ++i) bytes[i] = tok.token_bytes(i);
  return std::make_shared<const TokenVocab>(std::move(bytes), std::move(end_ids));
}

}  // namespace ignis::structured
