#include "rag/parse/text_util.h"

#include <fmt/format.h>

#include "core/utf8.h"

namespace ignis::rag::detail {

std::size_t invalid_utf8_offset(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (int k = 1; k < len; ++k) {
      const unsigned cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {

std::string decode_utf16(std::string_view bytes, bool little_endian) {
  // bytes excludes the BOM; offsets in errors count it (+2).
  std::string out;
  out.reserve(bytes.size() * 3 / 2);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  auto unit = [&](std::size_t i) -> uint32_t {
    return little_endian ? (p[i] | (p[i + 1] << 8)) : ((p[i] << 8) | p[i + 1]);
  };
  std::size_t i = 0;
  while (i < n) {
    if (i + 2 > n) throw ParseError(fmt::format("not UTF-16 text at byte {} (odd length)", i + 2));
    uint32_t u = unit(i);
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (i + 4 > n) throw ParseError(fmt::format("not UTF-16 text at byte {} (unpaired surrogate)", i + 2));
      const uint32_t lo = unit(i + 2);
      if (lo < 0xDC00 || lo > 0xDFFF)
        throw ParseError(fmt::format("not UTF-16 text at byte {} (unpaired surrogate)", i + 2));
      append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
      i += 4;
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      throw ParseError(fmt::format("not UTF-16 text at byte {} (unpaired surrogate)", i + 2));
    } else {
      append_utf8(out, u);
      i += 2;
    }
  }
  return out;
}

}  // namespace

std::string decode_text(std::string_view bytes) {
  if (bytes.size() >= 2) {
    const auto b0 = static_cast<unsigned char>(bytes[0]), b1 = static_cast<unsigned char>(bytes[1]);
    if (b0 == 0xFF && b1 == 0xFE) return decode_utf16(bytes.substr(2), true);
    if (b0 == 0xFE && b1 == 0xFF) return decode_utf16(bytes.substr(2), false);
  }
  std::size_t skip = 0;
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") skip = 3;
  const std::size_t bad = invalid_utf8_offset(bytes.substr(skip));
  if (bad != std::string_view::npos) throw ParseError(fmt::format("not UTF-8 text at byte {}", bad + skip));
  return std::string(bytes.substr(skip));
}

std::string normalize_space(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    bool space = c <= 0x20 || c == 0x7F;
    std::size_t skip = 0;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
      space = true, skip = 1;  // U+00A0 no-break space
    } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
      const auto c2 = static_cast<unsigned char>(s[i + 2]);
      // U+2000..U+200A spaces, U+2028 / U+2029 line and paragraph separators
      if (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9) space = true, skip = 2;
    } else if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBB &&
               static_cast<unsigned char>(s[i + 2]) == 0xBF) {
      i += 2;  // a stray U+FEFF (zero-width no-break space) inside the text: dropped
      continue;
    }
    if (space) {
      pending_space = !out.empty();
      i += skip;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string format_bytes(std::uint64_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return fmt::format("{} MiB", n >> 20);
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{} KiB", n >> 10);
  return fmt::format("{} bytes", n);
}

void add_passage(ParsedDocument& doc, std::string_view raw_text, int page, int line,
                 const std::string& heading, const std::string& anchor) {
  const std::string text = normalize_space(raw_text);
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t cut = rest.size(), next = rest.size();
    if (rest.size() > kMaxPassageBytes) {
      cut = rest.rfind(' ', kMaxPassageBytes);
      if (cut != std::string_view::npos && cut > 0) {
        next = cut + 1;
      } else {
        cut = kMaxPassageBytes;
        while (cut > 0 && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) --cut;
        next = cut;
      }
    }
    Passage p;
    p.text.assign(rest.substr(0, cut));
    p.page = page;
    p.line = line;
    p.heading = heading;
    p.anchor = anchor;
    doc.passages.push_back(std::move(p));
    rest.remove_prefix(next);
  }
}

}  // namespace ignis::rag::detail
