// HTML, tolerantly: one passage per block element (p, li, div, td, ...; <br> ends one too),
// heading = the latest h1-h6 above it, title from <title>. Script, style and a few other
// non-text elements are dropped; unclosed tags just end at the next block boundary.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "rag/parse/markup.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

bool is_block(std::string_view n) {
  static constexpr std::array<std::string_view, 42> kBlock{
      "address", "article", "aside",   "blockquote", "body",   "br",      "caption", "center", "dd",
      "details", "dialog",  "div",     "dl",         "dt",     "fieldset", "figcaption", "figure", "footer",
      "form",    "header",  "hr",      "html",       "legend", "li",      "main",    "nav",    "ol",
      "p",       "pre",     "section", "summary",    "table",  "tbody",   "td",      "tfoot",  "th",
      "thead",   "tr",      "ul",      "option",     "menu",   "hgroup"};
  return std::find(kBlock.begin(), kBlock.end(), n) != kBlock.end();
}

bool is_dropped(std::string_view n) {  // content never shown as text
  return n == "noscript" || n == "template" || n == "svg" || n == "math" || n == "iframe" || n == "object" ||
         n == "select" || n == "canvas" || n == "audio" || n == "video";
}

int heading_level(std::string_view n) {
  if (n.size() == 2 && n[0] == 'h' && n[1] >= '1' && n[1] <= '6') return n[1] - '0';
  return 0;
}

bool has_text(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f') return true;
  return false;
}

}  // namespace

ParsedDocument parse_html(std::string_view text) {
  ParsedDocument doc;
  doc.format = "html";
  MarkupLexer lex(text, MarkupMode::Html);
  MarkupToken tok;
  std::string heading, heading_buf, buf, title;
  bool in_heading = false, in_title = false, in_head = false, buf_has_text = false;
  long dropped = 0;  // depth inside dropped elements
  int buf_line = 0;
  auto flush = [&] {
    if (buf_has_text) add_passage(doc, buf, 0, buf_line, heading);
    buf.clear();
    buf_has_text = false;
  };
  auto end_heading = [&] {
    if (!in_heading) return;
    in_heading = false;
    std::string h = normalize_space(heading_buf);
    if (!h.empty()) heading = std::move(h);
    heading_buf.clear();
  };
  while (lex.next(tok)) {
    const std::string& n = tok.name;
    if (tok.kind == MarkupToken::Open) {
      if (is_dropped(n)) {
        if (!tok.self_closing) ++dropped;
      } else if (n == "title") {
        in_title = true;
      } else if (n == "head") {
        in_head = true;
      } else if (n == "body") {
        in_head = false;
      }
      if (heading_level(n)) {
        flush();
        end_heading();
        in_heading = true;
      } else if (is_block(n)) {
        end_heading();
        flush();
      } else if (n == "img" && buf_has_text) {
        buf.push_back(' ');
      }
    } else if (tok.kind == MarkupToken::Close) {
      if (is_dropped(n)) {
        if (dropped > 0) --dropped;
      } else if (n == "title") {
        in_title = false;
      } else if (n == "head") {
        in_head = false;
      }
      if (heading_level(n)) {
        end_heading();
      } else if (is_block(n)) {
        end_heading();
        flush();
      }
    } else {
      if (in_title) {
        if (doc.title.empty()) title += tok.text;
        continue;
      }
      if (dropped > 0 || in_head) continue;
      if (in_heading) {
        heading_buf += tok.text;
        continue;
      }
      if (!buf_has_text) {
        if (!has_text(tok.text)) {
          buf += tok.text;
          continue;
        }
        buf_has_text = true;
        buf_line = tok.line;
      }
      if (buf.size() > kMaxParagraphBytes) {
        flush();
        buf_has_text = true;
        buf_line = tok.line;
      }
      buf += tok.text;
    }
    if (!in_title && doc.title.empty() && !title.empty()) doc.title = normalize_space(title);
  }
  end_heading();
  flush();
  if (doc.title.empty()) doc.title = normalize_space(title);
  return doc;
}

}  // namespace ignis::rag::detail
