// ignis rag parsers: one function per format, called by parse_file (src/rag/parse/parse_file.cpp)
// with the file's bytes already read (and its size checked). Text formats get the bytes through
// decode_text (UTF-8 validated). Each throws ParseError on content it cannot index.
#pragma once
#include <string>
#include <string_view>

#include "rag/document.h"

namespace ignis::rag::detail {

// A text paragraph longer than this is cut at a line boundary (keeps line numbers useful).
inline constexpr std::size_t kMaxParagraphBytes = 16 << 10;

ParsedDocument parse_text(std::string_view utf8, bool markdown);  // "txt" / "md"
ParsedDocument parse_xml(std::string_view utf8);
ParsedDocument parse_html(std::string_view utf8);
ParsedDocument parse_vtt(std::string_view utf8);
ParsedDocument parse_srt(std::string_view utf8);
ParsedDocument parse_pdf(const std::string& bytes, const ParseLimits& limits);
ParsedDocument parse_docx(const std::string& bytes, const ParseLimits& limits);

}  // namespace ignis::rag::detail
