#include "tokenizer/added_tokens.h"

#include "tokenizer/utf8.h"

namespace ignis::tok {

void AddedTokenMatcher::add(const AddedToken& t) {
  if (t.content.empty()) return;
  int32_t node = 0;
  for (unsigned char c : t.content) {
    int32_t next = -1;
    for (auto& [k, n] : nodes_[node].kids)
      if (k == c) next = n;
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_[node].kids.emplace_back(c, next);
      nodes_.emplace_back();
    }
    node = next;
  }
  if (nodes_[node].token >= 0) return;  // duplicate content: the first one wins
  nodes_[node].token = static_cast<int32_t>(tokens_.size());
  tokens_.push_back(t);
  first_byte_[static_cast<unsigned char>(t.content[0])] = true;
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view s, size_t i) const {
  int32_t node = 0, best = -1;
  size_t best_len = 0;
  for (size_t k = i; k < s.size(); ++k) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    int32_t next = -1;
    for (auto& [key, n] : nodes_[node].kids)
      if (key == c) next = n;
    if (next < 0) break;
    node = next;
    if (nodes_[node].token >= 0) best = nodes_[node].token, best_len = k + 1 - i;
  }
  return {best, best_len};
}

// Word characters for single_word: alphanumerics and '_' (ASCII), any non-ASCII letter.
static bool is_word_cp(uint32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_' ||
         (cp >= 0x80 && !is_unicode_space(cp));
}

static uint32_t last_cp(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<uint8_t>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0) --i;
  return next_code_point(s, i);
}

std::vector<AddedTokenMatcher::Piece> AddedTokenMatcher::split(std::string_view s) const {
  std::vector<Piece> out;
  size_t start = 0;  // end of the last emitted piece
  size_t i = 0;
  while (i < s.size()) {
    if (!first_byte_[static_cast<unsigned char>(s[i])]) {
      ++i;
      continue;
    }
    auto [tok, len] = longest_at(s, i);
    if (tok < 0) {
      ++i;
      continue;
    }
    const AddedToken& t = tokens_[tok];
    size_t b = i, e = i + len;
    i = e;  // matching resumes after this match even when it is discarded
    if (t.single_word) {
      bool left_ok = b == 0 || !is_word_cp(last_cp(s.substr(0, b)));
      size_t j = e;
      bool right_ok = e == s.size() || !is_word_cp(next_code_point(s, j));
      if (!left_ok || !right_ok) continue;
    }
    if (t.lstrip) {
      size_t nb = b;
      while (nb > start) {
        size_t k = nb - 1;
        while (k > start && (static_cast<uint8_t>(s[k]) & 0xC0) == 0x80) --k;
        size_t j = k;
        if (!is_unicode_space(next_code_point(s, j))) break;
        nb = k;
      }
      b = nb;
    }
    if (t.rstrip) {
      while (e < s.size()) {
        size_t j = e;
        if (!is_unicode_space(next_code_point(s, j))) break;
        e = j;
      }
      i = e;
    }
    if (start < b) out.push_back({-1, start, b});
    out.push_back({t.id, b, e});
    start = e;
  }
  if (start < s.size()) out.push_back({-1, start, s.size()});
  return out;
}

}  // namespace ignis::tok
