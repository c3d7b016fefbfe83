// xml and html: the shared tokenizer (entities, CDATA, comments, DTDs), passages and lines,
// and hostile input (billion laughs, deep nesting, unterminated markup).
#include <gtest/gtest.h>

#include <chrono>

#include "rag/document.h"
#include "rag_test_util.h"

namespace ignis::rag {
namespace {

using test::parse_bytes;

std::vector<std::string> texts(const ParsedDocument& d) {
  std::vector<std::string> out;
  for (const auto& p : d.passages) out.push_back(p.text);
  return out;
}

TEST(RagXml, PassagesPerTextElementWithLines) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                  // 1
      "<!-- a comment with <para>tags</para> -->\n"                                   // 2
      "<book xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"                        // 3
      "  <dc:title>Rust &amp; C++</dc:title>\n"                                       // 4
      "  <chapter n=\"1\">\n"                                                         // 5
      "    <para>Some <em>mixed</em> content</para>\n"                                // 6
      "    <para><![CDATA[<raw> & text &amp;]]></para>\n"                             // 7
      "    <para>&#65;&#x42;&#x1F600; &lt;ok&gt; &bogus; &#0; &#xD800; & alone</para>\n"  // 8
      "    <?pi <para>data</para> ?>\n"                                               // 9
      "    <empty/>\n"                                                                // 10
      "    <para>multi\n"                                                             // 11
      "line</para>\n"                                                                 // 12
      "  </chapter>\n"                                                                // 13
      "  tail text\n"                                                                 // 14
      "</book>\n";
  const ParsedDocument d = parse_bytes("book.xml", xml);
  EXPECT_EQ(d.format, "xml");
  EXPECT_EQ(d.title, "Rust & C++");
  ASSERT_EQ(d.passages.size(), 6u);
  EXPECT_EQ(d.passages[0].text, "Rust & C++");
  EXPECT_EQ(d.passages[0].line, 4);
  EXPECT_EQ(d.passages[1].text, "Some mixed content");
  EXPECT_EQ(d.passages[1].line, 6);
  EXPECT_EQ(d.passages[2].text, "<raw> & text &amp;");  // CDATA is verbatim
  EXPECT_EQ(d.passages[2].line, 7);
  EXPECT_EQ(d.passages[3].text, "AB\xF0\x9F\x98\x80 <ok> &bogus; \xEF\xBF\xBD \xEF\xBF\xBD & alone");
  EXPECT_EQ(d.passages[3].line, 8);
  EXPECT_EQ(d.passages[4].text, "multi line");
  EXPECT_EQ(d.passages[4].line, 11);
  EXPECT_EQ(d.passages[5].text, "tail text");
  EXPECT_EQ(d.passages[5].line, 14);
  for (const auto& p : d.passages) {
    EXPECT_EQ(p.page, 0);
    EXPECT_EQ(p.heading, "");
  }
}

TEST(RagXml, TextBeforeAChildOnItsOwnLineIsItsOwnPassage) {
  const std::string xml =
      "<section>\n"
      "  <title>Overview</title>\n"
      "  Loose text of the section\n"
      "  <para>First <emphasis>inline</emphasis> para</para>\n"
      "  more loose text <link>inline link</link> continues\n"
      "</section>\n";
  const ParsedDocument d = parse_bytes("docbook.xml", xml);
  EXPECT_EQ(texts(d), (std::vector<std::string>{"Overview", "Loose text of the section", "First inline para",
                                                "more loose text inline link continues"}));
  EXPECT_EQ(d.passages[1].line, 3);
  EXPECT_EQ(d.passages[3].line, 5);
}

TEST(RagXml, BillionLaughsAndExternalEntitiesAreNotExpanded) {
  std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n";
  for (int i = 1; i <= 9; ++i) {
    xml += " <!ENTITY lol" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k) xml += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    xml += "\">\n";
  }
  xml += " <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n";
  xml += " <!ENTITY trick \"]> <para>inside the dtd</para>\">\n";
  xml += " <!-- ]> also not the end -->\n";
  xml += "]>\n<lolz><a>&lol9;</a><b>&xxe;</b><c>&trick;</c></lolz>\n";
  const auto t0 = std::chrono::steady_clock::now();
  const ParsedDocument d = parse_bytes("lolz.xml", xml);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(texts(d), (std::vector<std::string>{"&lol9;", "&xxe;", "&trick;"}));
  EXPECT_EQ(d.passages[0].line, 17);
}

