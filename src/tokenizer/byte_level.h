// ignis tokenizer: GPT-2 byte <-> printable-character map used by ByteLevel
// pre-tokenizer and decoder.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ignis::tok {

struct ByteLevelMap {
  std::array<std::string, 256> byte_to_utf8;  // byte -> UTF-8 of its printable char
  // code point (< 0x200 for all mapped chars) -> byte, or -1 when not a mapped char
  std::array<int16_t, 0x200> cp_to_byte;
};

const ByteLevelMap& byte_level_map();

// Maps every byte of `s` to its printable character.
std::string byte_level_encode(std::string_view s);

// Inverse for one token: its bytes if every character is a mapped char, otherwise
// the token's own UTF-8 bytes (what HF's ByteLevel decoder does with added tokens).
void byte_level_decode_token(std::string_view tok, std::string& out);

}  // namespace ignis::tok
