#include <gtest/gtest.h>

#include "runtime/stop_matcher.h"

using namespace ignis;

static std::string feed(StopMatcher& m, const std::vector<std::string>& pieces, bool* stopped) {
  std::string out;
  *stopped = false;
  for (const auto& p : pieces) {
    auto r = m.push(p);
    out += r.text;
    if (r.stopped) {
      *stopped = true;
      return out;
    }
  }
  return out + m.flush();
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m;
  auto r = m.push("hello");
  EXPECT_EQ(r.text, "hello");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, HoldsBackPossibleStopPrefix) {
  StopMatcher m({"STOP"});
  auto r = m.push("abcST");
  EXPECT_EQ(r.text, "abc");
  EXPECT_EQ(m.held_size(), 2u);
  r = m.push("x");  // not a stop after all: the held text is released
  EXPECT_EQ(r.text, "STx");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, MatchAcrossPiecesExcludesStopAndRest) {
  StopMatcher m({"STOP"});
  bool stopped;
  EXPECT_EQ(feed(m, {"ab", "cS", "TO", "Pxyz"}, &stopped), "abc");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w", ""});
  bool stopped;
  EXPECT_EQ(feed(m, {"hello world"}, &stopped), "hel");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, FlushReturnsHeldTailAtEnd) {
  StopMatcher m({"\n\n"});
  bool stopped;
  EXPECT_EQ(feed(m, {"line", "\n"}, &stopped), "line\n");
  EXPECT_FALSE(stopped);
}

TEST(StopMatcher, StopAtVeryStart) {
  StopMatcher m({"<e>"});
  auto r = m.push("<e>tail");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopMatcher, OverlappingPrefixKeepsLongestCandidate) {
  StopMatcher m({"aab"});
  bool stopped;
  // "aaab": after "aa" is held, another "a" shifts the candidate by one.
  EXPECT_EQ(feed(m, {"a", "a", "a", "b", "c"}, &stopped), "a");
  EXPECT_TRUE(stopped);
}
