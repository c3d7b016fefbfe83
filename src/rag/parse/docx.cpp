// Word .docx: a zip (libzip, read from memory) whose word/document.xml holds the paragraphs.
// Every member read is checked before it is inflated: its declared size against what is left
// of ParseLimits::max_unpacked_bytes and its compression ratio against max_compression_ratio
// (zip bombs), and it may not inflate past its declared size. One passage per paragraph (w:p:
// w:t runs, w:tab, w:br); paragraphs styled Heading1..9 / Title (by style id, or by the style's
// name in word/styles.xml, so localized ids work) set the heading instead; the title comes from
// docProps/core.xml's dc:title (else the first Title paragraph). mc:Fallback copies are skipped.
#include <zip.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rag/parse/markup.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

class DocxArchive {
 public:
  DocxArchive(const std::string& bytes, const ParseLimits& limits) : limits_(limits) {
    // Word saves a password-protected .docx as an OLE compound file holding the encrypted zip.
    if (bytes.compare(0, 8, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") == 0)
      throw ParseError("encrypted docx (or an old .doc renamed): an OLE compound file, not a zip");
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (!src) {
      zip_error_fini(&err);
      throw ParseError("not a zip file");
    }
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (!z) {
      zip_source_free(src);
      const int code = zip_error_code_zip(&err);
      std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      if (code == ZIP_ER_NOZIP) throw ParseError("not a zip file");
      throw ParseError(fmt::format("not a valid zip file ({})", why));
    }
    zip_error_fini(&err);
    zip_.reset(z);
  }

  // The member `name` inflated, or nullopt if the archive has none.
  std::optional<std::string> read(const char* name) {
    const zip_int64_t idx = zip_name_locate(zip_.get(), name, 0);
    if (idx < 0) return std::nullopt;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(idx), 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
      throw ParseError(fmt::format("zip member {}: no size in its header", name));
    if (st.size > limits_.max_unpacked_bytes - std::min(unpacked_, limits_.max_unpacked_bytes))
      throw ParseError(fmt::format("docx unpacks to more than {}", format_bytes(limits_.max_unpacked_bytes)));
    if (st.size > 0) {
      const double ratio = static_cast<double>(st.size) / static_cast<double>(std::max<zip_uint64_t>(st.comp_size, 1));
      if (ratio > limits_.max_compression_ratio)
        throw ParseError(fmt::format("zip member {} has compression ratio {:.0f}, above {:.0f} (zip bomb?)", name,
                                     ratio, limits_.max_compression_ratio));
    }
    std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(idx), 0));
    if (!f) {
      const int code = zip_error_code_zip(zip_get_error(zip_.get()));
      if (code == ZIP_ER_NOPASSWD || code == ZIP_ER_WRONGPASSWD) throw ParseError("encrypted docx");
      throw ParseError(fmt::format("zip member {}: {}", name, zip_strerror(zip_.get())));
    }
    std::string out(static_cast<std::size_t>(st.size), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
      const zip_int64_t n = zip_fread(f.get(), out.data() + got, out.size() - got);
      if (n < 0) throw ParseError(fmt::format("zip member {}: {}", name, zip_file_strerror(f.get())));
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != out.size()) throw ParseError(fmt::format("zip member {}: shorter than its declared size", name));
    char extra;
    const zip_int64_t n = zip_fread(f.get(), &extra, 1);  // also makes libzip check the CRC
    if (n > 0) throw ParseError(fmt::format("zip member {}: larger than its declared size", name));
    if (n < 0) throw ParseError(fmt::format("zip member {}: {}", name, zip_file_strerror(f.get())));
    unpacked_ += out.size();
    return out;
  }

 private:
  const ParseLimits& limits_;
  std::unique_ptr<zip_t, ZipCloser> zip_;
  std::uint64_t unpacked_ = 0;
};

std::string xml_text(const std::string& bytes, const char* member) {
  try {
    return decode_text(bytes);
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("{}: {}", member, e.what()));
  }
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

// 1..9 for a heading style, 10 for Title, 0 otherwise. Accepts ids ("Heading1") and names ("heading 1").
int heading_kind(std::string_view style) {
  const std::string s = lower_ascii(style);
  if (s == "title") return 10;
  std::string_view v = s;
  if (v.substr(0, 7) != "heading") return 0;
  v.remove_prefix(7);
  if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
  if (v.size() == 1 && v[0] >= '1' && v[0] <= '9') return v[0] - '0';
  return 0;
}

