// pdf through poppler: PDFs written here by hand (objects, xref offsets computed), page
// numbers, title, paragraphs, damaged, truncated and password-protected files.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "rag/document.h"
#include "rag_test_util.h"

namespace ignis::rag {
namespace {

using test::parse_bytes;
using test::parse_error_of;

// A PDF with one page per content stream (Helvetica as /F1), an /Info /Title when `title` is
// not empty and, with `encrypt`, a standard security handler whose /U does not match the empty
// user password (so it needs a password to open).
std::string make_pdf(const std::vector<std::string>& contents, const std::string& title = "", bool encrypt = false) {
  std::vector<std::string> objs;  // objs[i] is object i + 1
  const int npages = static_cast<int>(contents.size());
  const int font = 3 + 2 * npages, info = font + 1, enc = info + 1;
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (int i = 0; i < npages; ++i) kids += fmt::format("{} 0 R ", 3 + 2 * i);
  objs.push_back(fmt::format("<< /Type /Pages /Kids [{}] /Count {} >>", kids, npages));
  for (int i = 0; i < npages; ++i) {
    objs.push_back(fmt::format(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {} 0 R >> >> /Contents {} 0 R >>",
        font, 4 + 2 * i));
    objs.push_back(fmt::format("<< /Length {} >>\nstream\n{}\nendstream", contents[i].size() + 0, contents[i]));
  }
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  objs.push_back(fmt::format("<< /Title ({}) /Producer (ignis test) >>", title));
  if (encrypt)
    objs.push_back(
        "<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44"
        " /O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef>"
        " /U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>");
  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += fmt::format("{} 0 obj\n{}\nendobj\n", i + 1, objs[i]);
  }
  const std::size_t xref = pdf.size();
  pdf += fmt::format("xref\n0 {}\n0000000000 65535 f \n", objs.size() + 1);
  for (std::size_t off : offsets) pdf += fmt::format("{:010} 00000 n \n", off);
  pdf += fmt::format("trailer\n<< /Size {} /Root 1 0 R /Info {} 0 R", objs.size() + 1, info);
  if (encrypt) pdf += fmt::format(" /Encrypt {} 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]", enc);
  pdf += fmt::format(" >>\nstartxref\n{}\n%%EOF\n", xref);
  return pdf;
}

// A content stream writing `lines` top-down, 14 points apart, from y = `top`.
std::string text_lines(const std::vector<std::string>& lines, int top = 720) {
  std::string s = fmt::format("BT /F1 12 Tf 14 TL 72 {} Td\n", top);
  for (std::size_t i = 0; i < lines.size(); ++i) s += fmt::format("{}({}) Tj\n", i ? "T* " : "", lines[i]);
  return s + "ET";
}

TEST(RagPdf, PagesTitleAndText) {
  const std::string pdf = make_pdf({text_lines({"Hello from page one."}), text_lines({"Second page says hi."})},
                                   "A Test Document");
  const ParsedDocument d = parse_bytes("doc.pdf", pdf);
  EXPECT_EQ(d.format, "pdf");
  EXPECT_EQ(d.title, "A Test Document");
  ASSERT_EQ(d.passages.size(), 2u);
  EXPECT_EQ(d.passages[0].text, "Hello from page one.");
  EXPECT_EQ(d.passages[0].page, 1);
  EXPECT_EQ(d.passages[1].text, "Second page says hi.");
  EXPECT_EQ(d.passages[1].page, 2);
  for (const auto& p : d.passages) {
    EXPECT_EQ(p.line, 0);
    EXPECT_EQ(p.heading, "");
    EXPECT_EQ(p.anchor, "");
  }
}

TEST(RagPdf, LinesJoinHyphenationAndEmptyPagesHaveNoPassage) {
  const std::string pdf =
      make_pdf({text_lines({"A paragraph that is hyphen-", "ated across two lines and", "ends here."}), "", text_lines({"Third"})});
  const ParsedDocument d = parse_bytes("p.pdf", pdf);
  EXPECT_EQ(d.title, "");
  ASSERT_EQ(d.passages.size(), 2u);
  EXPECT_EQ(d.passages[0].text, "A paragraph that is hyphenated across two lines and ends here.");
  EXPECT_EQ(d.passages[0].page, 1);
  EXPECT_EQ(d.passages[1].text, "Third");
  EXPECT_EQ(d.passages[1].page, 3);  // page 2 is empty
}

TEST(RagPdf, ParagraphsAtVerticalGapsAndPageNumbersDropped) {
  const std::string page = text_lines({"First paragraph line one", "and line two."}) + "\n" +
                           text_lines({"Second paragraph far below."}, 500) + "\n" + text_lines({"17"}, 40) + "\n" +
                           text_lines({"2024 annual report"}, 300);
  const ParsedDocument d = parse_bytes("gaps.pdf", make_pdf({page}));
  std::vector<std::string> got;
  for (const auto& p : d.passages) got.push_back(p.text);
  EXPECT_EQ(got, (std::vector<std::string>{"First paragraph line one and line two.", "Second paragraph far below.",
                                           "2024 annual report"}))
      << "poppler's reading order puts the text at y=300 before the footer at y=40";
}

TEST(RagPdf, PageLimit) {
  ParseLimits one;
  one.max_pdf_pages = 1;
  const std::string pdf = make_pdf({text_lines({"a"}), text_lines({"b"})});
  EXPECT_EQ(parse_error_of("two.pdf", pdf, one), "pdf has 2 pages, more than 1");
}

TEST(RagPdf, GarbageAndTruncatedFiles) {
  EXPECT_EQ(parse_error_of("garbage.pdf", "this is not a pdf at all"), "not a valid pdf (no %PDF header)");
  EXPECT_EQ(parse_error_of("empty.pdf", ""), "not a valid pdf (no %PDF header)");
  EXPECT_EQ(parse_error_of("header.pdf", "%PDF-1.4\n"), "not a valid pdf");
  EXPECT_EQ(parse_error_of("cut.pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Cat"), "not a valid pdf");
  std::string noise = "%PDF-1.7\n";
  for (int i = 0; i < 5000; ++i) noise += static_cast<char>((i * 7919 + 13) % 256);
  EXPECT_EQ(parse_error_of("noise.pdf", noise), "not a valid pdf");
}

TEST(RagPdf, TruncatedTailIsRecoveredOrRejectedButNeverCrashes) {
  // Without its xref table and trailer poppler reconstructs what it can: the objects are intact,
  // so the first page's text must come back if anything does.
  const std::string pdf = make_pdf({text_lines({"Recovered text"}), text_lines({"More"})});
  const std::string cut = pdf.substr(0, pdf.find("xref"));
  try {
    const ParsedDocument d = parse_bytes("cut.pdf", cut);
    ASSERT_FALSE(d.passages.empty());
    EXPECT_EQ(d.passages[0].text, "Recovered text");
    EXPECT_EQ(d.passages[0].page, 1);
  } catch (const ParseError& e) {
    EXPECT_STREQ(e.what(), "not a valid pdf");
  }
}

TEST(RagPdf, PasswordProtectedIsEncryptedPdf) {
  const std::string pdf = make_pdf({text_lines({"secret"})}, "", /*encrypt=*/true);
  EXPECT_EQ(parse_error_of("locked.pdf", pdf), "encrypted pdf");
}

}  // namespace
}  // namespace ignis::rag
