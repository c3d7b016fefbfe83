// txt / md / vtt / srt parsing, text decoding and the file-level checks of parse_file.
#include <gtest/gtest.h>

#include "core/error.h"
#include "rag/document.h"
#include "rag_test_util.h"

namespace ignis::rag {
namespace {

using test::parse_bytes;
using test::parse_error_of;

TEST(RagFormat, FromExtensionCaseInsensitive) {
  EXPECT_EQ(format_of("a/b/notes.TXT"), "txt");
  EXPECT_EQ(format_of("x.text"), "txt");
  EXPECT_EQ(format_of("README.md"), "md");
  EXPECT_EQ(format_of("x.Markdown"), "md");
  EXPECT_EQ(format_of("paper.pdf"), "pdf");
  EXPECT_EQ(format_of("report.DOCX"), "docx");
  EXPECT_EQ(format_of("feed.xml"), "xml");
  EXPECT_EQ(format_of("index.htm"), "html");
  EXPECT_EQ(format_of("index.html"), "html");
  EXPECT_EQ(format_of("talk.vtt"), "vtt");
  EXPECT_EQ(format_of("movie.srt"), "srt");
  EXPECT_EQ(format_of("photo.jpg"), "");
  EXPECT_EQ(format_of("old.doc"), "");
  EXPECT_EQ(format_of("Makefile"), "");
  EXPECT_EQ(format_of(".md"), "");  // a hidden file named ".md" has no extension
}

TEST(RagText, ParagraphsWithFirstLinesAndNormalizedSpace) {
  const ParsedDocument d = parse_bytes("a.txt", "First  paragraph\r\ncontinues here.\r\n\r\n\n  Second\tone \n   \nThird.");
  EXPECT_EQ(d.format, "txt");
  EXPECT_EQ(d.title, "");
  ASSERT_EQ(d.passages.size(), 3u);
  EXPECT_EQ(d.passages[0].text, "First paragraph continues here.");
  EXPECT_EQ(d.passages[0].line, 1);
  EXPECT_EQ(d.passages[1].text, "Second one");
  EXPECT_EQ(d.passages[1].line, 5);
  EXPECT_EQ(d.passages[2].text, "Third.");
  EXPECT_EQ(d.passages[2].line, 7);
  for (const auto& p : d.passages) {
    EXPECT_EQ(p.page, 0);
    EXPECT_EQ(p.heading, "");
    EXPECT_EQ(p.anchor, "");
  }
}

TEST(RagText, EmptyAndBlankFilesHaveNoPassages) {
  EXPECT_TRUE(parse_bytes("e.txt", "").passages.empty());
  EXPECT_TRUE(parse_bytes("e.txt", " \n\t\n\r\n").passages.empty());
}

TEST(RagText, LongParagraphIsCutAtLineBoundaries) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line number " + std::to_string(i) + " of one long paragraph\n";
  const ParsedDocument d = parse_bytes("long.txt", text);
  ASSERT_GT(d.passages.size(), 2u);
  EXPECT_EQ(d.passages[0].line, 1);
  EXPECT_EQ(d.passages[0].text.substr(0, 13), "line number 0");
  for (std::size_t i = 1; i < d.passages.size(); ++i) {
    EXPECT_LE(d.passages[i].text.size(), 16u << 10);
    // each cut passage starts with the line its `line` names
    EXPECT_EQ(d.passages[i].text.substr(0, 12 + std::to_string(d.passages[i].line - 1).size()),
              "line number " + std::to_string(d.passages[i].line - 1));
  }
}

TEST(RagText, Utf8BomIsStripped) {
  const ParsedDocument d = parse_bytes("bom.txt", "\xEF\xBB\xBFHello w\xC3\xB6rld");
  ASSERT_EQ(d.passages.size(), 1u);
  EXPECT_EQ(d.passages[0].text, "Hello w\xC3\xB6rld");
}

TEST(RagText, Utf16WithBomIsDecoded) {
  // "Hi\n\n\xE2\x82\xAC 1\n" as UTF-16LE, then "A\xF0\x9F\x98\x80" (a surrogate pair) as UTF-16BE.
  const std::string le = std::string("\xFF\xFE", 2) + std::string("H\0i\0\n\0\n\0\xAC\x20 \0001\0", 14);
  ParsedDocument d = parse_bytes("le.txt", le);
  ASSERT_EQ(d.passages.size(), 2u);
  EXPECT_EQ(d.passages[0].text, "Hi");
  EXPECT_EQ(d.passages[1].text, "\xE2\x82\xAC 1");
  EXPECT_EQ(d.passages[1].line, 3);
  const std::string be = std::string("\xFE\xFF\0A\xD8\x3D\xDE\x00", 8);
  d = parse_bytes("be.txt", be);
  ASSERT_EQ(d.passages.size(), 1u);
  EXPECT_EQ(d.passages[0].text, "A\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_error_of("bad16.txt", std::string("\xFF\xFE\0\xD8\x41\0", 6)),
            "not UTF-16 text at byte 2 (unpaired surrogate)");
}

TEST(RagText, NonUtf8IsAnErrorNamingTheByteOffset) {
  EXPECT_EQ(parse_error_of("latin1.txt", "caf\xE9 au lait"), "not UTF-8 text at byte 3");
  EXPECT_EQ(parse_error_of("overlong.txt", "ab\xC0\xAF"), "not UTF-8 text at byte 2");
  EXPECT_EQ(parse_error_of("surrogate.md", "x\xED\xA0\x80"), "not UTF-8 text at byte 1");
  EXPECT_EQ(parse_error_of("truncated.txt", "ok \xE2\x82"), "not UTF-8 text at byte 3");
  EXPECT_EQ(parse_error_of("toolarge.txt", "\xF4\x90\x80\x80"), "not UTF-8 text at byte 0");
  // the offset counts the BOM
  EXPECT_EQ(parse_error_of("bom.txt", "\xEF\xBB\xBF" "ab\xFF"), "not UTF-8 text at byte 5");
  // the same check guards the markup and subtitle formats
  EXPECT_EQ(parse_error_of("page.html", "<p>na\xEFve</p>"), "not UTF-8 text at byte 5");
  EXPECT_EQ(parse_error_of("subs.srt", "1\n00:00:01,000 --> 00:00:02,000\n\x80\n"), "not UTF-8 text at byte 32");
}

TEST(RagText, SizeLimitIsCheckedBeforeReading) {
  ParseLimits small;
  small.max_file_bytes = 10;
  EXPECT_EQ(parse_error_of("big.txt", "0123456789A", small), "larger than 10 bytes");
  EXPECT_EQ(parse_bytes("ok.txt", "0123456789", small).passages.at(0).text, "0123456789");
  small.max_file_bytes = 1 << 10;
  EXPECT_EQ(parse_error_of("big.pdf", std::string(2000, 'x'), small), "larger than 1 KiB");
  ParseLimits mib;
  mib.max_file_bytes = 1 << 20;
  EXPECT_EQ(parse_error_of("big.md", std::string((1 << 20) + 1, 'x'), mib), "larger than 1 MiB");
}

TEST(RagText, UnsupportedAndMissingFiles) {
  EXPECT_EQ(parse_error_of("image.png", "\x89PNG"), "unsupported format");
  test::TempDir dir;
  EXPECT_THROW(parse_file(dir / "missing.txt"), ignis::Error);
  std::filesystem::create_directory(dir / "folder.txt");
  EXPECT_THROW(parse_file(dir / "folder.txt"), ignis::Error);
}

TEST(RagMarkdown, HeadingsTitleAndCodeFences) {
  const std::string md =
      "# User Guide\n"              // 1
      "\n"                          // 2
      "Intro paragraph\n"           // 3
      "over two lines.\n"           // 4
      "\n"                          // 5
      "## Install ##\n"             // 6
      "Run the installer.\n"        // 7
      "```sh\n"                     // 8
      "# not a heading\n"           // 9
      "\n"                          // 10
      "make install\n"              // 11
      "```\n"                       // 12
      "Setext Heading\n"            // 13
      "--------------\n"            // 14
      "Under setext.\n"             // 15
      "#hashtag is text\n"          // 16
      "\n"                          // 17
      "####### seven is text too\n"; // 18
  const ParsedDocument d = parse_bytes("guide.md", md);
  EXPECT_EQ(d.format, "md");
  EXPECT_EQ(d.title, "User Guide");
  ASSERT_EQ(d.passages.size(), 5u);
  EXPECT_EQ(d.passages[0].text, "Intro paragraph over two lines.");
  EXPECT_EQ(d.passages[0].heading, "User Guide");
  EXPECT_EQ(d.passages[0].line, 3);
  EXPECT_EQ(d.passages[1].text, "Run the installer.");
  EXPECT_EQ(d.passages[1].heading, "Install");
  EXPECT_EQ(d.passages[1].line, 7);
  EXPECT_EQ(d.passages[2].text, "# not a heading make install");  // the fence is one passage
  EXPECT_EQ(d.passages[2].heading, "Install");
  EXPECT_EQ(d.passages[2].line, 9);
  EXPECT_EQ(d.passages[3].text, "Under setext. #hashtag is text");
  EXPECT_EQ(d.passages[3].heading, "Setext Heading");
  EXPECT_EQ(d.passages[3].line, 15);
  EXPECT_EQ(d.passages[4].text, "####### seven is text too");
  EXPECT_EQ(d.passages[4].line, 18);
}

TEST(RagMarkdown, TitleFromSetextLevelOneAndNotFromLevelTwo) {
  EXPECT_EQ(parse_bytes("a.md", "## Sub\n\ntext\n").title, "");
  const ParsedDocument d = parse_bytes("b.md", "Big Title\n===\nbody\n");
  EXPECT_EQ(d.title, "Big Title");
  ASSERT_EQ(d.passages.size(), 1u);
  EXPECT_EQ(d.passages[0].heading, "Big Title");
  EXPECT_EQ(d.passages[0].line, 3);
}

TEST(RagSubtitles, WebVttCues) {
  const std::string vtt =
      "WEBVTT - a talk\n"                                       // 1
      "\n"                                                      // 2
      "NOTE this is a comment\n"                                // 3
      "spanning lines\n"                                        // 4
      "\n"                                                      // 5
      "STYLE\n"                                                 // 6
      "::cue { color: red }\n"                                  // 7
      "\n"                                                      // 8
      "intro\n"                                                 // 9
      "00:00:01.500 --> 00:00:04.000 align:start\n"             // 10
      "<v Alice>Hello &amp; <b>welcome</b></v>\n"               // 11
      "to the show\n"                                           // 12
      "\n"                                                      // 13
      "01:02.250 --> 01:05.000\n"                               // 14
      "Second <00:01:03.000><c.loud>cue</c>\n"                  // 15
      "\n"                                                      // 16
      "bad timing --> nope\n"                                   // 17
      "ignored text\n"                                          // 18
      "\n"                                                      // 19
      "2\n"                                                     // 20
      "10:00:00.000 --> 10:00:01.000\n"                         // 21
      "Late cue\n";                                             // 22
  const ParsedDocument d = parse_bytes("talk.vtt", vtt);
  EXPECT_EQ(d.format, "vtt");
  ASSERT_EQ(d.passages.size(), 3u);
  EXPECT_EQ(d.passages[0].text, "Alice: Hello & welcome to the show");
  EXPECT_EQ(d.passages[0].anchor, "00:00:01.500");
  EXPECT_EQ(d.passages[0].line, 9);
  EXPECT_EQ(d.passages[1].text, "Second cue");
  EXPECT_EQ(d.passages[1].anchor, "00:01:02.250");
  EXPECT_EQ(d.passages[1].line, 14);
  EXPECT_EQ(d.passages[2].text, "Late cue");
  EXPECT_EQ(d.passages[2].anchor, "10:00:00.000");
  EXPECT_EQ(d.passages[2].line, 20);
}

TEST(RagSubtitles, WebVttNeedsItsHeader) {
  EXPECT_EQ(parse_error_of("x.vtt", "00:00:01.000 --> 00:00:02.000\nhi\n"), "not a WebVTT file (no WEBVTT header on line 1)");
  EXPECT_EQ(parse_error_of("x.vtt", "WEBVTTX\n"), "not a WebVTT file (no WEBVTT header on line 1)");
  EXPECT_EQ(parse_error_of("x.vtt", ""), "not a WebVTT file (no WEBVTT header on line 1)");
  EXPECT_TRUE(parse_bytes("x.vtt", "\xEF\xBB\xBFWEBVTT\n").passages.empty());
}

TEST(RagSubtitles, SubRipCues) {
  const std::string srt =
      "1\r\n"                                      // 1
      "00:00:01,000 --> 00:00:04,000\r\n"          // 2
      "<i>Hello</i> there,\r\n"                    // 3
      "{\\an8}general.\r\n"                        // 4
      "\r\n"                                       // 5
      "2\r\n"                                      // 6
      "01:23:45,678 --> 01:23:47,000\r\n"          // 7
      "<font color=\"#fff\">Second</font> cue\r\n" // 8
      "\r\n"                                       // 9
      "3\r\n"                                      // 10
      "00:00:99,000 --> 00:01:00,000\r\n"          // 11: seconds out of range, skipped
      "broken\r\n"
      "\r\n"
      "\r\n"
      "4\r\n"                                      // 15
      "00:02:00,5 --> 00:02:01,000\r\n"            // 16: short milliseconds
      "Last\r\n";
  const ParsedDocument d = parse_bytes("movie.srt", srt);
  EXPECT_EQ(d.format, "srt");
  ASSERT_EQ(d.passages.size(), 3u);
  EXPECT_EQ(d.passages[0].text, "Hello there, general.");
  EXPECT_EQ(d.passages[0].anchor, "00:00:01.000");
  EXPECT_EQ(d.passages[0].line, 1);
  EXPECT_EQ(d.passages[1].text, "Second cue");
  EXPECT_EQ(d.passages[1].anchor, "01:23:45.678");
  EXPECT_EQ(d.passages[1].line, 6);
  EXPECT_EQ(d.passages[2].text, "Last");
  EXPECT_EQ(d.passages[2].anchor, "00:02:00.500");
  EXPECT_EQ(d.passages[2].line, 15);
}

TEST(RagSubtitles, SubRipWithoutAnyCueIsAnError) {
  EXPECT_EQ(parse_error_of("x.srt", "just some text\nno timings\n"), "not a SubRip file (no cue timing line)");
  EXPECT_TRUE(parse_bytes("empty.srt", "\n\n").passages.empty());
}

}  // namespace
}  // namespace ignis::rag