// styleId -> name from word/styles.xml.
std::map<std::string, std::string> style_names(std::string_view xml) {
  std::map<std::string, std::string> names;
  MarkupLexer lex(xml, MarkupMode::Xml);
  MarkupToken tok;
  std::string id;
  while (lex.next(tok)) {
    if (tok.kind != MarkupToken::Open) continue;
    if (tok.name == "w:style") id.assign(attr_value(tok, "w:styleId"));
    else if (tok.name == "w:name" && !id.empty()) names[id].assign(attr_value(tok, "w:val"));
  }
  return names;
}

std::string core_title(std::string_view xml) {
  MarkupLexer lex(xml, MarkupMode::Xml);
  MarkupToken tok;
  bool in_title = false;
  std::string title;
  while (lex.next(tok)) {
    if (tok.kind == MarkupToken::Open && tok.name == "dc:title" && !tok.self_closing) in_title = true;
    else if (tok.kind == MarkupToken::Close && tok.name == "dc:title") break;
    else if (tok.kind == MarkupToken::Text && in_title) title += tok.text;
  }
  return normalize_space(title);
}

struct Paragraph {
  std::string text;
  std::string style;
};

}  // namespace

ParsedDocument parse_docx(const std::string& bytes, const ParseLimits& limits) {
  DocxArchive zip(bytes, limits);
  const std::optional<std::string> document = zip.read("word/document.xml");
  if (!document) throw ParseError("not a docx file (no word/document.xml)");
  const std::string body = xml_text(*document, "word/document.xml");
  std::map<std::string, std::string> styles;
  if (const auto s = zip.read("word/styles.xml")) styles = style_names(xml_text(*s, "word/styles.xml"));
  ParsedDocument doc;
  doc.format = "docx";
  if (const auto c = zip.read("docProps/core.xml")) doc.title = core_title(xml_text(*c, "docProps/core.xml"));

  constexpr std::size_t kMaxNesting = 64;  // paragraphs in text boxes in paragraphs ...
  std::vector<Paragraph> paras;
  long overflow = 0;  // w:p nested deeper than kMaxNesting: folded into the innermost kept one
  long in_ppr = 0, fallback = 0;
  bool in_t = false;
  std::string heading, title_para;
  MarkupLexer lex(body, MarkupMode::Xml);
  MarkupToken tok;
  auto end_paragraph = [&] {
    Paragraph p = std::move(paras.back());
    paras.pop_back();
    int kind = heading_kind(p.style);
    if (!kind) {
      const auto it = styles.find(p.style);
      if (it != styles.end()) kind = heading_kind(it->second);
    }
    if (kind) {
      std::string h = normalize_space(p.text);
      if (h.empty()) return;
      if (kind == 10 && title_para.empty()) title_para = h;
      heading = std::move(h);
      return;
    }
    add_passage(doc, p.text, 0, 0, heading);
  };
  while (lex.next(tok)) {
    const std::string& n = tok.name;
    if (tok.kind == MarkupToken::Open) {
      if (n == "mc:Fallback") {
        if (!tok.self_closing) ++fallback;
        continue;
      }
      if (fallback > 0) continue;
      if (n == "w:p") {
        if (tok.self_closing) continue;
        if (paras.size() < kMaxNesting) paras.emplace_back();
        else ++overflow;
      } else if (paras.empty()) {
        continue;
      } else if (n == "w:pPr" || n == "w:rPr") {
        if (!tok.self_closing) ++in_ppr;
      } else if (n == "w:pStyle") {
        paras.back().style.assign(attr_value(tok, "w:val"));
      } else if (in_ppr > 0) {
        continue;
      } else if (n == "w:t") {
        in_t = !tok.self_closing;
      } else if (n == "w:tab" || n == "w:br" || n == "w:cr") {
        paras.back().text.push_back(n == "w:tab" ? '\t' : '\n');
      } else if (n == "w:noBreakHyphen") {
        paras.back().text.push_back('-');
      }
    } else if (tok.kind == MarkupToken::Close) {
      if (n == "mc:Fallback") {
        if (fallback > 0) --fallback;
        continue;
      }
      if (fallback > 0) continue;
      if (n == "w:p") {
        in_t = false;
        if (overflow > 0) --overflow;
        else if (!paras.empty()) end_paragraph();
      } else if (n == "w:pPr" || n == "w:rPr") {
        if (in_ppr > 0) --in_ppr;
      } else if (n == "w:t") {
        in_t = false;
      }
    } else if (in_t && fallback == 0 && !paras.empty()) {
      paras.back().text += tok.text;
    }
  }
  while (!paras.empty()) end_paragraph();  // unclosed paragraphs of a truncated document
  if (doc.title.empty()) doc.title = title_para;
  return doc;
}

}  // namespace ignis::rag::detail
