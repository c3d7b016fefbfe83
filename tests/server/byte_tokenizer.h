// A tokenizer for the server's unit tests: byte i is token i, no special tokens, no chat template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ignis::test {

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view s, bool) const override {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(int32_t(uint8_t(c)));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool) const override {
    std::string s;
    for (int32_t i : ids) s += char(i);
    return s;
  }
  int32_t vocab_size() const override { return 256; }
  std::string id_to_piece(int32_t id) const override { return std::string(1, char(id)); }
  std::optional<int32_t> piece_to_id(std::string_view) const override { return std::nullopt; }
  bool is_special(int32_t) const override { return false; }
  std::optional<int32_t> bos_id() const override { return std::nullopt; }
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::string bos_token() const override { return ""; }
  std::string eos_token() const override { return ""; }
  std::string chat_template(std::string_view) const override { return ""; }
};

}  // namespace ignis::test
