// Plain text and Markdown: passages are paragraphs (runs of non-blank lines); Markdown adds
// ATX ('#'..'######') and setext headings and fenced code blocks (kept whole, no headings inside).
#include <string>
#include <string_view>

#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\f' && c != '\v') return false;
  return true;
}

std::size_t indent(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return i;
}

// "## Title ##" -> level 2, "Title"; 0 if `s` is not an ATX heading.
int atx_heading(std::string_view s, std::string& text) {
  std::size_t i = indent(s);
  if (i > 3) return 0;
  int level = 0;
  while (i < s.size() && s[i] == '#' && level < 7) ++i, ++level;
  if (level == 0 || level > 6) return 0;
  if (i < s.size() && s[i] != ' ' && s[i] != '\t') return 0;
  std::string_view rest = s.substr(i);
  std::size_t end = rest.size();
  while (end > 0 && (rest[end - 1] == ' ' || rest[end - 1] == '\t')) --end;
  std::size_t hashes = end;
  while (hashes > 0 && rest[hashes - 1] == '#') --hashes;
  if (hashes < end && (hashes == 0 || rest[hashes - 1] == ' ' || rest[hashes - 1] == '\t')) end = hashes;
  text = normalize_space(rest.substr(0, end));
  return level;
}

// '=' underline -> 1, '-' underline -> 2, else 0.
int setext_underline(std::string_view s) {
  std::size_t i = indent(s);
  if (i > 3 || i >= s.size() || (s[i] != '=' && s[i] != '-')) return 0;
  const char c = s[i];
  while (i < s.size() && s[i] == c) ++i;
  if (!blank(s.substr(i))) return 0;
  return c == '=' ? 1 : 2;
}

// "```" / "~~~" (3 or more) after at most 3 spaces: the fence string, else "".
std::string_view fence_of(std::string_view s) {
  std::size_t i = indent(s);
  if (i > 3 || i >= s.size() || (s[i] != '`' && s[i] != '~')) return {};
  const char c = s[i];
  std::size_t j = i;
  while (j < s.size() && s[j] == c) ++j;
  if (j - i < 3) return {};
  return s.substr(i, j - i);
}

}  // namespace

ParsedDocument parse_text(std::string_view text, bool markdown) {
  ParsedDocument doc;
  doc.format = markdown ? "md" : "txt";
  std::string heading;
  std::string para;
  int para_line = 0, para_lines = 0;
  std::string fence;  // the open code fence, "" outside one
  auto flush = [&] {
    if (!para.empty()) add_passage(doc, para, 0, para_line, heading);
    para.clear();
    para_line = 0, para_lines = 0;
  };
  auto set_heading = [&](int level, std::string h) {
    if (level == 1 && doc.title.empty()) doc.title = h;
    heading = std::move(h);
  };
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (markdown) {
      const std::string_view f = fence_of(line);
      if (!fence.empty()) {
        if (!f.empty() && f[0] == fence[0] && f.size() >= fence.size() && blank(line.substr(indent(line) + f.size()))) {
          fence.clear();
          flush();
          continue;
        }
        if (para.empty()) para_line = line_no;
        para.append(line).push_back('\n');
        ++para_lines;
        continue;
      }
      if (!f.empty()) {
        flush();
        fence.assign(f);
        continue;
      }
      std::string h;
      if (int level = atx_heading(line, h)) {
        flush();
        set_heading(level, std::move(h));
        continue;
      }
      if (para_lines == 1) {
        if (int level = setext_underline(line)) {
          std::string h2 = normalize_space(para);
          para.clear();
          para_line = 0, para_lines = 0;
          set_heading(level, std::move(h2));
          continue;
        }
      }
    }
    if (blank(line)) {
      flush();
      continue;
    }
    if (para.size() + line.size() > kMaxParagraphBytes && !para.empty()) flush();
    if (para.empty()) para_line = line_no;
    para.append(line).push_back('\n');
    ++para_lines;
  }
  flush();
  return doc;
}

}  // namespace ignis::rag::detail
