// ignis tokenizer: added-token extraction (HF AddedVocabulary::find_matches):
// leftmost-longest matching with lstrip / rstrip / single_word.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ignis::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

class AddedTokenMatcher {
 public:
  void add(const AddedToken& t);
  bool empty() const { return tokens_.empty(); }
  // Splits `s` into pieces: (id, [b, e)) with id = -1 for text between added tokens.
  struct Piece {
    int32_t id;
    size_t b, e;
  };
  std::vector<Piece> split(std::string_view s) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> kids;
    int32_t token = -1;  // index in tokens_ of the token ending here
  };
  // Longest token starting at s[i]: index in tokens_ and its length, or -1.
  std::pair<int32_t, size_t> longest_at(std::string_view s, size_t i) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_{1};
  bool first_byte_[256] = {};
};

}  // namespace ignis::tok
