// docx: archives built here with libzip; paragraphs, headings (style ids and localized style
// names), title, text boxes, and hostile archives (zip bombs, limits, CRC errors, not a zip).
#include <gtest/gtest.h>
#include <zip.h>

#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "rag/document.h"
#include "rag_test_util.h"

namespace ignis::rag {
namespace {

using Members = std::vector<std::pair<std::string, std::string>>;

// Writes a zip with `members` (deflated unless `store`) and returns its bytes.
std::string make_zip(const Members& members, bool store = false) {
  test::TempDir dir;
  const std::string path = (dir / "out.zip").string();
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) throw std::runtime_error("zip_open failed");
  for (const auto& [name, data] : members) {
    zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
    const zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    if (idx < 0) throw std::runtime_error("zip_file_add failed");
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 9);
  }
  if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const char* kNs =
    "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" "
    "xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\"";

std::string document_xml(const std::string& body) {
  return std::string("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document ") + kNs +
         "><w:body>" + body + "</w:body></w:document>";
}

std::string para(const std::string& text, const std::string& style = "") {
  std::string p = "<w:p>";
  if (!style.empty()) p += "<w:pPr><w:pStyle w:val=\"" + style + "\"/></w:pPr>";
  return p + "<w:r><w:t>" + text + "</w:t></w:r></w:p>";
}

std::vector<std::string> texts(const ParsedDocument& d) {
  std::vector<std::string> out;
  for (const auto& p : d.passages) out.push_back(p.text);
  return out;
}

TEST(RagDocx, ParagraphsHeadingsAndTitle) {
  const std::string body =
      para("The Title Para", "Title") +
      "<w:p><w:pPr><w:pStyle w:val=\"Heading1\"/><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs>"
      "<w:rPr><w:b/></w:rPr></w:pPr><w:r><w:t>Intro</w:t></w:r></w:p>"
      "<w:p><w:r><w:t xml:space=\"preserve\">Hello </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>wor</w:t></w:r>"
      "<w:r><w:t>ld</w:t></w:r><w:r><w:tab/><w:t>tabbed</w:t><w:br/><w:t>broken &amp; escaped</w:t></w:r></w:p>" +
      para("Lokal", "berschrift2") +
      "<w:p><w:r><w:t>Under the localized heading</w:t></w:r><w:r><mc:AlternateContent>"
      "<mc:Choice Requires=\"wps\"><w:drawing><w:txbxContent><w:p><w:r><w:t>In a text box</w:t></w:r></w:p>"
      "</w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>In a text box"
      "</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"
      "<w:p/><w:p><w:r><w:delText>deleted</w:delText><w:instrText>PAGE</w:instrText></w:r></w:p>"
      "<w:tbl><w:tr><w:tc>" + para("cell one") + "</w:tc><w:tc>" + para("cell two") + "</w:tc></w:tr></w:tbl>" +
      para("Heading In Lower Case", "heading3") + para("last");
  const std::string styles =
      std::string("<w:styles ") + kNs +
      "><w:style w:type=\"paragraph\" w:styleId=\"berschrift2\"><w:name w:val=\"heading 2\"/></w:style>"
      "<w:style w:type=\"paragraph\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/></w:style></w:styles>";
  const std::string core =
      "<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
      "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Core  Title</dc:title></cp:coreProperties>";
  const std::string docx = make_zip({{"[Content_Types].xml", "<Types/>"},
                                     {"word/document.xml", document_xml(body)},
                                     {"word/styles.xml", styles},
                                     {"docProps/core.xml", core}});
  const ParsedDocument d = test::parse_bytes("report.docx", docx);
  EXPECT_EQ(d.format, "docx");
  EXPECT_EQ(d.title, "Core Title");
  ASSERT_EQ(d.passages.size(), 6u) << ::testing::PrintToString(texts(d));
  EXPECT_EQ(d.passages[0].text, "Hello world tabbed broken & escaped");
  EXPECT_EQ(d.passages[0].heading, "Intro");
  EXPECT_EQ(d.passages[1].text, "In a text box");  // the text box's paragraph ends first; its fallback copy is skipped
  EXPECT_EQ(d.passages[1].heading, "Lokal");
  EXPECT_EQ(d.passages[2].text, "Under the localized heading");
  EXPECT_EQ(d.passages[2].heading, "Lokal");
  EXPECT_EQ(d.passages[3].text, "cell one");
  EXPECT_EQ(d.passages[4].text, "cell two");
  EXPECT_EQ(d.passages[4].heading, "Lokal");
  EXPECT_EQ(d.passages[5].text, "last");
  EXPECT_EQ(d.passages[5].heading, "Heading In Lower Case");
  for (const auto& p : d.passages) {
    EXPECT_EQ(p.page, 0);
    EXPECT_EQ(p.line, 0);
    EXPECT_EQ(p.anchor, "");
  }
}

TEST(RagDocx, TitleFallsBackToTheTitleParagraph) {
  const std::string docx = make_zip({{"word/document.xml", document_xml(para("Styled Title", "Title") + para("body"))}});
  const ParsedDocument d = test::parse_bytes("t.docx", docx);
  EXPECT_EQ(d.title, "Styled Title");
  ASSERT_EQ(d.passages.size(), 1u);
  EXPECT_EQ(d.passages[0].text, "body");
  EXPECT_EQ(d.passages[0].heading, "Styled Title");
}

TEST(RagDocx, NotAZipOrNoDocument) {
  EXPECT_EQ(test::parse_error_of("fake.docx", "PK but not really a zip file"), "not a zip file");
  EXPECT_EQ(test::parse_error_of("ole.docx", std::string("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) + std::string(504, '\0')),
            "encrypted docx (or an old .doc renamed): an OLE compound file, not a zip");
  EXPECT_EQ(test::parse_error_of("empty.docx", ""), "not a docx file (no word/document.xml)");
  const std::string odt = make_zip({{"content.xml", "<office:document-content/>"}, {"mimetype", "x"}});
  EXPECT_EQ(test::parse_error_of("other.docx", odt), "not a docx file (no word/document.xml)");
  // the first half of a real archive: its central directory is gone
  const std::string docx = make_zip({{"word/document.xml", document_xml(para(std::string(5000, 'x')))}});
  EXPECT_EQ(test::parse_error_of("half.docx", docx.substr(0, docx.size() / 2)), "not a zip file");
}

TEST(RagDocx, ZipBombIsRejectedBeforeInflating) {
  ParseLimits limits;
  limits.max_compression_ratio = 20;
  const std::string bomb = document_xml(para(std::string(200000, 'a')));
  const std::string docx = make_zip({{"word/document.xml", bomb}});
  ASSERT_LT(docx.size(), bomb.size() / 20);  // it is compressed beyond the limit
  const std::string err = test::parse_error_of("bomb.docx", docx, limits);
  EXPECT_EQ(err.rfind("zip member word/document.xml has compression ratio ", 0), 0u) << err;
  EXPECT_NE(err.find(", above 20 (zip bomb?)"), std::string::npos) << err;
  // the same file under the default limit (200) is still a bomb at ratio > 200
  EXPECT_NE(test::parse_error_of("bomb.docx", docx).find("(zip bomb?)"), std::string::npos);
  // stored (not compressed): ratio 1, so it is read
  const std::string stored = make_zip({{"word/document.xml", bomb}}, /*store=*/true);
  const ParsedDocument d = test::parse_bytes("stored.docx", stored, limits);
  std::string joined;
  for (const auto& p : d.passages) joined += p.text;  // one paragraph, cut into passages of 32 KiB
  EXPECT_EQ(d.passages.size(), 7u);
  EXPECT_TRUE(joined == std::string(200000, 'a')) << "joined passages: " << joined.size() << " bytes";
}

TEST(RagDocx, UnpackedSizeLimitCountsEveryMemberRead) {
  const std::string xml = document_xml(para("small body"));
  ParseLimits limits;
  limits.max_unpacked_bytes = xml.size() - 1;
  const std::string docx = make_zip({{"word/document.xml", xml}});
  EXPECT_EQ(test::parse_error_of("a.docx", docx, limits), "docx unpacks to more than " + std::to_string(xml.size() - 1) + " bytes");
  limits.max_unpacked_bytes = xml.size() + 10;  // document.xml fits, styles.xml does not
  const std::string with_styles = make_zip({{"word/document.xml", xml}, {"word/styles.xml", std::string(100, ' ')}});
  EXPECT_EQ(test::parse_error_of("b.docx", with_styles, limits),
            "docx unpacks to more than " + std::to_string(xml.size() + 10) + " bytes");
  limits.max_unpacked_bytes = xml.size();
  EXPECT_EQ(texts(test::parse_bytes("c.docx", docx, limits)), (std::vector<std::string>{"small body"}));
}

TEST(RagDocx, CorruptMemberAndBadText) {
  std::string docx = make_zip({{"word/document.xml", document_xml(para("checksummed text"))}}, /*store=*/true);
  const std::size_t at = docx.find("checksummed");
  ASSERT_NE(at, std::string::npos);
  docx[at] = 'C';
  EXPECT_EQ(test::parse_error_of("crc.docx", docx), "zip member word/document.xml: CRC error");
  const std::string latin1 = make_zip({{"word/document.xml", document_xml(para("caf\xE9"))}});
  const std::string err = test::parse_error_of("latin1.docx", latin1);
  EXPECT_EQ(err, "word/document.xml: not UTF-8 text at byte " + std::to_string(document_xml(para("caf")).find("caf") + 3));
}

}  // namespace
}  // namespace ignis::rag
