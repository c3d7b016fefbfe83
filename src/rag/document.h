// ignis rag: documents as the index sees them. A parser turns one file into passages (a
// paragraph, a heading's section, a subtitle cue) that keep where they came from, so an answer
// can cite file + page / line. Depends on core/ only.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ignis::rag {

// One unit of text with its source position. Passages never span two pages.
struct Passage {
  std::string text;     // UTF-8, whitespace-normalized, never empty, at most 32 KiB (longer text is cut, at a
                        // space where there is one, into several passages with the same position)
  int page = 0;         // 1-based page (pdf); 0 where the format has no pages
  int line = 0;         // 1-based first line in the source file (txt, md, xml, html, vtt, srt); 0 if none
  std::string heading;  // innermost heading above the passage (md '#', docx Heading styles, html h1-h6), or ""
  std::string anchor;   // finer position where it exists: a subtitle cue's start time "00:01:02.500", or ""
};

struct ParsedDocument {
  std::string format;  // "txt", "md", "pdf", "docx", "xml", "html", "vtt", "srt"
  std::string title;   // from the document where it has one (pdf Title, html <title>, md first '# '), else ""
  std::vector<Passage> passages;
};

// Bounds on what one file may cost; a file beyond them is skipped with a reason, not read.
struct ParseLimits {
  std::uint64_t max_file_bytes = 256ull << 20;      // on-disk size
  std::uint64_t max_unpacked_bytes = 512ull << 20;  // a docx's inflated XML, summed over the members read
  double max_compression_ratio = 200.0;             // per zip member read (zip bombs), checked before inflating
  int max_pdf_pages = 5000;
};

// A file that cannot be indexed: the reason is one line ("encrypted pdf", "not a zip file",
// "not UTF-8 text at byte 1234", "larger than 256 MiB"), with no path in it.
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The format of `file` from its extension (case-insensitive): .txt .text .md .markdown .pdf
// .docx .xml .html .htm .vtt .srt; "" if not supported.
std::string format_of(const std::filesystem::path& file);

// Parses one file. Throws ParseError (bad or hostile content, limits) or ignis::Error
// (cannot open / read). Never crashes or hangs on hostile input.
ParsedDocument parse_file(const std::filesystem::path& file, const ParseLimits& limits = {});

// A folder walk: every regular file below `root` whose format is supported, recursively,
// sorted by relative path, following symlinks without looping (each real directory visited
// once) and skipping hidden entries (names starting with '.'), silently. Every other entry
// that is not indexed is in `skipped`, also sorted by rel. Does not throw below the root.
struct FolderEntry {
  std::filesystem::path path;  // absolute
  std::string rel;             // relative to root, '/'-separated: the name citations show
  std::uint64_t size = 0;
  std::string format;
};
struct SkippedEntry {
  std::string rel;
  // "unreadable: Permission denied", "symlink loop", "unsupported format", "broken symlink",
  // "not a regular file" (fifo, device, socket), "same directory as <rel>" (a second link to a
  // directory already walked). rel "." is the root itself (its listing failed part way).
  std::string reason;
};
struct FolderScan {
  std::vector<FolderEntry> files;
  std::vector<SkippedEntry> skipped;
};
// Throws ignis::Error if `root` does not exist or is not a directory.
FolderScan scan_folder(const std::filesystem::path& root);

}  // namespace ignis::rag
