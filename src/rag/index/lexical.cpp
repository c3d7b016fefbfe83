// ignis rag: the lexical side: a lowercase word tokenizer with diacritics folded (ICU character
// properties and NFD) and Okapi BM25 over an in-memory inverted index.
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"
#include "rag/index.h"
#include "rag/index/atomic_file.h"

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

void Bm25::add(std::int64_t id, const std::string& text) { add_terms(id, lexical_terms(text)); }

void Bm25::add_terms(std::int64_t id, std::vector<std::string> terms) {
  const int doc = int(ids_.size());
  ids_.push_back(id);
  lengths_.push_back(int(terms.size()));
  total_length_ += double(terms.size());
  std::vector<int> tids;  // term ids, sorted then run-length counted (cheaper than sorting strings)
  tids.reserve(terms.size());
  for (std::string& t : terms) {
    auto [it, fresh] = terms_.try_emplace(std::move(t), int(postings_.size()));
    if (fresh) postings_.emplace_back();
    tids.push_back(it->second);
  }
  std::sort(tids.begin(), tids.end());
  for (size_t i = 0; i < tids.size();) {
    size_t j = i;
    while (j < tids.size() && tids[j] == tids[i]) j++;
    postings_[size_t(tids[i])].push_back({doc, int(j - i)});
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

namespace {

constexpr char kMagic[8] = {'I', 'G', 'N', 'B', 'M', '2', '5', '1'};

struct Writer {
  std::FILE* f;
  bool ok = true;
  void bytes(const void* p, size_t n) { ok = ok && (n == 0 || std::fwrite(p, 1, n, f) == n); }
  template <class T>
  void pod(const T& v) { bytes(&v, sizeof v); }
};

struct Reader {
  const std::string& buf;
  const std::string& name;
  size_t at = 0;
  void bytes(void* p, size_t n) {
    IGNIS_CHECK(n <= buf.size() - at, "{}: truncated BM25 snapshot", name);
    if (n > 0) std::memcpy(p, buf.data() + at, n);
    at += n;
  }
  template <class T>
  T pod() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
  uint64_t count(size_t elem) {  // a length that must fit what is left
    uint64_t n = pod<uint64_t>();
    IGNIS_CHECK(elem == 0 || n <= (buf.size() - at) / elem, "{}: corrupt BM25 snapshot (length {})", name, n);
    return n;
  }
};

}  // namespace

void Bm25::save(const std::filesystem::path& file) const {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  IGNIS_CHECK(f, "{}: cannot write: {}", tmp.string(), std::strerror(errno));
  Writer w{f};
  w.bytes(kMagic, sizeof kMagic);
  w.pod(k1_);
  w.pod(b_);
  w.pod(total_length_);
  w.pod(uint64_t(ids_.size()));
  w.bytes(ids_.data(), ids_.size() * sizeof(ids_[0]));
  w.bytes(lengths_.data(), lengths_.size() * sizeof(lengths_[0]));
  std::vector<const std::string*> names(postings_.size());
  for (const auto& [term, id] : terms_) names[size_t(id)] = &term;
  w.pod(uint64_t(postings_.size()));
  for (size_t t = 0; t < postings_.size(); t++) {
    w.pod(uint64_t(names[t]->size()));
    w.bytes(names[t]->data(), names[t]->size());
    w.pod(uint64_t(postings_[t].size()));
    w.bytes(postings_[t].data(), postings_[t].size() * sizeof(postings_[t][0]));
  }
  bool ok = w.ok && std::fflush(f) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    IGNIS_FAIL("{}: write failed", tmp.string());
  }
  fsync_and_rename(tmp, file);
}

void Bm25::load(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::string buf;
  {
    std::FILE* f = std::fopen(name.c_str(), "rb");
    IGNIS_CHECK(f, "{}: cannot open: {}", name, std::strerror(errno));
    std::fseek(f, 0, SEEK_END);
    long n = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    buf.resize(n > 0 ? size_t(n) : 0);
    bool ok = n >= 0 && std::fread(buf.data(), 1, buf.size(), f) == buf.size();
    std::fclose(f);
    IGNIS_CHECK(ok, "{}: read error", name);
  }
  Reader r{buf, name};
  char magic[8];
  r.bytes(magic, sizeof magic);
  IGNIS_CHECK(std::memcmp(magic, kMagic, sizeof magic) == 0, "{}: not a BM25 snapshot of ignis rag", name);
  Bm25 b;
  b.k1_ = r.pod<double>();
  b.b_ = r.pod<double>();
  b.total_length_ = r.pod<double>();
  const uint64_t n = r.count(sizeof(std::int64_t) + sizeof(int));
  b.ids_.resize(n);
  r.bytes(b.ids_.data(), n * sizeof(std::int64_t));
  b.lengths_.resize(n);
  r.bytes(b.lengths_.data(), n * sizeof(int));
  const uint64_t terms = r.count(16);
  b.postings_.resize(terms);
  b.terms_.reserve(terms);
  for (uint64_t t = 0; t < terms; t++) {
    std::string term(r.count(1), '\0');
    r.bytes(term.data(), term.size());
    auto& plist = b.postings_[t];
    plist.resize(r.count(sizeof(plist[0])));
    r.bytes(plist.data(), plist.size() * sizeof(plist[0]));
    for (auto [doc, tf] : plist)
      IGNIS_CHECK(doc >= 0 && uint64_t(doc) < n && tf > 0, "{}: corrupt BM25 snapshot (posting {} {})", name, doc, tf);
    IGNIS_CHECK(b.terms_.emplace(std::move(term), int(t)).second, "{}: corrupt BM25 snapshot (a term twice)", name);
  }
  IGNIS_CHECK(r.at == buf.size(), "{}: trailing bytes in the BM25 snapshot", name);
  *this = std::move(b);
}

}  // namespace ignis::rag
