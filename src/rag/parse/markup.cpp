#include "rag/parse/markup.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/utf8.h"

namespace ignis::rag::detail {

namespace {

constexpr std::size_t kMaxAttrs = 256;  // per tag; the rest are skipped (a tag can't cost more than that)

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool is_name_start(char c, MarkupMode mode) {
  if (mode == MarkupMode::Html) return is_alpha(c);
  return is_alpha(c) || c == '_' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return !is_space(c) && c != '>' && c != '/' && c != '=' && c != '<' && c != '"' && c != '\'';
}

bool starts_with_ci(std::string_view s, std::size_t pos, std::string_view prefix) {
  if (pos + prefix.size() > s.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[pos + i]) != lower(prefix[i])) return false;
  return true;
}

struct NamedEntity {
  std::string_view name;
  uint32_t cp;
};
constexpr std::array<NamedEntity, 5> kXmlEntities{{{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}}};
// A few dozen HTML named references that real pages use; unknown ones stay literal.
constexpr std::array<NamedEntity, 62> kHtmlEntities{{
    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"sbquo", 0x201A}, {"bdquo", 0x201E},  {"laquo", 0xAB},   {"raquo", 0xBB},
    {"middot", 0xB7},  {"bull", 0x2022},  {"deg", 0xB0},     {"plusmn", 0xB1},  {"times", 0xD7},
    {"divide", 0xF7},  {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},     {"cent", 0xA2},
    {"sect", 0xA7},    {"para", 0xB6},    {"shy", 0xAD},     {"iexcl", 0xA1},   {"iquest", 0xBF},
    {"auml", 0xE4},    {"ouml", 0xF6},    {"uuml", 0xFC},    {"Auml", 0xC4},    {"Ouml", 0xD6},
    {"Uuml", 0xDC},    {"szlig", 0xDF},   {"eacute", 0xE9},  {"egrave", 0xE8},  {"ecirc", 0xEA},
    {"aacute", 0xE1},  {"agrave", 0xE0},  {"acirc", 0xE2},   {"iacute", 0xED},  {"oacute", 0xF3},
    {"uacute", 0xFA},  {"ccedil", 0xE7},  {"ntilde", 0xF1},  {"Eacute", 0xC9},  {"aring", 0xE5},
    {"oslash", 0xF8},  {"aelig", 0xE6},   {"zwnj", 0x200C},  {"zwj", 0x200D},   {"lrm", 0x200E},
    {"rlm", 0x200F},   {"ensp", 0x2002},  {"emsp", 0x2003},  {"thinsp", 0x2009}, {"hearts", 0x2665},
    {"rarr", 0x2192},  {"larr", 0x2190},
}};

bool is_void_element(std::string_view n) {
  static constexpr std::array<std::string_view, 14> kVoid{"area", "base", "br",    "col",   "embed", "hr",    "img",
                                                          "input", "link", "meta", "param", "source", "track", "wbr"};
  return std::find(kVoid.begin(), kVoid.end(), n) != kVoid.end();
}

}  // namespace

void decode_entities(std::string_view raw, MarkupMode mode, std::string& out) {
  std::size_t i = 0;
  const std::size_t n = raw.size();
  while (i < n) {
    const std::size_t amp = raw.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(raw.substr(i));
      return;
    }
    out.append(raw.substr(i, amp - i));
    i = amp + 1;
    // References are short: no ';' within 32 bytes means this '&' is literal (and bounding the
    // search keeps a text of many '&' and no ';' linear).
    std::size_t semi = raw.substr(i, 33).find(';');
    if (semi != std::string_view::npos) semi += i;
    if (semi == std::string_view::npos || semi == i) {
      out.push_back('&');
      continue;
    }
    const std::string_view ref = raw.substr(i, semi - i);
    bool ok = false;
    uint32_t cp = 0;
    if (ref[0] == '#') {
      const bool hex = ref.size() > 1 && (ref[1] == 'x' || ref[1] == 'X');
      const std::size_t d0 = hex ? 2 : 1;
      ok = ref.size() > d0;
      uint64_t v = 0;
      for (std::size_t k = d0; k < ref.size() && ok; ++k) {
        const char c = ref[k];
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (hex && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        if (digit < 0) ok = false;
        else if (v <= 0x10FFFF) v = v * (hex ? 16 : 10) + static_cast<uint64_t>(digit);
      }
      if (ok) {
        cp = static_cast<uint32_t>(std::min<uint64_t>(v, 0x110000));
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
      }
    } else {
      for (const auto& e : kXmlEntities)
        if (e.name == ref) ok = true, cp = e.cp;
      if (!ok && mode == MarkupMode::Html)
        for (const auto& e : kHtmlEntities)
          if (e.name == ref) ok = true, cp = e.cp;
    }
    if (!ok) {
      out.push_back('&');
      continue;
    }
    if (cp != 0xAD) append_utf8(out, cp);  // a soft hyphen is invisible: dropped
    i = semi + 1;
  }
}

