// ignis rag parsers: a small pull tokenizer for XML and (tolerant) HTML, shared by the xml,
// html and docx parsers. It never recurses and never expands anything but the predefined and
// numeric character references: a DTD (with its entity declarations) is skipped as a whole, so
// an undeclared "&lol9;" stays literal text (no billion laughs). Malformed markup degrades to
// text or is skipped; nothing throws. Internal to src/rag/parse.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ignis::rag::detail {

enum class MarkupMode { Xml, Html };

struct MarkupToken {
  enum Kind { Text, Open, Close };
  Kind kind = Text;
  std::string name;  // Open / Close: the tag name (lowercased in Html mode)
  std::vector<std::pair<std::string, std::string>> attrs;  // Open: names as written, values decoded
  bool self_closing = false;  // Open: "<x/>" (or an HTML void element)
  std::string text;           // Text: decoded character data (CDATA verbatim)
  int line = 1;               // 1-based line of the token; Text: of its first non-space character
};

class MarkupLexer {
 public:
  MarkupLexer(std::string_view src, MarkupMode mode) : src_(src), mode_(mode) {}
  // The next token; false at the end of the input. In Html mode the content of <script> and
  // <style> is skipped (Open then Close), that of <title> and <textarea> is one Text token.
  bool next(MarkupToken& tok);

 private:
  int line_at(std::size_t pos);  // pos must not decrease between calls
  void lex_tag(MarkupToken& tok, std::size_t start);
  bool lex_raw_content(MarkupToken& tok);

  std::string_view src_;
  MarkupMode mode_;
  std::size_t pos_ = 0;
  std::size_t line_pos_ = 0;
  int line_ = 1;
  std::string raw_end_;        // Html: the element whose raw content comes next ("" if none)
  bool raw_keep_ = false;      // its content is text (title, textarea) rather than dropped
  bool pending_close_ = false; // emit Close(raw_end_) next
};

// Appends `raw` to `out` with character references decoded (Html mode knows a few dozen
// named ones besides amp lt gt quot apos; unknown ones stay literal).
void decode_entities(std::string_view raw, MarkupMode mode, std::string& out);

// The value of attribute `name` of an Open token, or "".
std::string_view attr_value(const MarkupToken& tok, std::string_view name);

}  // namespace ignis::rag::detail
