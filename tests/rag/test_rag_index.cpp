// The document index (src/rag/index): chunking, BM25, reciprocal rank fusion, dense retrieval
// with a deterministic hashed bag-of-words embedding, incremental updates, crash safety and
// validation at open. Files come from a small txt/md source defined here (paragraphs split at
// blank lines, '#' headings), so these tests do not depend on the parsers.
#include <gtest/gtest.h>

#include <atomic>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "rag/index.h"
#include "rag/index/sha256.h"

namespace fs = std::filesystem;
using namespace ignis;
using namespace ignis::rag;

namespace {

// ---- helpers ----

std::string words(const std::string& stem, int n, int from = 0) {
  std::string s;
  for (int i = 0; i < n; i++) s += (i ? " " : "") + stem + std::to_string(from + i);
  return s;
}

Passage passage(std::string text, int line, int page = 0, std::string heading = "") {
  Passage p;
  p.text = std::move(text);
  p.line = line;
  p.page = page;
  p.heading = std::move(heading);
  return p;
}

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("ignis_rag_index_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A txt/md source: every .txt / .md file below the root; passages = blank-line separated
// paragraphs with their first line; '#' lines are headings (md). A file containing "@BAD@" is
// rejected as the parsers reject hostile input.
IndexSource test_source(std::atomic<int>* parses = nullptr) {  // parse runs on several threads
  IndexSource s;
  s.scan = [](const fs::path& root) {
    IGNIS_CHECK(fs::is_directory(root), "{}: not a directory", root.string());
    FolderScan scan;
    for (auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file()) continue;
      std::string rel = fs::relative(e.path(), root).generic_string();
      if (rel.find("/.") != std::string::npos || rel[0] == '.') continue;
      std::string ext = e.path().extension().string();
      if (ext != ".txt" && ext != ".md") {
        scan.skipped.push_back({rel, "unsupported format"});
        continue;
      }
      scan.files.push_back({e.path(), rel, uint64_t(e.file_size()), ext.substr(1)});
    }
    std::sort(scan.files.begin(), scan.files.end(), [](auto& a, auto& b) { return a.rel < b.rel; });
    return scan;
  };
  s.parse = [parses](const FolderEntry& e) {
    if (parses) ++*parses;
    std::ifstream in(e.path, std::ios::binary);
    IGNIS_CHECK(in, "{}: cannot open", e.path.string());
    ParsedDocument doc;
    doc.format = e.format;
    std::string line, para, heading;
    int no = 0, start = 0;
    auto flush = [&] {
      if (!para.empty()) doc.passages.push_back(passage(para, start, 0, heading));
      para.clear();
    };
    while (std::getline(in, line)) {
      no++;
      if (line.find("@BAD@") != std::string::npos) throw ParseError("not UTF-8 text at byte 3");
      if (line.empty()) {
        flush();
        continue;
      }
      if (e.format == "md" && line[0] == '#') {
        flush();
        heading = line.substr(line.find_first_not_of("# "));
        if (doc.title.empty()) doc.title = heading;
        continue;
      }
      if (para.empty()) start = no;
      para += (para.empty() ? "" : " ") + line;
    }
    flush();
    return doc;
  };
  return s;
}

// Hashed bag of words (the lexical terms), normalized: texts sharing words are close, so dense
// ranks are meaningful and deterministic. Counts calls and texts.
struct FakeEmbedding {
  int calls = 0, texts = 0;
  int throw_after = -1;  // throw on this call (0-based), -1 = never
  Embedding emb;
  explicit FakeEmbedding(std::string id = "fake-bow-64", int dim = 64) {
    emb.model_id = std::move(id);
    emb.dim = dim;
    emb.count_tokens = count_words;
    emb.embed_passages = [this](const std::vector<std::string>& in) {
      if (throw_after >= 0 && calls == throw_after) throw Error("embedding model crashed (simulated)");
      calls++;
      texts += int(in.size());
      std::vector<std::vector<float>> out;
      for (auto& t : in) out.push_back(vec(t));
      return out;
    };
    emb.embed_query = [this](const std::string& q) { return vec(q); };
  }
  std::vector<float> vec(const std::string& t) const {
    std::vector<float> v(size_t(emb.dim), 0.f);
    for (const std::string& w : lexical_terms(t)) {
      uint64_t h = 1469598103934665603ull;
      for (char c : w) h = (h ^ uint8_t(c)) * 1099511628211ull;
      v[h % uint64_t(emb.dim)] += 1.f;
    }
    double s = 0;
    for (float x : v) s += x * x;
    if (s > 0)
      for (float& x : v) x = float(x / std::sqrt(s));
    return v;
  }
};

// A small corpus with one distinctive topic per file.
void write_corpus(const fs::path& docs) {
  write_file(docs / "faiss.md",
             "# Vector search\n\nFaiss stores dense vectors and finds the nearest neighbours of a query vector.\n\n"
             "An inner product index over normalized vectors ranks by cosine similarity.\n");
  write_file(docs / "cooking/bread.txt",
             "Bread needs flour, water, salt and yeast.\n\nKnead the dough for ten minutes, then let it rise.\n\n"
             "Bake the loaf in a hot oven until the crust is brown.\n");
  write_file(docs / "garden.txt",
             "Tomatoes want sun and regular water.\n\nPrune the tomato plants and tie them to stakes.\n");
  write_file(docs / "trains.md",
             "# Railways\n\nSteam locomotives burn coal in a firebox to boil water, and the steam drives the pistons "
             "and wheels.\n\n## Signals\n\n"
             "A red signal means the train must stop before it.\n");
  write_file(docs / "notes.pdfx", "not a supported format");
}

BuildOptions small_chunks() {
  BuildOptions o;
  o.chunk.chunk_tokens = 24;
  o.chunk.overlap_tokens = 8;
  o.embed_batch = 2;
  return o;
}

// Every result of a fixed query set, for before/after comparisons.
std::string snapshot(const Index& ix, const Embedding* emb) {
  std::ostringstream os;
  for (const char* q : {"dense vectors", "bread dough oven", "red signal", "tomato stakes", "coal water"}) {
    for (Retrieval m : {Retrieval::Lexical, Retrieval::Dense, Retrieval::Hybrid}) {
      if (m != Retrieval::Lexical && !ix.dense()) continue;
      for (const Hit& h : ix.search(q, 4, m, emb)) os << q << '|' << int(m) << '|' << h.chunk_id << '|' << h.file << '|' << h.line << '|' << h.score << '\n';
    }
  }
  return os.str();
}

}  // namespace

