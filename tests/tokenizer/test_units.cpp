// Unit tests of the pipeline pieces that do not need the npm assets.
#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_lossy("abc"), "abc");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), R);              // truncated 4-byte: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xC0\x80"), R + R);              // overlong: each byte
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), R + R + R);      // surrogate: each byte
  EXPECT_EQ(utf8_lossy("a\xE2\x82z"), "a" + R + "z");    // truncated 3-byte inside text
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8_lossy("\xFF\xFE"), R + R);
}

TEST(Utf8, IncompleteTail) {
  EXPECT_TRUE(ends_with_incomplete_utf8("ab\xF0\x9F\x98"));
  EXPECT_TRUE(ends_with_incomplete_utf8("\xE4"));
  EXPECT_FALSE(ends_with_incomplete_utf8("ab\xF0\x9F\x98\x80"));
  EXPECT_FALSE(ends_with_incomplete_utf8("ab"));
  EXPECT_FALSE(ends_with_incomplete_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8"));
  EXPECT_TRUE(is_valid_utf8("\xE4\xB8\xAD"));
}

TEST(ByteLevel, RoundTripsAllBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string enc = byte_level_encode(all);
  EXPECT_TRUE(is_valid_utf8(enc));
  EXPECT_EQ(byte_level_encode(" "), "\xC4\xA0");   // 'Ġ'
  EXPECT_EQ(byte_level_encode("\n"), "\xC4\x8A");  // 'Ċ'
  EXPECT_EQ(byte_level_encode("A"), "A");
  std::string back;
  byte_level_decode_token(enc, back);
  EXPECT_EQ(back, all);
  back.clear();
  byte_level_decode_token("<|eot_id|>", back);  // printable ASCII maps to itself
  EXPECT_EQ(back, "<|eot_id|>");
  back.clear();
  byte_level_decode_token("\xE4\xB8\xAD", back);  // not a byte-level char: kept as UTF-8
  EXPECT_EQ(back, "\xE4\xB8\xAD");
}

TEST(Regex, WhitespaceIsOnigurumaWhiteSpace) {
  Regex re("\\s+", false, "test");
  // U+180E is not White_Space (PCRE2's \s would take it); U+0085 and U+3000 are.
  EXPECT_TRUE(re.find_all("\xE1\xA0\x8E").empty());
  EXPECT_EQ(re.find_all("a\xC2\x85" "b").size(), 1u);
  EXPECT_EQ(re.find_all("a\xE3\x80\x80" "b").size(), 1u);
  Regex neg("[^\\s\\p{L}]+", false, "test");
  EXPECT_EQ(neg.find_all("a \xE1\xA0\x8E b").size(), 1u);
  EXPECT_EQ(onig_compatible_pattern("[\\]\\s]"), "[\\]" + std::string("\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}") + "]");
}

TEST(Regex, LookaheadAndCaseInsensitive) {
  Regex re("(?i:'s|'ll)|\\s+(?!\\S)|\\s+|\\p{L}+", false, "test");
  auto m = re.find_all("he'S   x");
  ASSERT_EQ(m.size(), 5u);  // he | 'S | "  " | " " | x
  EXPECT_EQ(m[1], (std::pair<size_t, size_t>{2, 4}));
  EXPECT_EQ(m[2], (std::pair<size_t, size_t>{4, 6}));
  EXPECT_EQ(m[3], (std::pair<size_t, size_t>{6, 7}));
}

}  // namespace
}  // namespace ignis::tok
