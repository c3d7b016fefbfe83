// ignis rag parsers: the text helpers every format shares (decoding to UTF-8, whitespace
// normalization, collecting passages). Internal to src/rag/parse.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "rag/document.h"

namespace ignis::rag::detail {

// The bytes of a text file as UTF-8: a UTF-8 BOM is dropped, UTF-16 with a BOM (LE or BE) is
// decoded; anything else must be valid UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF). Throws ParseError("not UTF-8 text at byte N") naming the first bad byte's offset.
std::string decode_text(std::string_view bytes);

// Offset of the first byte that is not valid UTF-8, or npos.
std::size_t invalid_utf8_offset(std::string_view s);

// Runs of whitespace (ASCII, NBSP, other C0 controls) become one space; leading and trailing
// whitespace is dropped. Invalid UTF-8 is not expected (callers validate first).
std::string normalize_space(std::string_view s);

// "256 MiB" for whole MiB, else "<n> bytes".
std::string format_bytes(std::uint64_t n);

// No passage is longer than this: add_passage cuts longer text at the last space before the
// limit (or, with none, at a UTF-8 character boundary) into passages with the same position.
inline constexpr std::size_t kMaxPassageBytes = 32 << 10;

// Appends a passage to `doc` unless its normalized text is empty (several if it is longer than
// kMaxPassageBytes).
void add_passage(ParsedDocument& doc, std::string_view raw_text, int page, int line,
                 const std::string& heading, const std::string& anchor = "");

}  // namespace ignis::rag::detail