// ---- chunker ----

TEST(RagChunker, PacksWholePassagesWithOverlap) {
  std::vector<Passage> ps;
  for (int i = 0; i < 6; i++) ps.push_back(passage(words("w" + std::to_string(i) + "_", 10), 1 + 3 * i));
  ChunkOptions o{25, 10};
  auto chunks = chunk_passages(ps, o, count_words);
  // 10 + 10 fit in 25; each next chunk starts with the previous chunk's last passage (10 <= overlap).
  ASSERT_EQ(chunks.size(), 5u);
  for (size_t i = 0; i < chunks.size(); i++) {
    EXPECT_EQ(chunks[i].tokens, 20);
    EXPECT_EQ(count_words(chunks[i].text), chunks[i].tokens);
    EXPECT_EQ(chunks[i].text, ps[i].text + "\n\n" + ps[i + 1].text);
    EXPECT_EQ(chunks[i].line, ps[i].line) << "a chunk keeps the position of its first passage";
  }
  // No overlap: each passage exactly once.
  chunks = chunk_passages(ps, ChunkOptions{25, 0}, count_words);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].text, ps[2].text + "\n\n" + ps[3].text);
  EXPECT_EQ(chunks[1].line, 7);
}

TEST(RagChunker, SplitsLongPassagesAtSentencesThenWords) {
  std::string text;
  for (int s = 0; s < 6; s++) text += (s ? " " : "") + words("s" + std::to_string(s) + "_", 8) + ".";
  std::vector<Passage> ps = {passage("Short intro here.", 1, 0, "Intro"), passage(text, 3, 0, "Body")};
  auto chunks = chunk_passages(ps, ChunkOptions{20, 0}, count_words);
  // Intro (3 words) + sentence 0 (8) + sentence 1 (8) = 19; then sentence pairs.
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].heading, "Intro");
  EXPECT_EQ(chunks[0].line, 1);
  EXPECT_EQ(chunks[0].text.rfind("Short intro here.\n\ns0_0 ", 0), 0u) << chunks[0].text;
  for (size_t i = 1; i < chunks.size(); i++) {
    EXPECT_EQ(chunks[i].heading, "Body");
    EXPECT_EQ(chunks[i].line, 3);
    EXPECT_LE(chunks[i].tokens, 20);
    EXPECT_EQ(chunks[i].text.back(), '.') << "cut at a sentence end: " << chunks[i].text;
  }
  // All words, in order, exactly once.
  std::string joined;
  for (auto& c : chunks) joined += (joined.empty() ? "" : " ") + c.text;
  std::replace(joined.begin(), joined.end(), '\n', ' ');
  std::string want = "Short intro here. " + text;
  joined.erase(std::unique(joined.begin(), joined.end(), [](char a, char b) { return a == ' ' && b == ' '; }), joined.end());
  EXPECT_EQ(joined, want);

  // One 100-word sentence: split at words into pieces of half the overlap (5 words), so that
  // chunks of 30 share 10.
  std::vector<Passage> one = {passage(words("x", 100), 5)};
  chunks = chunk_passages(one, ChunkOptions{30, 10}, count_words);
  ASSERT_EQ(chunks.size(), 5u);
  std::set<std::string> seen;
  for (size_t i = 0; i < chunks.size(); i++) {
    EXPECT_EQ(chunks[i].tokens, i + 1 < chunks.size() ? 30 : 20);
    EXPECT_EQ(chunks[i].line, 5);
    std::istringstream is(chunks[i].text);
    std::string w, first;
    is >> first;
    if (i > 0) {
      EXPECT_TRUE(seen.count(first)) << "chunk " << i << " starts with the previous chunk's tail";
      EXPECT_EQ(first, "x" + std::to_string(20 * i));
    }
    seen.insert(first);
    while (is >> w) seen.insert(w);
  }
  EXPECT_EQ(seen.size(), 100u);

  // A single word longer than a chunk (counted as one token per 2 characters) is cut at characters.
  auto halves = [](const std::string& s) { return int((s.size() + 1) / 2); };
  chunks = chunk_passages({passage(std::string(50, 'a'), 1)}, ChunkOptions{10, 0}, halves);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].text, std::string(20, 'a'));
  EXPECT_EQ(chunks[2].text, std::string(10, 'a'));
}

