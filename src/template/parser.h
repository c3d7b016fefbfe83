// ignis template: recursive-descent parser from tokens to a Node tree (Jinja2 grammar
// subset: expressions with Jinja's precedence, and the statements chat templates use).
#pragma once
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace ignis::tmpl {

// Throws TemplateError naming the line on any syntax error.
NodePtr parse(const std::vector<Token>& tokens);

}  // namespace ignis::tmpl