TEST(RagXml, DeepNestingIsIterative) {
  constexpr int kDepth = 200000;
  std::string xml;
  for (int i = 0; i < kDepth; ++i) xml += "<a>";
  xml += "deep";
  for (int i = 0; i < kDepth; ++i) xml += "</a>";
  xml += "\n<a>after</a>";
  const ParsedDocument d = parse_bytes("deep.xml", xml);
  EXPECT_EQ(texts(d), (std::vector<std::string>{"deep", "after"}));
  EXPECT_EQ(d.passages[1].line, 2);
  // unclosed, mismatched and stray close tags
  std::string bad;
  for (int i = 0; i < kDepth; ++i) bad += "<x><y>";
  bad += "open</z></z></z>";
  EXPECT_EQ(texts(parse_bytes("unclosed.xml", bad)), (std::vector<std::string>{"open"}));
}

TEST(RagXml, MalformedMarkupDegradesWithoutThrowing) {
  EXPECT_EQ(texts(parse_bytes("a.xml", "<r>ok</r><a attr=\"unterminated")), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(texts(parse_bytes("b.xml", "<r>ok</r><!-- unterminated comment <r>x</r>")), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(texts(parse_bytes("c.xml", "<r><![CDATA[unterminated")), (std::vector<std::string>{"unterminated"}));
  EXPECT_EQ(texts(parse_bytes("d.xml", "<!DOCTYPE x [ <!ENTITY a \"unterminated")), (std::vector<std::string>{}));
  EXPECT_EQ(texts(parse_bytes("e.xml", "1 < 2 and <3\n<r>x</r")), (std::vector<std::string>{"1 < 2 and <3", "x"}));
  EXPECT_EQ(texts(parse_bytes("f.xml", "<")), (std::vector<std::string>{"<"}));
  EXPECT_EQ(texts(parse_bytes("g.xml", "")), (std::vector<std::string>{}));
}

TEST(RagHtml, BlocksHeadingsTitleAndDroppedContent) {
  const std::string html =
      "<!DOCTYPE html>\n"                                                      // 1
      "<HTML><head><title>My &amp; Page</title>\n"                             // 2
      "<style>p { color: red } </p></style>\n"                                 // 3
      "<script>var s = \"<p>not text</p>\"; if (a < b) {}</script>\n"          // 4
      "<meta charset=\"utf-8\"></head>\n"                                      // 5
      "<body>\n"                                                               // 6
      "<h1>Main <small>Heading</small></h1>\n"                                 // 7
      "<p class=x>First para with <b>bold</b> and&nbsp;nbsp &copy; 2024.\n"    // 8
      "<p>Unclosed second\n"                                                   // 9
      "para</p>\n"                                                             // 10
      "<h2>Sub</h2>\n"                                                         // 11
      "<ul><li>one<li>two</ul>\n"                                              // 12
      "<div>line one<br>line two</div>\n"                                      // 13
      "<noscript>Enable JS</noscript>\n"                                       // 14
      "<!-- <p>commented</p> -->\n"                                            // 15
      "<p>a < b and c > d &unknown; &#x263A;</p>\n"                            // 16
      "<SCRIPT type=\"text/javascript\">document.write(\"x\")</SCRIPT>tail\n"  // 17
      "<H3>Third<p>after an unclosed heading</H3>\n"                           // 18
      "</body></HTML>\n";
  const ParsedDocument d = parse_bytes("page.html", html);
  EXPECT_EQ(d.format, "html");
  EXPECT_EQ(d.title, "My & Page");
  ASSERT_EQ(d.passages.size(), 9u) << ::testing::PrintToString(texts(d));
  EXPECT_EQ(d.passages[0].text, "First para with bold and nbsp \xC2\xA9 2024.");
  EXPECT_EQ(d.passages[0].heading, "Main Heading");
  EXPECT_EQ(d.passages[0].line, 8);
  EXPECT_EQ(d.passages[1].text, "Unclosed second para");
  EXPECT_EQ(d.passages[1].heading, "Main Heading");
  EXPECT_EQ(d.passages[1].line, 9);
  EXPECT_EQ(d.passages[2].text, "one");
  EXPECT_EQ(d.passages[2].heading, "Sub");
  EXPECT_EQ(d.passages[2].line, 12);
  EXPECT_EQ(d.passages[3].text, "two");
  EXPECT_EQ(d.passages[4].text, "line one");
  EXPECT_EQ(d.passages[4].line, 13);
  EXPECT_EQ(d.passages[5].text, "line two");
  EXPECT_EQ(d.passages[6].text, "a < b and c > d &unknown; \xE2\x98\xBA");
  EXPECT_EQ(d.passages[6].line, 16);
  EXPECT_EQ(d.passages[7].text, "tail");
  EXPECT_EQ(d.passages[7].line, 17);
  EXPECT_EQ(d.passages[7].heading, "Sub");
  EXPECT_EQ(d.passages[8].text, "after an unclosed heading");
  EXPECT_EQ(d.passages[8].heading, "Third");
  EXPECT_EQ(d.passages[8].line, 18);
}

TEST(RagXml, ManyAmpersandsWithoutSemicolonStayLinear) {
  const std::string xml = "<r>" + std::string(4 << 20, '&') + ";</r>";
  const auto t0 = std::chrono::steady_clock::now();
  const ParsedDocument d = parse_bytes("amps.xml", xml);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // one text node of 4 MiB: cut into passages of at most 32 KiB (no space in it: anywhere)
  std::string joined;
  for (const auto& p : d.passages) {
    EXPECT_LE(p.text.size(), 32u << 10);
    EXPECT_EQ(p.line, 1);
    joined += p.text;
  }
  EXPECT_EQ(d.passages.size(), (4u << 20) / (32u << 10) + 1);
  EXPECT_EQ(joined, std::string(4 << 20, '&') + ";");
}

TEST(RagHtml, LongTextIsCutAtSpacesAndCharacterBoundaries) {
  std::string words;
  while (words.size() < 100000) words += "w\xC3\xB6rd ";  // "word" with an o-umlaut
  std::string no_spaces;
  while (no_spaces.size() < 70000) no_spaces += "\xE2\x82\xAC";  // euro signs, 3 bytes each
  const ParsedDocument d = parse_bytes("long.html", "<p>" + words + "</p><p>" + no_spaces + "</p>");
  std::string joined_words, joined_euros;
  for (const auto& p : d.passages) {
    EXPECT_LE(p.text.size(), 32u << 10);
    EXPECT_NE(p.text.front(), ' ');
    EXPECT_NE(p.text.back(), ' ');
    if (p.text[0] == 'w') joined_words += (joined_words.empty() ? "" : " ") + p.text;
    else joined_euros += p.text;
  }
  words.pop_back();
  EXPECT_EQ(joined_words, words);     // cut at spaces: nothing lost, no word split
  EXPECT_EQ(joined_euros, no_spaces); // cut between characters: still valid UTF-8 pieces
  EXPECT_EQ(d.passages.size(), 4u + 3u);
}

TEST(RagHtml, HostileAndBrokenPages) {
  // unterminated script: everything after it is script
  EXPECT_EQ(texts(parse_bytes("a.html", "<p>kept</p><script>var x = '</p><p>gone")), (std::vector<std::string>{"kept"}));
  // deep nesting of unclosed inline and block tags
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<div><span><b>";
  deep += "bottom";
  EXPECT_EQ(texts(parse_bytes("deep.html", deep)), (std::vector<std::string>{"bottom"}));
  // many attributes in one tag, a tag never closed
  std::string attrs = "<p>start</p><p";
  for (int i = 0; i < 10000; ++i) attrs += " a" + std::to_string(i) + "=v";
  attrs += ">end</p><img src=\"x";
  EXPECT_EQ(texts(parse_bytes("attrs.html", attrs)), (std::vector<std::string>{"start", "end"}));
  // a title that is never closed is the rest of the file; no body text
  const ParsedDocument t = parse_bytes("t.html", "<title>Just a <b>title");
  EXPECT_EQ(t.title, "Just a <b>title");
  EXPECT_TRUE(t.passages.empty());
}

}  // namespace
}  // namespace ignis::rag