TEST(RagChunker, NeverSpansPagesAndValidatesOptions) {
  std::vector<Passage> ps = {passage(words("a", 5), 0, 1), passage(words("b", 5), 0, 1), passage(words("c", 5), 0, 2),
                             passage(words("d", 5), 0, 2)};
  auto chunks = chunk_passages(ps, ChunkOptions{100, 50}, count_words);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].page, 1);
  EXPECT_EQ(chunks[0].text, ps[0].text + "\n\n" + ps[1].text);
  EXPECT_EQ(chunks[1].page, 2);
  EXPECT_EQ(chunks[1].text, ps[2].text + "\n\n" + ps[3].text) << "no overlap from the previous page";
  EXPECT_THROW(chunk_passages(ps, ChunkOptions{0, 0}, count_words), Error);
  EXPECT_THROW(chunk_passages(ps, ChunkOptions{10, 10}, count_words), Error);
  EXPECT_THROW(chunk_passages(ps, ChunkOptions{10, -1}, count_words), Error);
  EXPECT_TRUE(chunk_passages({}, ChunkOptions{}, nullptr).empty());
  EXPECT_EQ(count_words("  one two\tthree\n four "), 4);
}

TEST(RagChunker, RandomizedInvariants) {
  std::mt19937 rng(20);
  for (int round = 0; round < 300; round++) {
    std::vector<Passage> ps;
    std::map<std::string, int> order;  // every word is unique: its global position
    std::map<std::string, int> page_of;
    int page = 1, next = 0;
    const int n = int(rng() % 8);
    for (int p = 0; p < n; p++) {
      if (rng() % 4 == 0) page++;
      std::string text;
      const int w = int(rng() % 60);
      for (int i = 0; i < w; i++) {
        std::string word = "w" + std::to_string(next);
        if (rng() % 10 == 0) word += ".";  // sentence ends
        if (rng() % 30 == 0) word += std::string(rng() % 40, 'z');  // long words
        order[word] = next++;
        page_of[word] = page;
        text += (i ? " " : "") + word;
      }
      if (!text.empty()) ps.push_back(passage(text, p + 1, page));
    }
    ChunkOptions o;
    o.chunk_tokens = 1 + int(rng() % 40);
    o.overlap_tokens = int(rng() % o.chunk_tokens);
    auto by_chars = [](const std::string& t) { return std::max(1, int(t.size() / 4)); };
    const bool chars = rng() % 2;
    auto chunks = chunk_passages(ps, o, chars ? std::function<int(const std::string&)>(by_chars) : count_words);
    std::set<std::string> covered;
    int last_first = -1;
    for (const Chunk& c : chunks) {
      ASSERT_LE(c.tokens, o.chunk_tokens) << "round " << round;
      ASSERT_FALSE(c.text.empty());
      std::istringstream is(c.text);
      std::string w;
      int first = -1;
      while (is >> w) {
        covered.insert(w);
        auto it = order.find(w);
        if (it != order.end()) {
          if (first < 0) first = it->second;
          EXPECT_EQ(page_of[w], c.page) << "a chunk never spans pages (round " << round << ")";
        }
      }
      if (first >= 0) {
        EXPECT_GE(first, last_first) << "chunks advance through the text (round " << round << ")";
        last_first = first;
      }
      bool page_ok = false;
      for (auto& p : ps) page_ok |= p.page == c.page && p.line == c.line;
      EXPECT_TRUE(page_ok) << "position of a real passage";
    }
    // Every word is in some chunk (a word cut at characters shows as pieces: check the rest).
    for (auto& [w, pos] : order)
      if (w.find("zzzz") == std::string::npos) EXPECT_TRUE(covered.count(w)) << w << " lost in round " << round;
  }
}

TEST(RagSha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // a million 'a', fed in uneven pieces
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; i++) h.update(a.data(), a.size());
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  TempDir t;
  write_file(t.path / "f", std::string(3 << 20, 'a') + "abc");  // spans the 1 MiB read buffer
  EXPECT_EQ(sha256_file(t.path / "f"), sha256_hex(std::string(3 << 20, 'a') + "abc"));
  EXPECT_THROW(sha256_file(t.path / "missing"), Error);
}

// ---- lexical ----

TEST(RagLexical, TokenizerFoldsCaseAndDiacritics) {
  std::vector<std::string> want = {"cafe", "au", "lait", "naive", "uber", "x2", "東", "京", "don", "t"};
  EXPECT_EQ(lexical_terms("Café au LAIT, naïve Über-x2 東京 don't"), want);
  EXPECT_TRUE(lexical_terms("  ,.;  ").empty());
  EXPECT_EQ(lexical_terms("ab\xff" "cd"), (std::vector<std::string>{"ab", "cd"})) << "invalid UTF-8 separates";
}

