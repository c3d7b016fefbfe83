// Generic XML: the character data of the document, one passage per element that holds text
// (text that starts in an element runs until that element closes, its children included, so
// mixed content like <p>a <em>b</em> c</p> stays one passage), except that a child tag on a
// line of its own after the text ("text\n  <para>") starts a new passage. Tags separate words.
#include <string>
#include <string_view>

#include "rag/parse/markup.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

std::string_view local_name(std::string_view qname) {
  const std::size_t colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

bool has_text(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return true;
  return false;
}

}  // namespace

ParsedDocument parse_xml(std::string_view text) {
  ParsedDocument doc;
  doc.format = "xml";
  MarkupLexer lex(text, MarkupMode::Xml);
  MarkupToken tok;
  long depth = 0;
  std::string buf;
  bool buf_has_text = false;
  bool buf_ends_in_newline = false;  // the whitespace after the buffer's last word has a '\n'
  long buf_depth = 0;
  int buf_line = 0;
  long title_depth = -1;  // depth of the first <title> while its text is collected
  std::string title;
  auto flush = [&] {
    if (buf_has_text) add_passage(doc, buf, 0, buf_line, "");
    buf.clear();
    buf_has_text = false;
    buf_ends_in_newline = false;
  };
  while (lex.next(tok)) {
    switch (tok.kind) {
      case MarkupToken::Open:
        if (buf.size() > kMaxParagraphBytes || buf_ends_in_newline) flush();
        if (buf_has_text) buf.push_back(' ');
        if (tok.self_closing) break;
        ++depth;
        if (doc.title.empty() && title_depth < 0 && local_name(tok.name) == "title") title_depth = depth;
        break;
      case MarkupToken::Close:
        if (buf_has_text && (depth <= buf_depth || buf.size() > kMaxParagraphBytes)) flush();
        if (buf_has_text) buf.push_back(' ');
        if (depth == title_depth) {
          doc.title = normalize_space(title);
          title_depth = -1;
        }
        if (depth > 0) --depth;
        break;
      case MarkupToken::Text:
        if (title_depth >= 0) title += tok.text;
        if (!buf_has_text) {
          if (!has_text(tok.text)) break;
          buf_has_text = true;
          buf_depth = depth;
          buf_line = tok.line;
        }
        buf += tok.text;
        if (const std::size_t last = tok.text.find_last_not_of(" \t\r\n"); last == std::string::npos)
          buf_ends_in_newline = buf_ends_in_newline || tok.text.find('\n') != std::string::npos;
        else
          buf_ends_in_newline = tok.text.find('\n', last) != std::string::npos;
        break;
    }
  }
  flush();
  return doc;
}

}  // namespace ignis::rag::detail
