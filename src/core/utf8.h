// ignis core: UTF-8 encoding of one code point (shared by the tokenizer and the template engine;
// their decoders differ on purpose: the tokenizer's is strict, the template's lenient like Python's).
#pragma once
#include <cstdint>
#include <string>

namespace ignis {

// Appends code point `cp` (< 0x110000) as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

}  // namespace ignis