TEST(RagLexical, Bm25RanksKnownAnswersAndMatchesTheFormula) {
  Bm25 bm;
  const std::vector<std::string> docs = {
      "the cat sat on the mat",                       // 10
      "dogs chase cats and the cat runs",             // 11
      "faiss finds nearest neighbours of vectors",    // 12
      "the quick brown fox jumps over the lazy dog",  // 13
      "vectors vectors everywhere",                   // 14
  };
  for (size_t i = 0; i < docs.size(); i++) bm.add(10 + int64_t(i), docs[i]);
  EXPECT_EQ(bm.size(), 5u);
  auto ids = [](const std::vector<std::pair<int64_t, double>>& r) {
    std::vector<int64_t> out;
    for (auto& [id, s] : r) out.push_back(id);
    return out;
  };
  EXPECT_EQ(ids(bm.search("nearest neighbours", 3)), std::vector<int64_t>{12});
  EXPECT_EQ(ids(bm.search("Vectors", 5)), (std::vector<int64_t>{14, 12})) << "higher tf, shorter doc first";
  EXPECT_EQ(ids(bm.search("cat", 5)).front(), 10);
  EXPECT_TRUE(bm.search("zebra", 5).empty());
  EXPECT_EQ(bm.search("the cat", 1).size(), 1u);

  // "cat" in doc 10 by hand: N=5, df=2, tf=1, |d|=6, avgdl=(6+7+6+9+3)/5.
  const double N = 5, df = 2, tf = 1, dl = 6, avgdl = 31.0 / 5, k1 = 1.2, b = 0.75;
  const double idf = std::log(1 + (N - df + 0.5) / (df + 0.5));
  const double want = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl));
  auto r = bm.search("cat", 5);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NEAR(r[0].second, want, 1e-12);
}

TEST(RagLexical, Bm25SnapshotRoundTrips) {
  TempDir t;
  Bm25 bm;
  bm.add(3, "alpha beta gamma");
  bm.add(9, "beta beta delta Café");
  bm.add(4, "");
  bm.save(t.path / "x.bm25");
  EXPECT_FALSE(fs::exists(t.path / "x.bm25.tmp"));
  Bm25 back;
  back.add(100, "something else");
  back.load(t.path / "x.bm25");
  EXPECT_EQ(back.ids(), (std::vector<int64_t>{3, 9, 4}));
  for (const char* q : {"beta", "alpha delta", "cafe", "zeta"}) EXPECT_EQ(back.search(q, 5), bm.search(q, 5)) << q;
  // Truncated or foreign files are refused with the file's name.
  std::string bytes;
  {
    std::ifstream in(t.path / "x.bm25", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_file(t.path / "cut.bm25", bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(back.load(t.path / "cut.bm25"), Error);
  write_file(t.path / "junk.bm25", "hello");
  try {
    back.load(t.path / "junk.bm25");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.bm25"), std::string::npos);
  }
  EXPECT_EQ(back.ids().size(), 3u) << "a failed load leaves the previous content";
}

// ---- fusion ----

TEST(RagFusion, ReciprocalRankFusionMath) {
  auto f = reciprocal_rank_fusion({1, 2, 3}, {3, 1, 4}, 60);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].id, 1);
  EXPECT_DOUBLE_EQ(f[0].score, 1.0 / 61 + 1.0 / 62);
  EXPECT_EQ(f[0].dense_rank, 1);
  EXPECT_EQ(f[0].lexical_rank, 2);
  EXPECT_EQ(f[1].id, 3);
  EXPECT_DOUBLE_EQ(f[1].score, 1.0 / 63 + 1.0 / 61);
  EXPECT_EQ(f[2].id, 2);
  EXPECT_DOUBLE_EQ(f[2].score, 1.0 / 62);
  EXPECT_EQ(f[2].lexical_rank, 0);
  EXPECT_EQ(f[3].id, 4);
  EXPECT_DOUBLE_EQ(f[3].score, 1.0 / 63);
  EXPECT_EQ(f[3].dense_rank, 0);
  // Equal scores: the better best rank first, then the smaller id.
  f = reciprocal_rank_fusion({7, 8}, {8, 7}, 60);
  EXPECT_EQ(f[0].id, 7);
  f = reciprocal_rank_fusion({9}, {5}, 1);
  EXPECT_EQ(f[0].id, 5);
  EXPECT_DOUBLE_EQ(f[0].score, 0.5);
  EXPECT_TRUE(reciprocal_rank_fusion({}, {}).empty());
  EXPECT_EQ(parse_retrieval("dense"), Retrieval::Dense);
  EXPECT_THROW(parse_retrieval("fuzzy"), Error);
}

// ---- index: build, query, update ----

TEST(RagIndex, BuildsAndRetrievesWithPositions) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  FakeEmbedding fe;
  IndexReport r = build_index(docs, ix, &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(r.files_seen, 4);
  EXPECT_EQ(r.files_indexed, 4);
  EXPECT_TRUE(r.rebuilt);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].rel, "notes.pdfx");
  EXPECT_GT(r.chunks_total, 4);
  EXPECT_EQ(fe.texts, r.chunks_total);
  EXPECT_TRUE(fs::exists(ix / "index.sqlite"));

  auto index = Index::open(ix);
  EXPECT_TRUE(index->dense());
  EXPECT_EQ(index->info().model_id, "fake-bow-64");
  EXPECT_EQ(index->info().files, 4);
  EXPECT_EQ(index->info().chunks, r.chunks_total);
  for (Retrieval m : {Retrieval::Lexical, Retrieval::Dense, Retrieval::Hybrid}) {
    auto hits = index->search("which signal means the train must stop", 3, m, &fe.emb);
    ASSERT_FALSE(hits.empty()) << retrieval_name(m);
    EXPECT_EQ(hits[0].file, "trains.md") << retrieval_name(m);
    EXPECT_EQ(hits[0].heading, "Signals");
    EXPECT_EQ(hits[0].line, 7);
    EXPECT_NE(hits[0].text.find("red signal"), std::string::npos);
    EXPECT_EQ(cite(hits[0]), "trains.md, line 7, \"Signals\"");
    EXPECT_EQ(hits[0].dense_rank > 0, m != Retrieval::Lexical);
    EXPECT_EQ(hits[0].lexical_rank > 0, m != Retrieval::Dense);
  }
  EXPECT_EQ(index->search("knead the dough", 1, Retrieval::Dense, &fe.emb)[0].file, "cooking/bread.txt");
  EXPECT_EQ(index->search("nearest neighbours", 1, Retrieval::Hybrid, &fe.emb)[0].file, "faiss.md");
  // Hybrid = RRF of both lists.
  auto h = index->search("water", 10, Retrieval::Hybrid, &fe.emb);
  for (auto& x : h) {
    double want = (x.dense_rank ? 1.0 / (60 + x.dense_rank) : 0) + (x.lexical_rank ? 1.0 / (60 + x.lexical_rank) : 0);
    EXPECT_DOUBLE_EQ(x.score, want);
  }
  // The wrong model for a dense query is refused.
  FakeEmbedding other("other-model");
  EXPECT_THROW(index->search("water", 3, Retrieval::Dense, &other.emb), Error);
  EXPECT_THROW(index->search("water", 3, Retrieval::Dense, nullptr), Error);
  EXPECT_THROW(index->search("water", 0, Retrieval::Lexical, nullptr), Error);
}

