// libFuzzer target: the rag document parsers that read bytes themselves (text decoding, txt,
// md, xml, html, vtt, srt, docx through libzip; not pdf, which is poppler's). The first byte
// picks the format. Each run must end in a result or a ParseError, and every passage of a
// result must be non-empty, at most 32 KiB, valid UTF-8 and whitespace-normalized.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rag/document.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace {

void check(const ignis::rag::ParsedDocument& d) {
  using ignis::rag::detail::invalid_utf8_offset;
  if (invalid_utf8_offset(d.title) != std::string_view::npos) __builtin_trap();
  for (const auto& p : d.passages) {
    const std::string& t = p.text;
    if (t.empty() || t.size() > ignis::rag::detail::kMaxPassageBytes || t.front() == ' ' || t.back() == ' ' || t.find("  ") != std::string::npos) __builtin_trap();
    if (invalid_utf8_offset(t) != std::string_view::npos || invalid_utf8_offset(p.heading) != std::string_view::npos)
      __builtin_trap();
    if (p.line < 0 || p.page != 0) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace d = ignis::rag::detail;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  ignis::rag::ParseLimits limits;
  limits.max_unpacked_bytes = 1 << 20;
  try {
    switch (data[0] % 7) {
      case 6:
        check(d::parse_docx(bytes, limits));
        break;
      default: {
        const std::string text = d::decode_text(bytes);
        if (d::invalid_utf8_offset(text) != std::string_view::npos) __builtin_trap();
        switch (data[0] % 7) {
          case 0: check(d::parse_text(text, false)); break;
          case 1: check(d::parse_text(text, true)); break;
          case 2: check(d::parse_xml(text)); break;
          case 3: check(d::parse_html(text)); break;
          case 4: check(d::parse_vtt(text)); break;
          default: check(d::parse_srt(text)); break;
        }
      }
    }
  } catch (const ignis::rag::ParseError&) {
  }
  return 0;
}
