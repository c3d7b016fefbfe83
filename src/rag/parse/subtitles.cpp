// WebVTT and SubRip: one passage per cue, anchor = the cue's start time ("00:01:02.500"),
// line = the cue block's first line. Cue markup (<i>, <c.x>, <00:01.000>, SRT's {\an8}) is
// stripped; a WebVTT voice <v Name> becomes "Name: ". NOTE / STYLE / REGION blocks are skipped.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rag/parse/markup.h"
#include "rag/parse/parsers.h"
#include "rag/parse/text_util.h"

namespace ignis::rag::detail {

namespace {

struct Line {
  std::string_view text;
  int no = 0;
};

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\f') return false;
  return true;
}

// Blocks of non-blank lines.
std::vector<std::vector<Line>> blocks_of(std::string_view text) {
  std::vector<std::vector<Line>> blocks;
  std::vector<Line> cur;
  int no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++no;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (blank(l)) {
      if (!cur.empty()) blocks.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back({l, no});
    }
  }
  if (!cur.empty()) blocks.push_back(std::move(cur));
  return blocks;
}

// "01:02:03.500", "02:03.500" (WebVTT) or "01:02:03,500" (SubRip) at the start of `s`, in
// milliseconds; -1 if malformed.
int64_t parse_time(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  int64_t parts[3] = {0, 0, 0};
  int nparts = 0;
  while (nparts < 3) {
    const std::size_t d0 = i;
    int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - d0 < 9) v = v * 10 + (s[i++] - '0');
    if (i == d0) return -1;
    parts[nparts++] = v;
    if (i < s.size() && s[i] == ':') {
      ++i;
      continue;
    }
    break;
  }
  if (nparts < 2 || i >= s.size() || (s[i] != '.' && s[i] != ',')) return -1;
  ++i;
  const std::size_t f0 = i;
  int64_t ms = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - f0 < 3) ms = ms * 10 + (s[i++] - '0');
  if (i == f0) return -1;
  for (std::size_t k = i - f0; k < 3; ++k) ms *= 10;
  const int64_t h = nparts == 3 ? parts[0] : 0, m = parts[nparts - 2], sec = parts[nparts - 1];
  if (m > 59 || sec > 59) return -1;
  return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

std::string format_time(int64_t ms) {
  return fmt::format("{:02}:{:02}:{:02}.{:03}", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
}

// The cue start of a timing line "start --> end ...", or -1.
int64_t cue_start(std::string_view line) {
  const std::size_t arrow = line.find("-->");
  if (arrow == std::string_view::npos) return -1;
  if (parse_time(line.substr(arrow + 3)) < 0) return -1;
  return parse_time(line.substr(0, arrow));
}

// Cue text without markup: <...> tags dropped (a WebVTT <v Name> kept as "Name: "), {\...}
// override blocks dropped (SubRip), entities decoded in WebVTT.
std::string cue_text(const std::vector<Line>& lines, std::size_t from, bool vtt) {
  std::string raw;
  for (std::size_t k = from; k < lines.size(); ++k) {
    std::string_view l = lines[k].text;
    std::size_t i = 0;
    while (i < l.size()) {
      const char c = l[i];
      if (c == '<') {
        const std::size_t gt = l.find('>', i);
        if (gt == std::string_view::npos) {
          raw.append(l.substr(i));
          break;
        }
        std::string_view tag = l.substr(i + 1, gt - i - 1);
        if (vtt && tag.size() > 2 && tag[0] == 'v' && (tag[1] == ' ' || tag[1] == '.')) {
          const std::size_t sp = tag.find(' ');
          if (sp != std::string_view::npos && !blank(tag.substr(sp))) raw.append(tag.substr(sp + 1)).append(": ");
        }
        i = gt + 1;
      } else if (c == '{' && !vtt && i + 1 < l.size() && l[i + 1] == '\\') {
        const std::size_t close = l.find('}', i);
        i = close == std::string_view::npos ? l.size() : close + 1;
      } else {
        raw.push_back(c);
        ++i;
      }
    }
    raw.push_back('\n');
  }
  if (!vtt) return raw;
  std::string out;
  decode_entities(raw, MarkupMode::Html, out);
  return out;
}

bool starts_word(std::string_view s, std::string_view w) {
  return s.substr(0, w.size()) == w && (s.size() == w.size() || s[w.size()] == ' ' || s[w.size()] == '\t');
}

}  // namespace

ParsedDocument parse_vtt(std::string_view text) {
  ParsedDocument doc;
  doc.format = "vtt";
  const auto blocks = blocks_of(text);
  if (blocks.empty() || blocks[0][0].no != 1 || !starts_word(blocks[0][0].text, "WEBVTT"))
    throw ParseError("not a WebVTT file (no WEBVTT header on line 1)");
  for (std::size_t b = 1; b < blocks.size(); ++b) {
    const auto& lines = blocks[b];
    const std::string_view first = lines[0].text;
    if (starts_word(first, "NOTE") || starts_word(first, "STYLE") || starts_word(first, "REGION")) continue;
    std::size_t timing = first.find("-->") != std::string_view::npos ? 0 : 1;
    if (timing >= lines.size()) continue;
    const int64_t start = cue_start(lines[timing].text);
    if (start < 0) continue;  // not a cue: skipped as browsers do
    add_passage(doc, cue_text(lines, timing + 1, true), 0, lines[0].no, "", format_time(start));
  }
  return doc;
}

ParsedDocument parse_srt(std::string_view text) {
  ParsedDocument doc;
  doc.format = "srt";
  bool any_cue = false;
  for (const auto& lines : blocks_of(text)) {
    std::size_t timing = lines[0].text.find("-->") != std::string_view::npos ? 0 : 1;
    if (timing >= lines.size()) continue;
    const int64_t start = cue_start(lines[timing].text);
    if (start < 0) continue;
    any_cue = true;
    add_passage(doc, cue_text(lines, timing + 1, false), 0, lines[0].no, "", format_time(start));
  }
  if (!any_cue && !blank(normalize_space(text))) throw ParseError("not a SubRip file (no cue timing line)");
  return doc;
}

}  // namespace ignis::rag::detail