TEST(RagIndex, EmptyFolderAndAnIndexInsideTheFolder) {
  TempDir t;
  fs::path docs = t.path / "docs";
  fs::create_directories(docs);
  FakeEmbedding fe;
  IndexReport r = build_index(docs, docs / "idx", &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(r.files_seen, 0);
  EXPECT_EQ(r.chunks_total, 0);
  auto index = Index::open(docs / "idx");
  EXPECT_TRUE(index->search("anything", 4, Retrieval::Hybrid, &fe.emb).empty());
  write_file(docs / "a.txt", "Alpha beta.\n");
  r = build_index(docs, docs / "idx", &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(r.files_seen, 1) << "the index's own files are not documents";
  EXPECT_TRUE(r.skipped.empty()) << r.skipped[0].rel;
  EXPECT_EQ(Index::open(docs / "idx")->search("alpha", 4, Retrieval::Dense, &fe.emb).size(), 1u);
}

TEST(RagIndex, LexicalOnlyIndexFallsBack) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  IndexReport r = build_index(docs, ix, nullptr, small_chunks(), test_source());
  EXPECT_EQ(r.files_indexed, 4);
  auto index = Index::open(ix);
  EXPECT_FALSE(index->dense());
  EXPECT_EQ(index->info().dim, 0);
  std::string note;
  auto hits = index->search("bake the loaf", 2, Retrieval::Hybrid, nullptr, &note);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].file, "cooking/bread.txt");
  EXPECT_EQ(hits[0].dense_rank, 0);
  EXPECT_NE(note.find("lexical"), std::string::npos);
  EXPECT_THROW(index->search("bake", 2, Retrieval::Dense, nullptr), Error);
  for (auto& f : fs::directory_iterator(ix)) EXPECT_NE(f.path().extension(), ".faiss") << "no Faiss file";
}

