#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace ignis::tok {

static ByteLevelMap build_map() {
  ByteLevelMap m;
  m.cp_to_byte.fill(-1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t cp = printable ? b : 256 + extra++;
    append_utf8(m.byte_to_utf8[b], cp);
    m.cp_to_byte[cp] = static_cast<int16_t>(b);
  }
  return m;
}

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap m = build_map();
  return m;
}

std::string byte_level_encode(std::string_view s) {
  // Every mapped char is 1 or 2 UTF-8 bytes: write them straight into a sized buffer.
  static const auto table = [] {
    std::array<std::array<char, 3>, 256> t{};  // [len, b0, b1]
    const auto& m = byte_level_map();
    for (int b = 0; b < 256; ++b) {
      t[b][0] = static_cast<char>(m.byte_to_utf8[b].size());
      for (size_t k = 0; k < m.byte_to_utf8[b].size(); ++k) t[b][1 + k] = m.byte_to_utf8[b][k];
    }
    return t;
  }();
  std::string out(s.size() * 2, '\0');
  char* o = out.data();
  for (unsigned char c : s) {
    const auto& e = table[c];
    o[0] = e[1];
    o[1] = e[2];
    o += e[0];
  }
  out.resize(o - out.data());
  return out;
}

void byte_level_decode_token(std::string_view tok, std::string& out) {
  const auto& m = byte_level_map();
  size_t start = out.size();
  size_t i = 0;
  while (i < tok.size()) {
    uint32_t cp = next_code_point(tok, i);
    if (cp >= m.cp_to_byte.size() || m.cp_to_byte[cp] < 0) {
      out.resize(start);
      out.append(tok);
      return;
    }
    out.push_back(static_cast<char>(m.cp_to_byte[cp]));
  }
}

}  // namespace ignis::tok
