// ignis rag: the lexical side: a lowercase word tokenizer with diacritics folded (ICU character
// properties and NFD) and Okapi BM25 over an in-memory inverted index.
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "rag/index.h"

namespace ignis::rag {
namespace {

bool is_mark(UChar32 c) {
  int8_t t = u_charType(c);
  return t == U_NON_SPACING_MARK || t == U_COMBINING_SPACING_MARK || t == U_ENCLOSING_MARK;
}

// Appends the folded form of a non-ASCII word character: NFD, marks dropped, lowercased.
void fold_append(std::string& word, UChar32 c) {
  static const UNormalizer2* nfd = [] {
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2* n = unorm2_getNFDInstance(&err);
    return U_SUCCESS(err) ? n : nullptr;
  }();
  UChar buf[32];
  int32_t len = -1;
  if (nfd) {
    UErrorCode err = U_ZERO_ERROR;
    len = unorm2_getDecomposition(nfd, c, buf, 32, &err);
    if (U_FAILURE(err)) len = -1;
  }
  if (len < 0) {  // no decomposition
    if (!is_mark(c)) append_utf8(word, uint32_t(u_tolower(c)));
    return;
  }
  for (int32_t i = 0; i < len;) {
    UChar32 d;
    U16_NEXT(buf, i, len, d);
    if (!is_mark(d)) append_utf8(word, uint32_t(u_tolower(d)));
  }
}

}  // namespace

std::vector<std::string> lexical_terms(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t n = int32_t(text.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    if (s[i] < 0x80) {
      char a = char(s[i++]);
      if ((a >= 'a' && a <= 'z') || (a >= '0' && a <= '9'))
        word += a;
      else if (a >= 'A' && a <= 'Z')
        word += char(a - 'A' + 'a');
      else
        flush();
      continue;
    }
    U8_NEXT(s, i, n, c);
    if (c < 0) {  // invalid UTF-8: a separator
      flush();
      continue;
    }
    if (u_hasBinaryProperty(c, UCHAR_IDEOGRAPHIC)) {
      flush();
      append_utf8(word, uint32_t(c));
      flush();
    } else if (u_isalnum(c) || (is_mark(c) && !word.empty())) {
      fold_append(word, c);
    } else {
      flush();
    }
  }
  flush();
  return out;
}

void Bm25::add(std::int64_t id, const std::string& text) {
  const int doc = int(ids_.size());
  ids_.push_back(id);
  std::vector<std::string> terms = lexical_terms(text);
  lengths_.push_back(int(terms.size()));
  total_length_ += double(terms.size());
  std::sort(terms.begin(), terms.end());
  for (size_t i = 0; i < terms.size();) {
    size_t j = i;
    while (j < terms.size() && terms[j] == terms[i]) j++;
    auto [it, fresh] = terms_.try_emplace(terms[i], int(postings_.size()));
    if (fresh) postings_.emplace_back();
    postings_[it->second].push_back({doc, int(j - i)});
    i = j;
  }
}

std::vector<std::pair<std::int64_t, double>> Bm25::search(const std::string& query, int k) const {
  std::vector<std::pair<std::int64_t, double>> out;
  if (ids_.empty() || k <= 0) return out;
  std::vector<std::string> q = lexical_terms(query);
  std::sort(q.begin(), q.end());
  q.erase(std::unique(q.begin(), q.end()), q.end());
  const double N = double(ids_.size());
  const double avgdl = std::max(1e-9, total_length_ / N);
  std::vector<double> score(ids_.size(), 0.0);
  std::vector<int> touched;
  for (const std::string& t : q) {
    auto it = terms_.find(t);
    if (it == terms_.end()) continue;
    const auto& plist = postings_[it->second];
    const double df = double(plist.size());
    const double idf = std::log(1.0 + (N - df + 0.5) / (df + 0.5));
    for (auto [doc, tf] : plist) {
      const double norm = k1_ * (1.0 - b_ + b_ * double(lengths_[doc]) / avgdl);
      if (score[doc] == 0.0) touched.push_back(doc);
      score[doc] += idf * double(tf) * (k1_ + 1.0) / (double(tf) + norm);
    }
  }
  auto better = [&](int a, int b) { return score[a] != score[b] ? score[a] > score[b] : ids_[a] < ids_[b]; };
  const size_t m = std::min<size_t>(size_t(k), touched.size());
  std::partial_sort(touched.begin(), touched.begin() + m, touched.end(), better);
  for (size_t i = 0; i < m; i++) out.push_back({ids_[touched[i]], score[touched[i]]});
  return out;
}

}  // namespace ignis::rag