TEST(RagIndex, IncrementalUpdates) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  FakeEmbedding fe;
  std::atomic<int> parses{0};
  BuildOptions o = small_chunks();
  IndexReport r0 = build_index(docs, ix, &fe.emb, o, test_source(&parses));
  EXPECT_EQ(parses.load(), 4);

  // Nothing changed: nothing parsed or embedded.
  fe.calls = fe.texts = 0;
  parses = 0;
  IndexReport r1 = build_index(docs, ix, &fe.emb, o, test_source(&parses));
  EXPECT_EQ(r1.files_unchanged, 4);
  EXPECT_EQ(r1.files_indexed, 0);
  EXPECT_FALSE(r1.rebuilt);
  EXPECT_EQ(fe.calls, 0);
  EXPECT_EQ(parses.load(), 0);
  EXPECT_EQ(r1.chunks_total, r0.chunks_total);

  // Rewritten with the same bytes (mtime changes, sha256 does not): still unchanged.
  std::string bread = "Bread needs flour, water, salt and yeast.\n\nKnead the dough for ten minutes, then let it rise.\n\n"
                      "Bake the loaf in a hot oven until the crust is brown.\n";
  write_file(docs / "cooking/bread.txt", bread);
  IndexReport r2 = build_index(docs, ix, &fe.emb, o, test_source(&parses));
  EXPECT_EQ(r2.files_unchanged, 4);
  EXPECT_EQ(fe.calls, 0);
  EXPECT_EQ(parses.load(), 0);

  // One file modified: only it is parsed and re-embedded.
  write_file(docs / "garden.txt", "Cucumbers climb a trellis and need daily watering.\n");
  IndexReport r3 = build_index(docs, ix, &fe.emb, o, test_source(&parses));
  EXPECT_EQ(r3.files_indexed, 1);
  EXPECT_EQ(r3.files_unchanged, 3);
  EXPECT_EQ(parses.load(), 1);
  EXPECT_EQ(fe.texts, 1) << "only the modified file's one chunk is embedded";
  EXPECT_EQ(fe.calls, 1);
  EXPECT_EQ(r3.embed_calls, 1);
  EXPECT_EQ(r3.chunks_added, 1);
  EXPECT_EQ(r3.chunks_removed, 1);
  {
    auto index = Index::open(ix);
    EXPECT_EQ(index->search("cucumbers trellis", 1, Retrieval::Dense, &fe.emb)[0].file, "garden.txt");
    for (auto& h : index->search("tomato stakes prune", 10, Retrieval::Hybrid, &fe.emb))
      EXPECT_EQ(h.text.find("Prune"), std::string::npos) << "old chunk still there: " << h.text;
  }

  // A file deleted: its chunks leave the store and Faiss (open validates they agree).
  fe.calls = fe.texts = 0;
  fs::remove(docs / "trains.md");
  IndexReport r4 = build_index(docs, ix, &fe.emb, o, test_source());
  EXPECT_EQ(r4.files_removed, 1);
  EXPECT_GT(r4.chunks_removed, 0);
  EXPECT_EQ(fe.calls, 0);
  EXPECT_EQ(r4.chunks_total, r3.chunks_total - r4.chunks_removed);
  {
    auto index = Index::open(ix);
    EXPECT_EQ(index->info().files, 3);
    EXPECT_EQ(index->info().chunks, r4.chunks_total);
    for (Retrieval m : {Retrieval::Lexical, Retrieval::Dense, Retrieval::Hybrid})
      for (auto& h : index->search("red signal train locomotives", 20, m, &fe.emb)) EXPECT_NE(h.file, "trains.md");
  }
  int faiss_files = 0, bm25_files = 0, others = 0;
  for (auto& f : fs::directory_iterator(ix)) {
    faiss_files += f.path().extension() == ".faiss";
    bm25_files += f.path().extension() == ".bm25";
    others += f.path().extension() != ".faiss" && f.path().extension() != ".bm25";
  }
  EXPECT_EQ(faiss_files, 1) << "stale generations are removed";
  EXPECT_EQ(bm25_files, 1);
  EXPECT_EQ(others, 1) << "index.sqlite";

  // Another embedding model: everything re-embedded.
  FakeEmbedding fe2("fake-bow-32", 32);
  IndexReport r5 = build_index(docs, ix, &fe2.emb, o, test_source());
  EXPECT_TRUE(r5.rebuilt);
  EXPECT_NE(r5.rebuild_reason.find("embedding model changed"), std::string::npos) << r5.rebuild_reason;
  EXPECT_EQ(r5.files_indexed, 3);
  EXPECT_EQ(fe2.texts, r5.chunks_total);
  EXPECT_EQ(Index::open(ix)->info().dim, 32);

  // Other chunk options: rebuilt; no model: rebuilt lexical-only.
  BuildOptions o2 = o;
  o2.chunk.chunk_tokens = 12;
  o2.chunk.overlap_tokens = 0;
  IndexReport r6 = build_index(docs, ix, &fe2.emb, o2, test_source());
  EXPECT_TRUE(r6.rebuilt);
  EXPECT_NE(r6.rebuild_reason.find("chunk options"), std::string::npos);
  EXPECT_GT(r6.chunks_total, r5.chunks_total);
  IndexReport r7 = build_index(docs, ix, nullptr, o2, test_source());
  EXPECT_TRUE(r7.rebuilt);
  EXPECT_FALSE(Index::open(ix)->dense());
}

TEST(RagIndex, SkipsBadFilesAndKeepsGoing) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  write_file(docs / "bad.txt", "hello @BAD@ world\n");
  write_file(docs / "empty.txt", "");
  FakeEmbedding fe;
  IndexReport r = build_index(docs, ix, &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(r.files_indexed, 5) << "the empty file is indexed with no chunks";
  ASSERT_EQ(r.skipped.size(), 2u);
  std::map<std::string, std::string> why;
  for (auto& s : r.skipped) why[s.rel] = s.reason;
  EXPECT_EQ(why["bad.txt"], "not UTF-8 text at byte 3");
  EXPECT_EQ(why["notes.pdfx"], "unsupported format");
  // Too large: skipped before it is read; a file that grows past the limit loses its chunks.
  BuildOptions tight = small_chunks();
  tight.max_file_bytes = 100;
  write_file(docs / "big.txt", std::string(200, 'x') + "\n");
  std::atomic<int> parses{0};
  IndexReport big = build_index(docs, ix, &fe.emb, tight, test_source(&parses));
  std::map<std::string, std::string> why2;
  for (auto& s : big.skipped) why2[s.rel] = s.reason;
  EXPECT_EQ(why2["big.txt"], "larger than 100 bytes");
  EXPECT_EQ(why2["faiss.md"], "larger than 100 bytes");
  EXPECT_EQ(parses.load(), 1) << "only bad.txt (small, never indexed) is read again";
  fs::remove(docs / "big.txt");
  build_index(docs, ix, &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(Index::open(ix)->info().files, 5);
  // A good file that turns bad loses its old chunks.
  write_file(docs / "garden.txt", "@BAD@\n");
  IndexReport r2 = build_index(docs, ix, &fe.emb, small_chunks(), test_source());
  EXPECT_EQ(r2.skipped.size(), 3u) << "bad.txt again, and now garden.txt";
  auto index = Index::open(ix);
  for (auto& h : index->search("tomatoes sun", 10, Retrieval::Hybrid, &fe.emb)) EXPECT_NE(h.file, "garden.txt");
  EXPECT_THROW(build_index(t.path / "nope", ix, &fe.emb, small_chunks(), test_source()), Error);
}

TEST(RagIndex, InterruptedRunLeavesThePreviousIndex) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  FakeEmbedding fe;
  BuildOptions o = small_chunks();
  build_index(docs, ix, &fe.emb, o, test_source());
  const std::string before = snapshot(*Index::open(ix), &fe.emb);
  ASSERT_FALSE(before.empty());

  // Changes, then the embedding model fails mid-run (after a file was already written and others removed).
  write_file(docs / "aaa_first.txt", "Quantum computers use qubits.\n");
  write_file(docs / "garden.txt", "Cucumbers climb a trellis.\n");
  fs::remove(docs / "faiss.md");
  fe.calls = 0;
  fe.throw_after = 1;
  BuildOptions one_by_one = o;  // one file per window, one chunk per call: the second call comes after a write
  one_by_one.embed_batch = 1;
  one_by_one.window_bytes = 1;
  EXPECT_THROW(build_index(docs, ix, &fe.emb, one_by_one, test_source()), Error);
  {
    auto index = Index::open(ix);
    EXPECT_EQ(snapshot(*index, &fe.emb), before) << "the previous index answers identically";
    EXPECT_EQ(index->info().files, 4);
  }
  for (auto& f : fs::directory_iterator(ix)) {
    std::string name = f.path().filename().string();
    EXPECT_TRUE(name == "index.sqlite" || name.ends_with(".faiss") || name.ends_with(".bm25")) << "left behind: " << name;
  }

  // A model change that fails half-way leaves the old model's index.
  FakeEmbedding fe2("fake-bow-32", 32);
  fe2.throw_after = 2;
  EXPECT_THROW(build_index(docs, ix, &fe2.emb, o, test_source()), Error);
  EXPECT_EQ(snapshot(*Index::open(ix), &fe.emb), before);

  // The next run completes.
  fe.throw_after = -1;
  IndexReport r = build_index(docs, ix, &fe.emb, o, test_source());
  EXPECT_EQ(r.files_indexed, 2);
  EXPECT_EQ(r.files_removed, 1);
  EXPECT_EQ(Index::open(ix)->search("qubits", 1, Retrieval::Hybrid, &fe.emb)[0].file, "aaa_first.txt");
}

