// Regex front end: errors with positions, and agreement with std::regex (ECMAScript) on random
// patterns from the subset where Python and ECMAScript mean the same.
#include <random>
#include <regex>

#include "common.h"

namespace ignis::test {
namespace {

bool rm(const std::string& re, const std::string& text) { return full_match(st::compile_grammar(regex_spec(re)), text); }

TEST(StructuredRegex, Basics) {
  EXPECT_TRUE(rm(R"(\d{3}-\d{4})", "555-1234"));
  EXPECT_FALSE(rm(R"(\d{3}-\d{4})", "555-123"));
  EXPECT_TRUE(rm(R"(^[A-Z][a-z]+$)", "Hello"));
  EXPECT_FALSE(rm(R"(^[A-Z][a-z]+$)", "hello"));
  EXPECT_TRUE(rm(R"((?P<word>\w+)\s(?:x|y)+?)", "ab_9 xyx"));
  EXPECT_TRUE(rm(R"(\W\S\D)", "-a "));
  EXPECT_TRUE(rm(R"(a{,2}b)", "aab"));
  EXPECT_TRUE(rm(R"(a{x)", "a{x"));  // not a quantifier: literal brace
  EXPECT_TRUE(rm(R"(\.\*\\)", ".*\\"));
  EXPECT_TRUE(rm(R"([\d.-]+)", "1.5-2"));
  EXPECT_TRUE(rm(R"(.)", "\xE2\x82\xAC"));  // one code point
  EXPECT_FALSE(rm(R"(.)", "\n"));
  EXPECT_TRUE(rm(R"(^a|b$)", "b"));
  EXPECT_TRUE(rm(R"(\u00e9\x41)", "\xC3\xA9" "A"));
}

TEST(StructuredRegex, ErrorsNameTheFeatureAndPosition) {
  auto err = [](const std::string& re) { return compile_error(regex_spec(re)); };
  EXPECT_EQ(err(R"((a)\1)"), "regex: position 3: backreferences are not supported");
  EXPECT_EQ(err(R"(a(?=b))"), "regex: position 1: lookaround assertions are not supported");
  EXPECT_EQ(err(R"(a(?<!b))"), "regex: position 1: lookaround assertions are not supported");
  EXPECT_EQ(err(R"(\bword)"), "regex: position 0: word boundaries (\\b, \\B) are not supported");
  EXPECT_EQ(err(R"(a^b)"), "regex: position 1: '^' is supported only at the start of the pattern");
  EXPECT_EQ(err(R"(a$b)"), "regex: position 1: '$' is supported only at the end of the pattern");
  EXPECT_EQ(err(R"(*a)"), "regex: position 0: nothing to repeat");
  EXPECT_EQ(err(R"(a**)"), "regex: position 2: multiple repeat");
  EXPECT_EQ(err(R"((ab)"), "regex: position 0: missing ')'");
  EXPECT_EQ(err(R"(ab))"), "regex: position 2: unbalanced ')'");
  EXPECT_EQ(err(R"([b-a])"), "regex: position 3: bad character range (out of order)");
  EXPECT_EQ(err(R"([abc)"), "regex: position 0: unterminated character set");
  EXPECT_EQ(err(R"((?i)a)"), "regex: position 0: this group extension (inline flags, conditionals, ...) is not supported");
  EXPECT_EQ(err(R"(a\q)"), "regex: position 1: unknown escape '\\q'");
}

// Random patterns over {a, b, c, 1}.
struct Gen {
  std::mt19937 rng;
  std::string pattern;
  explicit Gen(uint32_t seed) : rng(seed) {}
  int pick(int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); }

  std::string atom(int depth) {
    switch (depth > 2 ? pick(4) : pick(6)) {
      case 0: return std::string(1, "abc1"[pick(4)]);
      case 1: return std::vector<std::string>{"[ab]", "[^a]", "[a-c]", "\\d", "[1c]"}[pick(5)];
      case 2: return ".";
      case 3: return std::string(1, "abc"[pick(3)]) + std::string(1, "abc"[pick(3)]);
      case 4: return "(?:" + alt(depth + 1) + ")";
      default: return "(" + alt(depth + 1) + ")";
    }
  }
  std::string quantified(int depth) {
    std::string a = atom(depth);
    // Groups get only ? or a bounded count: nested unbounded repetition makes std::regex's
    // backtracking exponential (the matcher under test does not care).
    if (a[0] == '(') return a + std::vector<std::string>{"", "?", "{1,2}", "{2}"}[pick(4)];
    switch (pick(8)) {
      case 0: return a + "*";
      case 1: return a + "+";
      case 2: return a + "?";
      case 3: return a + "{" + std::to_string(pick(3)) + "}";
      case 4: {
        int m = pick(3);
        return a + "{" + std::to_string(m) + "," + std::to_string(m + pick(3)) + "}";
      }
      case 5: return a + "*?";
      default: return a;
    }
  }
  std::string concat(int depth) {
    std::string s;
    for (int n = 1 + pick(3); n-- > 0;) s += quantified(depth);
    return s;
  }
  std::string alt(int depth) {
    std::string s = concat(depth);
    while (pick(4) == 0) s += "|" + concat(depth);
    return s;
  }
};

TEST(StructuredRegex, AgreesWithStdRegexOnRandomPatterns) {
  std::mt19937 srng(7);
  int positives = 0, total = 0;
  for (uint32_t seed = 0; seed < 300; ++seed) {
    Gen g(seed);
    std::string pat = g.alt(0);
    std::regex ref(pat, std::regex::ECMAScript);
    st::Grammar gr = st::compile_grammar(regex_spec(pat));
    for (int k = 0; k < 40; ++k) {
      std::string text;
      for (int n = static_cast<int>(srng() % 7); n-- > 0;) text.push_back("abc1\n"[srng() % 5]);
      bool want = std::regex_match(text, ref);
      EXPECT_EQ(full_match(gr, text), want) << "pattern /" << pat << "/ text '" << text << "'";
      positives += want;
      ++total;
    }
  }
  EXPECT_GT(positives, total / 20) << "the random strings should match often enough to test acceptance";
}

}  // namespace
}  // namespace ignis::test
