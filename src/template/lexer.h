// ignis template: the lexer. Splits a template into text and tag tokens, applying
// Jinja2's whitespace control exactly as transformers configures it: newlines
// normalized to \n, one trailing newline dropped, `-`/`+` modifiers, trim_blocks and
// lstrip_blocks for {% %} and {# #} tags.
#pragma once
#include <string>
#include <vector>

namespace ignis::tmpl {

enum class Tok {
  kText,        // raw template text (value)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword
  kString,      // string literal, unescaped (value)
  kInt,         // integer literal (value = digits)
  kFloat,       // float literal (value = text)
  kOp,          // operator / punctuation (value)
  kEof,
};

struct Token {
  Tok kind;
  std::string value;
  int line;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateError (with the line) on an unterminated tag, comment or string.
std::vector<Token> lex(const std::string& source, const LexOptions& opts = {});

}  // namespace ignis::tmpl