// Files parsed and chunked on several threads, in windows, with embedding batches that cross
// files: the same index (chunks, positions, vectors, answers) as one thread, one chunk per call.
TEST(RagIndex, ThreadsAndCrossFileBatchesGiveTheSameIndex) {
  TempDir t;
  fs::path docs = t.path / "docs";
  write_corpus(docs);
  for (int f = 0; f < 37; f++) {
    std::string text;
    for (int p = 0; p < 1 + f % 5; p++) text += words("w" + std::to_string(f % 7) + "x", 5 + (f * 3 + p) % 30, p) + "\n\n";
    if (f == 11) text += "@BAD@\n";
    write_file(docs / fmt::format("gen/file{:02d}.txt", f), text);
  }
  auto build = [&](const fs::path& ix, int threads, int batch, std::uint64_t window_bytes, FakeEmbedding& fe,
                   std::vector<int>* done) {
    BuildOptions o = small_chunks();
    o.threads = threads;
    o.embed_batch = batch;
    o.window_bytes = window_bytes;
    o.progress.on_file = [done](int d, int total, int, const std::string&) {
      if (done) {
        EXPECT_LE(d, total);
        if (!done->empty()) EXPECT_GE(d, done->back()) << "progress goes forward";
        done->push_back(d);
      }
    };
    return build_index(docs, ix, &fe.emb, o, test_source());
  };
  FakeEmbedding one, many, narrow;
  std::vector<int> done;
  IndexReport r1 = build(t.path / "one", 1, 1, 256ull << 20, one, nullptr);
  IndexReport r4 = build(t.path / "many", 4, 7, 256ull << 20, many, &done);
  IndexReport rn = build(t.path / "narrow", 3, 5, 1, narrow, nullptr);  // one file per window
  ASSERT_GT(r1.chunks_total, 40);
  for (const IndexReport* r : {&r4, &rn}) {
    EXPECT_EQ(r->chunks_total, r1.chunks_total);
    EXPECT_EQ(r->files_indexed, r1.files_indexed);
    ASSERT_EQ(r->skipped.size(), r1.skipped.size());
    for (size_t i = 0; i < r1.skipped.size(); i++) EXPECT_EQ(r->skipped[i].rel, r1.skipped[i].rel);
  }
  EXPECT_EQ(r1.embed_calls, r1.chunks_total);
  EXPECT_EQ(many.texts, r1.chunks_total);
  // 41 files in windows of 16: batches of 7 cross files, so far fewer calls than files
  EXPECT_LE(r4.embed_calls, (r1.chunks_total + 6) / 7 + 3);
  EXPECT_LT(r4.embed_calls, r4.files_indexed);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(done.back(), r1.files_seen);
  auto a = Index::open(t.path / "one"), b = Index::open(t.path / "many"), c = Index::open(t.path / "narrow");
  EXPECT_EQ(snapshot(*b, &many.emb), snapshot(*a, &one.emb));
  EXPECT_EQ(snapshot(*c, &narrow.emb), snapshot(*a, &one.emb));
  for (const char* q : {"w3x", "w5x w1x", "Faiss"}) {
    auto ha = a->search(q, 50, Retrieval::Lexical, nullptr), hb = b->search(q, 50, Retrieval::Lexical, nullptr);
    ASSERT_EQ(ha.size(), hb.size()) << q;
    for (size_t i = 0; i < ha.size(); i++) {
      EXPECT_EQ(ha[i].file, hb[i].file);
      EXPECT_EQ(ha[i].line, hb[i].line);
      EXPECT_EQ(ha[i].text, hb[i].text);
    }
  }
}

