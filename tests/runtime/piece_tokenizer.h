// A tiny fake tokenizer for engine tests: token i is a 1- or 2-character piece
// ('a' + i % 26, plus 'x' when i % 3 == 0), so text and stop strings are predictable.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ignis::testing {

class PieceTokenizer : public Tokenizer {
 public:
  static std::string piece(int32_t id) {
    std::string s(1, char('a' + id % 26));
    if (id % 3 == 0) s += 'x';
    return s;
  }
  std::vector<int32_t> encode(std::string_view, bool) const override { return {}; }
  std::string decode(const std::vector<int32_t>& ids, bool) const override {
    std::string s;
    for (int32_t id : ids) s += piece(id);
    return s;
  }
  int32_t vocab_size() const override { return 64; }
  std::string id_to_piece(int32_t id) const override { return piece(id); }
  std::optional<int32_t> piece_to_id(std::string_view) const override { return std::nullopt; }
  bool is_special(int32_t) const override { return false; }
  std::optional<int32_t> bos_id() const override { return std::nullopt; }
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::string bos_token() const override { return ""; }
  std::string eos_token() const override { return ""; }
  std::string chat_template(std::string_view) const override { return ""; }
};

}  // namespace ignis::testing
