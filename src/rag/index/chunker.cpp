// ignis rag: passages -> token-bounded chunks with overlap (see rag/index.h).
#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "rag/index.h"

namespace ignis::rag {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) a++;
  while (b > a && is_space(s[b - 1])) b--;
  return std::string(s.substr(a, b - a));
}

// Sentence ends: '.', '!', '?' (then closing quotes / brackets) before whitespace, a line break,
// or the ideographic '。', '！', '？' anywhere.
std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  auto cut = [&](size_t end) {
    std::string s = trim(std::string_view(text).substr(start, end - start));
    if (!s.empty()) out.push_back(std::move(s));
    start = end;
  };
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      cut(++i);
      continue;
    }
    if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < text.size() && (text[j] == '"' || text[j] == '\'' || text[j] == ')' || text[j] == ']')) j++;
      if (j == text.size() || is_space(text[j])) {
        cut(j);
        i = j;
        continue;
      }
    }
    // U+3002 。 = E3 80 82; U+FF01 ！ = EF BC 81; U+FF1F ？ = EF BC 9F
    if (i + 3 <= text.size()) {
      std::string_view t(text.data() + i, 3);
      if (t == "\xE3\x80\x82" || t == "\xEF\xBC\x81" || t == "\xEF\xBC\x9F") {
        cut(i + 3);
        i += 3;
        continue;
      }
    }
    i++;
  }
  cut(text.size());
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) i++;
    size_t j = i;
    while (j < text.size() && !is_space(text[j])) j++;
    if (j > i) out.emplace_back(text, i, j - i);
    i = j;
  }
  return out;
}

// Byte length of the first `n` UTF-8 characters of s (continuation bytes never start one).
size_t utf8_prefix(const std::string& s, size_t n) {
  size_t i = 0;
  while (i < s.size() && n > 0) {
    i++;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) i++;
    n--;
  }
  return i;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

struct Unit {
  std::string text;
  int passage = 0;
  int tokens = 0;
};

using Counter = std::function<int(const std::string&)>;

// A single word longer than `limit` tokens: cut into the longest character prefixes that fit.
void split_word(const std::string& word, int passage, int limit, const Counter& count, std::vector<Unit>& out) {
  std::string rest = word;
  while (!rest.empty()) {
    size_t lo = 1, hi = utf8_length(rest);  // find the most characters whose count fits
    while (lo < hi) {
      size_t mid = (lo + hi + 1) / 2;
      if (count(rest.substr(0, utf8_prefix(rest, mid))) <= limit)
        lo = mid;
      else
        hi = mid - 1;
    }
    size_t bytes = utf8_prefix(rest, lo);
    std::string piece = rest.substr(0, bytes);
    out.push_back({piece, passage, std::max(1, count(piece))});
    rest.erase(0, bytes);
  }
}

// One sentence longer than a chunk: words packed greedily into pieces of at most `target` tokens.
void split_sentence(const std::string& sentence, int passage, int target, int limit, const Counter& count,
                    std::vector<Unit>& out) {
  std::string cur;
  int cur_tokens = 0;
  auto flush = [&] {
    if (!cur.empty()) out.push_back({cur, passage, cur_tokens});
    cur.clear();
    cur_tokens = 0;
  };
  for (const std::string& w : split_words(sentence)) {
    int t = count(w);
    if (t > limit) {
      flush();
      split_word(w, passage, limit, count, out);
      continue;
    }
    if (!cur.empty() && cur_tokens + t > target) flush();
    if (!cur.empty()) cur += ' ';
    cur += w;
    cur_tokens += t;
  }
  flush();
}

}  // namespace

int count_words(const std::string& text) {
  int n = 0;
  bool in_word = false;
  for (char c : text) {
    bool sp = is_space(c);
    if (!sp && !in_word) n++;
    in_word = !sp;
  }
  return n;
}

std::vector<Chunk> chunk_passages(const std::vector<Passage>& passages, const ChunkOptions& opt,
                                  const Counter& count_tokens) {
  IGNIS_CHECK(opt.chunk_tokens >= 1, "chunk size must be at least 1 token (got {})", opt.chunk_tokens);
  IGNIS_CHECK(opt.overlap_tokens >= 0 && opt.overlap_tokens < opt.chunk_tokens,
              "chunk overlap must be in [0, chunk size {}) (got {})", opt.chunk_tokens, opt.overlap_tokens);
  const Counter count = count_tokens ? count_tokens : Counter(count_words);
  const int limit = opt.chunk_tokens;
  // Pieces of a long sentence are at most half the overlap (and leave room for it), so that
  // consecutive chunks can share whole pieces; without overlap they fill a chunk.
  const int target = opt.overlap_tokens > 0
                         ? std::max(1, std::min(opt.chunk_tokens - opt.overlap_tokens, opt.overlap_tokens / 2))
                         : opt.chunk_tokens;

  std::vector<Unit> units;
  for (int p = 0; p < int(passages.size()); p++) {
    const std::string& text = passages[p].text;
    if (trim(text).empty()) continue;
    int t = count(text);
    if (t <= limit) {
      units.push_back({text, p, std::max(1, t)});
      continue;
    }
    for (const std::string& s : split_sentences(text)) {
      int st = count(s);
      if (st <= limit)
        units.push_back({s, p, std::max(1, st)});
      else
        split_sentence(s, p, target, limit, count, units);
    }
  }

  std::vector<Chunk> out;
  std::vector<int> cur;  // indices into units
  int cur_tokens = 0;
  auto emit = [&] {
    const Passage& first = passages[units[cur[0]].passage];
    Chunk c;
    c.page = first.page;
    c.line = first.line;
    c.heading = first.heading;
    c.anchor = first.anchor;
    for (size_t k = 0; k < cur.size(); k++) {
      const Unit& u = units[cur[k]];
      if (k > 0) c.text += units[cur[k - 1]].passage == u.passage ? " " : "\n\n";
      c.text += u.text;
      c.tokens += u.tokens;
    }
    out.push_back(std::move(c));
  };
  auto page_of = [&](int u) { return passages[units[u].passage].page; };
  for (int i = 0; i < int(units.size()); i++) {
    const Unit& u = units[i];
    if (!cur.empty() && (page_of(cur[0]) != page_of(i) || cur_tokens + u.tokens > limit)) {
      emit();
      // The next chunk starts with the previous one's trailing units, at most overlap_tokens of
      // them, of the same page, leaving room for this unit.
      std::vector<int> tail;
      int tail_tokens = 0;
      for (int k = int(cur.size()) - 1; k >= 0; k--) {
        const Unit& t = units[cur[k]];
        if (page_of(cur[k]) != page_of(i) || tail_tokens + t.tokens > opt.overlap_tokens ||
            tail_tokens + t.tokens + u.tokens > limit)
          break;
        tail.insert(tail.begin(), cur[k]);
        tail_tokens += t.tokens;
      }
      cur = std::move(tail);
      cur_tokens = tail_tokens;
    }
    cur.push_back(i);
    cur_tokens += u.tokens;
  }
  if (!cur.empty()) emit();
  return out;
}

}  // namespace ignis::rag