TEST(RagIndex, OpenValidates) {
  TempDir t;
  fs::path docs = t.path / "docs", a = t.path / "a", b = t.path / "b";
  write_corpus(docs);
  FakeEmbedding fe;
  build_index(docs, a, &fe.emb, small_chunks(), test_source());
  write_file(docs / "more.txt", "One more paragraph about kites.\n\nAnd another about wind.\n");
  build_index(docs, b, &fe.emb, small_chunks(), test_source());
  auto faiss_of = [](const fs::path& dir) {
    for (auto& f : fs::directory_iterator(dir))
      if (f.path().extension() == ".faiss") return f.path();
    return fs::path();
  };
  auto expect_error = [](const fs::path& dir, const std::string& part) {
    try {
      Index::open(dir);
      ADD_FAILURE() << "opened " << dir;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  // b's Faiss file (more vectors) under a's name: the counts disagree.
  fs::path fa = faiss_of(a);
  fs::copy_file(faiss_of(b), fa, fs::copy_options::overwrite_existing);
  expect_error(a, "vectors but the store has");
  fs::remove(fa);
  expect_error(a, "is missing");
  write_file(fa, "garbage");
  expect_error(a, "cannot read the Faiss index");
  // b's BM25 snapshot under a's name (a has its Faiss file again from a rebuild).
  build_index(docs, a, &fe.emb, small_chunks(), test_source());  // more.txt added: a re-indexes it
  fs::remove(docs / "more.txt");
  build_index(docs, a, &fe.emb, small_chunks(), test_source());
  ASSERT_NO_THROW(Index::open(a));
  auto bm25_of = [](const fs::path& dir) {
    for (auto& f : fs::directory_iterator(dir))
      if (f.path().extension() == ".bm25") return f.path();
    return fs::path();
  };
  fs::path la = bm25_of(a);
  fs::copy_file(bm25_of(b), la, fs::copy_options::overwrite_existing);
  expect_error(a, "the BM25 snapshot holds");
  fs::remove(la);
  expect_error(a, "BM25 file");
  write_file(b / "index.sqlite", "this is not a database at all, just text long enough to fill a header ..........");
  expect_error(b, "not an index store");
  expect_error(t.path / "none", "no index here");
  fs::create_directories(t.path / "empty");
  write_file(t.path / "empty" / "index.sqlite", "");
  expect_error(t.path / "empty", "empty or incomplete");
}

TEST(RagIndex, AnOpenIndexSurvivesAnUpdate) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_corpus(docs);
  FakeEmbedding fe;
  build_index(docs, ix, &fe.emb, small_chunks(), test_source());
  auto before = Index::open(ix);
  ASSERT_EQ(before->search("red signal train", 1, Retrieval::Hybrid, &fe.emb)[0].file, "trains.md");
  fs::remove(docs / "trains.md");
  build_index(docs, ix, &fe.emb, small_chunks(), test_source());  // commits, removes the old generation
  // The open index keeps its loaded Faiss / BM25 generation; hits whose chunks left the store are dropped.
  for (Retrieval m : {Retrieval::Lexical, Retrieval::Dense, Retrieval::Hybrid})
    for (auto& h : before->search("red signal train", 10, m, &fe.emb)) EXPECT_NE(h.file, "trains.md");
  EXPECT_EQ(before->search("knead dough", 1, Retrieval::Hybrid, &fe.emb)[0].file, "cooking/bread.txt");
  EXPECT_EQ(Index::open(ix)->info().files, 3);
}

TEST(RagIndex, PagesAndAnchorsReachTheHits) {
  TempDir t;
  fs::path docs = t.path / "docs", ix = t.path / "index";
  write_file(docs / "manual.pdf", "%PDF (content ignored by this source)");
  write_file(docs / "talk.vtt", "WEBVTT");
  IndexSource src;
  src.scan = [](const fs::path& root) {
    FolderScan s;
    s.files.push_back({root / "manual.pdf", "manual.pdf", 10, "pdf"});
    s.files.push_back({root / "talk.vtt", "talk.vtt", 6, "vtt"});
    return s;
  };
  src.parse = [](const FolderEntry& e) {
    ParsedDocument d;
    d.format = e.format;
    if (e.format == "pdf") {
      d.title = "Pump manual";
      d.passages = {passage("Installation of the pump requires two bolts.", 0, 1, "Installing"),
                    passage("The pump hums loudly when the filter is clogged.", 0, 2, "Troubleshooting"),
                    passage("Replace the filter every six months.", 0, 2, "Troubleshooting")};
    } else {
      Passage p = passage("and that is why the filter matters so much", 14);
      p.anchor = "00:01:02.500";
      d.passages = {p};
    }
    return d;
  };
  FakeEmbedding fe;
  build_index(docs, ix, &fe.emb, BuildOptions{}, src);
  auto index = Index::open(ix);
  auto hits = index->search("pump hums clogged filter", 3, Retrieval::Hybrid, &fe.emb);
  ASSERT_GE(hits.size(), 2u);
  EXPECT_EQ(hits[0].file, "manual.pdf");
  EXPECT_EQ(hits[0].page, 2) << "the page-2 passages form their own chunk";
  EXPECT_EQ(hits[0].title, "Pump manual");
  EXPECT_EQ(cite(hits[0]), "manual.pdf, page 2, \"Troubleshooting\"");
  auto cue = index->search("why the filter matters", 1, Retrieval::Lexical, nullptr);
  ASSERT_EQ(cue.size(), 1u);
  EXPECT_EQ(cue[0].anchor, "00:01:02.500");
  EXPECT_EQ(cite(cue[0]), "talk.vtt, line 14 at 00:01:02.500");
}
