// PDF through poppler-cpp, page by page: each page's text (reading order) split into
// paragraphs at blank lines, passage.page = 1-based page; words hyphenated across lines are
// joined and the common Latin ligatures (fi, fl, ...) spelled out. Poppler's own stderr
// messages are silenced (a damaged file is our ParseError, not its chatter).
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

void quiet(const std::string&, void*) {}

std::string utf8_of(const poppler::ustring& s) {
  const poppler::byte_array b = s.to_utf8();
  return std::string(b.begin(), b.end());
}

// Ligatures U+FB00..U+FB06 as letters.
std::string unligate(std::string_view s) {
  static constexpr std::string_view kLig[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\xEF' && i + 2 < s.size() && s[i + 1] == '\xAC') {
      const auto c = static_cast<unsigned char>(s[i + 2]);
      if (c >= 0x80 && c <= 0x86) {
        out.append(kLig[c - 0x80]);
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool is_lower_ascii(char c) { return c >= 'a' && c <= 'z'; }

bool digits_only(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// One page's text as paragraphs; lines ending in "letter-" followed by a lowercase letter are
// joined. A paragraph that is just a short number (a page number in a header or footer) is dropped.
void add_page(ParsedDocument& doc, std::string_view text, int page) {
  std::string para;
  auto flush = [&] {
    const std::string t = normalize_space(para);
    if (!(t.size() <= 6 && digits_only(t))) add_passage(doc, t, page, 0, "");
    para.clear();
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find_first_of("\n\f", pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (normalize_space(line).empty()) {
      flush();
      continue;
    }
    if (para.size() + line.size() > kMaxParagraphBytes && !para.empty()) flush();
    if (para.size() >= 2 && para.back() == '-' && is_lower_ascii(para[para.size() - 2])) {
      std::size_t i = 0;
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i < line.size() && is_lower_ascii(line[i])) {
        para.pop_back();
        para.append(line.substr(i));
        continue;
      }
    }
    if (!para.empty()) para.push_back('\n');
    para.append(line);
  }
  flush();
}

}  // namespace

ParsedDocument parse_pdf(const std::string& bytes, const ParseLimits& limits) {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(quiet, nullptr); });
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) throw ParseError("pdf larger than 2 GiB");
  if (bytes.compare(0, 5, "%PDF-") != 0 && bytes.substr(0, 1024).find("%PDF-") == std::string::npos)
    throw ParseError("not a valid pdf (no %PDF header)");
  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!pdf) {
    // poppler returns null for a password-protected file too; tell the two apart by the
    // trailer's /Encrypt entry.
    if (bytes.find("/Encrypt") != std::string::npos) throw ParseError("encrypted pdf");
    throw ParseError("not a valid pdf");
  }
  if (pdf->is_locked()) throw ParseError("encrypted pdf");
  const int pages = pdf->pages();
  if (pages > limits.max_pdf_pages)
    throw ParseError(fmt::format("pdf has {} pages, more than {}", pages, limits.max_pdf_pages));
  ParsedDocument doc;
  doc.format = "pdf";
  doc.title = normalize_space(utf8_of(pdf->info_key("Title")));
  if (invalid_utf8_offset(doc.title) != std::string::npos) doc.title.clear();
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) continue;
    std::string text = unligate(utf8_of(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout)));
    if (invalid_utf8_offset(text) != std::string::npos) continue;  // poppler emits UTF-8; be safe
    add_page(doc, text, i + 1);
  }
  return doc;
}

}  // namespace ignis::rag::detail
