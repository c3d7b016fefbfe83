// format_of and parse_file: the extension picks the parser; the size limit is checked on the
// file's stat before anything is read.
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"
#include "rag/document.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag {

std::string format_of(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (ext == ".txt" || ext == ".text") return "txt";
  if (ext == ".md" || ext == ".markdown") return "md";
  if (ext == ".pdf") return "pdf";
  if (ext == ".docx") return "docx";
  if (ext == ".xml") return "xml";
  if (ext == ".html" || ext == ".htm") return "html";
  if (ext == ".vtt") return "vtt";
  if (ext == ".srt") return "srt";
  return "";
}

namespace {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

std::string read_limited(const std::filesystem::path& file, const ParseLimits& limits) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) IGNIS_FAIL("cannot read {}: {}", file.string(), errno_text(errno));
  if (!S_ISREG(st.st_mode)) IGNIS_FAIL("cannot read {}: not a regular file", file.string());
  if (static_cast<std::uint64_t>(st.st_size) > limits.max_file_bytes)
    throw ParseError(fmt::format("larger than {}", detail::format_bytes(limits.max_file_bytes)));
  std::ifstream in(file, std::ios::binary);
  if (!in) IGNIS_FAIL("cannot open {}: {}", file.string(), errno_text(errno));
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) IGNIS_FAIL("cannot read {}: {}", file.string(), errno_text(errno));
  // A file that grew since the stat: read on, but never past the limit.
  if (in && !in.eof()) {
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      if (data.size() + static_cast<std::size_t>(in.gcount()) > limits.max_file_bytes)
        throw ParseError(fmt::format("larger than {}", detail::format_bytes(limits.max_file_bytes)));
      data.append(buf, static_cast<std::size_t>(in.gcount()));
    }
  }
  return data;
}

}  // namespace

ParsedDocument parse_file(const std::filesystem::path& file, const ParseLimits& limits) {
  const std::string format = format_of(file);
  if (format.empty()) throw ParseError("unsupported format");
  const std::string bytes = read_limited(file, limits);
  if (format == "pdf") return detail::parse_pdf(bytes, limits);
  if (format == "docx") return detail::parse_docx(bytes, limits);
  const std::string text = detail::decode_text(bytes);
  if (format == "txt" || format == "md") return detail::parse_text(text, format == "md");
  if (format == "xml") return detail::parse_xml(text);
  if (format == "html") return detail::parse_html(text);
  if (format == "vtt") return detail::parse_vtt(text);
  return detail::parse_srt(text);
}

}  // namespace ignis::rag