std::string_view attr_value(const MarkupToken& tok, std::string_view name) {
  for (const auto& [k, v] : tok.attrs)
    if (k == name) return v;
  return {};
}

int MarkupLexer::line_at(std::size_t pos) {
  if (pos > line_pos_) {
    line_ += static_cast<int>(std::count(src_.begin() + static_cast<std::ptrdiff_t>(line_pos_),
                                         src_.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    line_pos_ = pos;
  }
  return line_;
}

bool MarkupLexer::lex_raw_content(MarkupToken& tok) {
  tok = MarkupToken{};
  if (pending_close_) {
    tok.kind = MarkupToken::Close;
    tok.name = std::move(raw_end_);
    tok.line = line_at(pos_);
    raw_end_.clear();
    pending_close_ = false;
    return true;
  }
  const std::size_t n = src_.size();
  std::size_t end = n, after = n;
  for (std::size_t p = src_.find("</", pos_); p != std::string_view::npos; p = src_.find("</", p + 2)) {
    const std::size_t q = p + 2 + raw_end_.size();
    if (starts_with_ci(src_, p + 2, raw_end_) && (q >= n || is_space(src_[q]) || src_[q] == '>' || src_[q] == '/')) {
      end = p;
      const std::size_t gt = src_.find('>', q);
      after = gt == std::string_view::npos ? n : gt + 1;
      break;
    }
  }
  const std::string_view content = src_.substr(pos_, end - pos_);
  std::size_t first = 0;
  while (first < content.size() && is_space(content[first])) ++first;
  if (raw_keep_ && first < content.size()) {
    tok.kind = MarkupToken::Text;
    tok.line = line_at(pos_ + first);
    decode_entities(content, mode_, tok.text);
    pending_close_ = true;
    pos_ = after;
    return true;
  }
  tok.kind = MarkupToken::Close;
  tok.line = line_at(end);
  tok.name = std::move(raw_end_);
  raw_end_.clear();
  pos_ = after;
  return true;
}

bool MarkupLexer::next(MarkupToken& tok) {
  if (!raw_end_.empty()) return lex_raw_content(tok);
  const std::size_t n = src_.size();
  while (pos_ < n) {
    // Character data up to the next '<' that starts markup.
    std::size_t q = pos_;
    while (true) {
      q = src_.find('<', q);
      if (q == std::string_view::npos) {
        q = n;
        break;
      }
      if (q + 1 < n) {
        const char c = src_[q + 1];
        if (c == '!' || c == '?' || c == '/' || is_name_start(c, mode_)) break;
      }
      ++q;
    }
    if (q > pos_) {
      const std::string_view raw = src_.substr(pos_, q - pos_);
      std::size_t first = 0;
      while (first < raw.size() && is_space(raw[first])) ++first;
      tok = MarkupToken{};
      tok.kind = MarkupToken::Text;
      tok.line = line_at(pos_ + (first < raw.size() ? first : 0));
      decode_entities(raw, mode_, tok.text);
      pos_ = q;
      return true;
    }
    const std::size_t start = pos_;
    if (src_.compare(start, 4, "<!--") == 0) {
      const std::size_t e = src_.find("-->", start + 4);
      pos_ = e == std::string_view::npos ? n : e + 3;
      continue;
    }
    if (src_.compare(start, 9, "<![CDATA[") == 0) {
      const std::size_t e = src_.find("]]>", start + 9);
      const std::size_t stop = e == std::string_view::npos ? n : e;
      tok = MarkupToken{};
      tok.kind = MarkupToken::Text;
      tok.line = line_at(start);
      tok.text.assign(src_.substr(start + 9, stop - (start + 9)));
      pos_ = e == std::string_view::npos ? n : e + 3;
      if (tok.text.empty()) continue;
      return true;
    }
    if (src_[start + 1] == '!') {
      // <!DOCTYPE ...> and other declarations, skipped whole. In XML the internal subset
      // [ ... ] (entity declarations included) goes with it: quotes and brackets are tracked
      // with a counter, comments inside are skipped.
      std::size_t p = start + 2;
      if (mode_ == MarkupMode::Html) {
        const std::size_t gt = src_.find('>', p);
        pos_ = gt == std::string_view::npos ? n : gt + 1;
        continue;
      }
      long depth = 0;
      char quote = 0;
      while (p < n) {
        const char c = src_[p];
        if (quote) {
          if (c == quote) quote = 0;
        } else if (depth > 0 && src_.compare(p, 4, "<!--") == 0) {
          const std::size_t e = src_.find("-->", p + 4);
          p = e == std::string_view::npos ? n : e + 3;
          continue;
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == '[') {
          ++depth;
        } else if (c == ']') {
          if (depth > 0) --depth;
        } else if (c == '>' && depth == 0) {
          ++p;
          break;
        }
        ++p;
      }
      pos_ = p;
      continue;
    }
    if (src_[start + 1] == '?') {
      const std::size_t e = src_.find(mode_ == MarkupMode::Html ? ">" : "?>", start + 2);
      pos_ = e == std::string_view::npos ? n : e + (mode_ == MarkupMode::Html ? 1 : 2);
      continue;
    }
    tok = MarkupToken{};
    tok.line = line_at(start);
    const bool closing = src_[start + 1] == '/';
    std::size_t p = start + (closing ? 2 : 1);
    const std::size_t name_start = p;
    while (p < n && is_name_char(src_[p])) ++p;
    tok.name.assign(src_.substr(name_start, p - name_start));
    if (mode_ == MarkupMode::Html)
      std::transform(tok.name.begin(), tok.name.end(), tok.name.begin(), lower);
    if (closing) {
      const std::size_t gt = src_.find('>', p);
      pos_ = gt == std::string_view::npos ? n : gt + 1;
      if (tok.name.empty()) continue;  // "</ >": a bogus comment
      tok.kind = MarkupToken::Close;
      return true;
    }
    tok.kind = MarkupToken::Open;
    while (p < n) {
      while (p < n && is_space(src_[p])) ++p;
      if (p >= n) break;
      const char c = src_[p];
      if (c == '>') {
        ++p;
        break;
      }
      if (c == '/') {
        ++p;
        if (p < n && src_[p] == '>') {
          tok.self_closing = true;
          ++p;
          break;
        }
        continue;
      }
      if (c == '<') break;  // an unclosed tag: the next one starts here
      const std::size_t a0 = p;
      while (p < n && is_name_char(src_[p])) ++p;
      if (p == a0) {  // a stray quote or '='
        ++p;
        continue;
      }
      std::string_view aname = src_.substr(a0, p - a0);
      std::string value;
      std::size_t w = p;
      while (w < n && is_space(src_[w])) ++w;
      if (w < n && src_[w] == '=') {
        p = w + 1;
        while (p < n && is_space(src_[p])) ++p;
        if (p < n && (src_[p] == '"' || src_[p] == '\'')) {
          const char qc = src_[p];
          const std::size_t e = src_.find(qc, p + 1);
          const std::size_t stop = e == std::string_view::npos ? n : e;
          decode_entities(src_.substr(p + 1, stop - (p + 1)), mode_, value);
          p = e == std::string_view::npos ? n : e + 1;
        } else {
          const std::size_t v0 = p;
          while (p < n && !is_space(src_[p]) && src_[p] != '>') ++p;
          decode_entities(src_.substr(v0, p - v0), mode_, value);
        }
      }
      if (tok.attrs.size() < kMaxAttrs) {
        std::string key(aname);
        if (mode_ == MarkupMode::Html) std::transform(key.begin(), key.end(), key.begin(), lower);
        tok.attrs.emplace_back(std::move(key), std::move(value));
      }
    }
    pos_ = p;
    if (mode_ == MarkupMode::Html) {
      if (is_void_element(tok.name)) {
        tok.self_closing = true;
      } else if (!tok.self_closing && (tok.name == "script" || tok.name == "style" || tok.name == "title" ||
                                       tok.name == "textarea")) {
        raw_end_ = tok.name;
        raw_keep_ = tok.name == "title" || tok.name == "textarea";
      }
    }
    return true;
  }
  return false;
}

}  // namespace ignis::rag::detail
