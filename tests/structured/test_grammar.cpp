// GBNF parsing, lowering errors and byte-level matching.
#include "common.h"

namespace ignis::test {
namespace {

bool gm(const std::string& grammar, const std::string& text) {
  return full_match(st::compile_grammar(grammar_spec(grammar)), text);
}

TEST(StructuredGrammar, LiteralsClassesAndRepetition) {
  std::string g = R"(
    # a comment
    root ::= greeting " " name ("!" | "?")?   # trailing comment
    greeting ::= "hi" | "hello"
    name ::= [A-Z] [a-z]{1,4}
  )";
  EXPECT_TRUE(gm(g, "hi Bob"));
  EXPECT_TRUE(gm(g, "hello Alice!"));
  EXPECT_TRUE(gm(g, "hi Ab?"));
  EXPECT_FALSE(gm(g, "hi Abcdef"));  // more than 4 lower-case letters
  EXPECT_FALSE(gm(g, "hi bob"));
  EXPECT_FALSE(gm(g, "hi Bob!!"));
  EXPECT_FALSE(gm(g, "hi"));
}

TEST(StructuredGrammar, Quantifiers) {
  EXPECT_TRUE(gm(R"(root ::= "a"{3})", "aaa"));
  EXPECT_FALSE(gm(R"(root ::= "a"{3})", "aa"));
  EXPECT_FALSE(gm(R"(root ::= "a"{3})", "aaaa"));
  EXPECT_TRUE(gm(R"(root ::= "a"{2,})", "aaaaaaa"));
  EXPECT_FALSE(gm(R"(root ::= "a"{2,})", "a"));
  EXPECT_TRUE(gm(R"(root ::= "a"{0,2} "b"+)", "bbb"));
  EXPECT_TRUE(gm(R"(root ::= "a"{0,2} "b"+)", "aab"));
  EXPECT_FALSE(gm(R"(root ::= "a"{0,2} "b"+)", "aaab"));
  EXPECT_TRUE(gm(R"(root ::= ("ab" | "c")* "d")", "abccabd"));
  EXPECT_TRUE(gm(R"(root ::= ("a"?)* "b")", "aab"));  // nullable body of a star
  EXPECT_TRUE(gm(R"(root ::= "")", ""));
}

TEST(StructuredGrammar, EscapesAndUtf8Classes) {
  EXPECT_TRUE(gm(R"(root ::= "\x41\u00e9\n\"\\")", "A\xC3\xA9\n\"\\"));
  std::string g = R"(root ::= [^a-z]+)";
  EXPECT_TRUE(gm(g, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80Z"));  // é € 😀 Z
  EXPECT_FALSE(gm(g, "ab"));
  EXPECT_FALSE(gm(g, "\xC3"));          // truncated UTF-8
  EXPECT_FALSE(gm(g, "\xED\xA0\x80"));  // a surrogate is not a character
  EXPECT_TRUE(gm(R"(root ::= [α-ω]{2})", "\xCE\xB1\xCF\x89"));
  EXPECT_TRUE(gm(R"(root ::= . .)", "x\xE2\x82\xAC"));
  EXPECT_TRUE(gm(R"(root ::= [\]\-a]+)", "]-a"));
}

TEST(StructuredGrammar, RecursionAndMultiLineRules) {
  std::string g = R"g(
    root ::= expr
    expr ::= term ("+" term)*
    term ::= [0-9]+
           | "(" expr ")"
  )g";
  EXPECT_TRUE(gm(g, "1+(2+(3+4))+5"));
  EXPECT_FALSE(gm(g, "1+(2+3"));
  EXPECT_FALSE(gm(g, "1++2"));
  // Deep nesting: the stack grows with the parentheses only.
  std::string deep = std::string(200, '(') + "7" + std::string(200, ')');
  EXPECT_TRUE(gm(g, deep));
  EXPECT_FALSE(gm(g, deep + ")"));
}

TEST(StructuredGrammar, AmbiguityKeepsAllParses) {
  // "a" can end either alternative; both must stay alive.
  std::string g = R"(root ::= ("a" | "ab") ("bc" | "c"))";
  EXPECT_TRUE(gm(g, "abc"));
  EXPECT_TRUE(gm(g, "ac"));
  EXPECT_TRUE(gm(g, "abbc"));
  EXPECT_FALSE(gm(g, "ab"));
}

TEST(StructuredGrammar, Errors) {
  auto err = [](const std::string& g) { return compile_error(grammar_spec(g)); };
  EXPECT_NE(err(R"(root ::= "abc)").find("line 1 col 10: unterminated string literal"), std::string::npos) << err(R"(root ::= "abc)");
  EXPECT_NE(err("root ::= foo").find("undefined rule 'foo'"), std::string::npos);
  EXPECT_NE(err("rot ::= \"a\"").find("no rule 'root'"), std::string::npos);
  EXPECT_NE(err("root ::= [a-").find("unterminated character class"), std::string::npos);
  EXPECT_NE(err("root ::= [z-a]").find("out of order"), std::string::npos);
  EXPECT_NE(err("root ::= (\"a\"").find("unbalanced '('"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\")").find("unbalanced ')'"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"\nroot ::= \"b\"").find("line 2 col 1: rule 'root' is defined twice"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"{3,2}").find("max < min"), std::string::npos);
  EXPECT_NE(err("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= x\nx ::= y \"a\"\ny ::= \"\" | x").find("left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= x\nx ::= \"a\" x").find("matches nothing"), std::string::npos);
  EXPECT_NE(err("").find("empty grammar"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\" @").find("unexpected character '@'"), std::string::npos);
}

}  // namespace
}  // namespace ignis::test
