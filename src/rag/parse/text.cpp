// TEMPORARY (branch ragindex only): a txt/md-only stand-in for the parsers of rag/document.h so
// that `ignis rag` links and its CLI test runs before the ragdocs branch (the real parsers in
// src/rag/parse/*.cpp) is merged. The merge must take ragdocs' src/rag/parse/ and drop this file.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "rag/document.h"

namespace ignis::rag {
namespace fs = std::filesystem;

std::string format_of(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext == ".txt" || ext == ".text") return "txt";
  if (ext == ".md" || ext == ".markdown") return "md";
  return "";
}

ParsedDocument parse_file(const fs::path& file, const ParseLimits& limits) {
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  IGNIS_CHECK(!ec, "{}: cannot read: {}", file.string(), ec.message());
  if (size > limits.max_file_bytes) throw ParseError(fmt::format("larger than {} MiB", limits.max_file_bytes >> 20));
  std::ifstream in(file, std::ios::binary);
  IGNIS_CHECK(in, "{}: cannot open", file.string());
  ParsedDocument doc;
  doc.format = format_of(file);
  const bool md = doc.format == "md";
  std::string line, para, heading;
  int no = 0, start = 0;
  auto flush = [&] {
    if (!para.empty()) {
      Passage p;
      p.text = para;
      p.line = start;
      p.heading = heading;
      doc.passages.push_back(std::move(p));
    }
    para.clear();
  };
  while (std::getline(in, line)) {
    no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      flush();
      continue;
    }
    if (md && line[0] == '#') {
      flush();
      size_t k = line.find_first_not_of('#');
      heading = k == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", k) == std::string::npos ? k : line.find_first_not_of(" \t", k));
      if (doc.title.empty() && line.rfind("# ", 0) == 0) doc.title = heading;
      continue;
    }
    if (para.empty()) start = no;
    para += (para.empty() ? "" : " ") + line;
  }
  flush();
  return doc;
}

FolderScan scan_folder(const fs::path& root) {
  IGNIS_CHECK(fs::is_directory(root), "{}: not a directory", root.string());
  FolderScan scan;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<fs::path> stack = {root};
  while (!stack.empty()) {
    fs::path dir = stack.back();
    stack.pop_back();
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) continue;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path p = it->path();
      if (p.filename().string().rfind('.', 0) == 0) continue;
      std::string rel = fs::relative(p, root).generic_string();
      if (fs::is_directory(p)) {
        stack.push_back(p);
      } else if (fs::is_regular_file(p)) {
        std::string f = format_of(p);
        if (f.empty())
          scan.skipped.push_back({rel, "unsupported format"});
        else
          scan.files.push_back({fs::absolute(p), rel, uint64_t(fs::file_size(p)), f});
      }
    }
  }
  std::sort(scan.files.begin(), scan.files.end(), [](auto& a, auto& b) { return a.rel < b.rel; });
  std::sort(scan.skipped.begin(), scan.skipped.end(), [](auto& a, auto& b) { return a.rel < b.rel; });
  return scan;
}

}  // namespace ignis::rag
