// Unigram (SentencePiece / XLM-R) model, Metaspace, Precompiled normalizer and the XLM-R
// template against hand-computed HF `tokenizers` results. The precompiled_charsmap here is
// built by a small darts-clone double-array writer below (same unit layout SentencePiece
// writes), so the trie walk is exercised without a SentencePiece model file.
#include <map>
#include <set>

#include "common.h"
#include "core/error.h"
#include "encoder_tok_common.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/unigram.h"

namespace ignis::test {
namespace {

using V = std::vector<int32_t>;
using nlohmann::json;
const std::string kSp = "\xE2\x96\x81";  // U+2581

// darts-clone double array for `keys` (key -> value), placed greedily: a node's children
// live at base ^ label, a node with a value has its value unit at base ^ 0; every node gets
// a base of its own (as darts-clone does) so a label check tells the parents apart.
std::vector<uint32_t> build_darts(const std::map<std::string, uint32_t>& keys) {
  struct Node {
    std::map<uint8_t, int> kids;
    int64_t value = -1;
  };
  std::vector<Node> trie(1);
  for (auto& [k, v] : keys) {
    int n = 0;
    for (unsigned char c : k) {
      auto it = trie[n].kids.find(c);
      if (it == trie[n].kids.end()) {
        trie.push_back({});
        it = trie[n].kids.emplace(c, static_cast<int>(trie.size()) - 1).first;
      }
      n = it->second;
    }
    trie[n].value = v;
  }
  std::vector<uint32_t> units(1, 0);
  std::vector<bool> used(1, true);
  std::set<size_t> bases;
  auto ensure = [&](size_t n) {
    if (units.size() < n) units.resize(n, 0), used.resize(n, false);
  };
  // (node, position, label)
  std::vector<std::tuple<int, size_t, uint8_t>> todo{{0, 0, 0}};
  while (!todo.empty()) {
    auto [n, pos, label] = todo.back();
    todo.pop_back();
    std::vector<uint32_t> labels;
    if (trie[n].value >= 0) labels.push_back(0);
    for (auto& [c, _] : trie[n].kids) labels.push_back(c);
    size_t base = 1;
    for (;; ++base) {
      bool ok = (base ^ pos) < (1u << 21) && !bases.count(base);
      for (uint32_t l : labels) {
        ensure((base ^ l) + 1);
        ok = ok && !used[base ^ l];
      }
      if (ok) break;
    }
    bases.insert(base);
    uint32_t off = static_cast<uint32_t>(base ^ pos);
    units[pos] = (off << 10) | (trie[n].value >= 0 ? (1u << 8) : 0) | label;
    for (uint32_t l : labels) used[base ^ l] = true;
    if (trie[n].value >= 0) units[base] = (1u << 31) | static_cast<uint32_t>(trie[n].value);
    for (auto& [c, kid] : trie[n].kids) todo.emplace_back(kid, base ^ c, c);
  }
  return units;
}

std::string charsmap_blob(const std::vector<std::pair<std::string, std::string>>& rules) {
  std::string normalized;
  std::map<std::string, uint32_t> keys;
  for (auto& [from, to] : rules) {
    keys[from] = static_cast<uint32_t>(normalized.size());
    normalized += to;
    normalized.push_back('\0');
  }
  auto units = build_darts(keys);
  uint32_t size = static_cast<uint32_t>(units.size() * 4);
  std::string blob(reinterpret_cast<const char*>(&size), 4);
  blob.append(reinterpret_cast<const char*>(units.data()), size);
  return blob + normalized;
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += t[(v >> (6 * k)) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += t[v >> 18], out += t[(v >> 12) & 63], out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += '=';
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>> kRules = {
    {"\xEF\xBC\xA1", "A"},             // fullwidth A -> A
    {"\xEF\xAC\x81", "fi"},            // fi ligature -> fi
    {"e\xCC\x81", "\xC3\xA9"},         // e + combining acute -> é
    {"\t", " "},                       // tab -> space
    {"\xE2\x80\x8B", ""},              // zero width space -> removed
};

json xlmr_json(bool byte_fallback = false, bool precompiled = true) {
  std::vector<std::pair<std::string, double>> pieces = {
      {"<s>", 0},     {"<pad>", 0},       {"</s>", 0},     {"<unk>", 0},     {kSp, -2.0},         // 0-4
      {kSp + "he", -3}, {"llo", -3},      {kSp + "hello", -4}, {kSp + "wor", -5}, {"ld", -2},   // 5-9
      {kSp + "world", -8}, {"h", -6},     {"e", -6},       {"l", -5},        {"o", -5},           // 10-14
      {kSp + "a", -2}, {"b", -2},         {"ab", -2},      {"A", -3},        {"fi", -3},          // 15-19
      {"\xC3\xA9", -3}, {kSp + "x", -20}};                                                          // 20-21
  if (byte_fallback)
    for (int b : {0x78, 0x79, 0x7A, 0xE2, 0x98, 0x83}) pieces.push_back({fmt::format("<0x{:02X}>", b), -30});
  json vocab = json::array();
  for (auto& [p, s] : pieces) vocab.push_back({p, s});
  json norms = json::array();
  if (precompiled) norms.push_back({{"type", "Precompiled"}, {"precompiled_charsmap", base64(charsmap_blob(kRules))}});
  norms.push_back({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}});
  auto special = [](int id, const char* s) {
    return json{{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                {"normalized", false}, {"special", true}};
  };
  auto sp = [](const char* id) { return json{{"SpecialToken", {{"id", id}, {"type_id", 0}}}}; };
  auto seq = [](const char* id) { return json{{"Sequence", {{"id", id}, {"type_id", 0}}}}; };
  return json{
      {"added_tokens", {special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>")}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", norms}}},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "always"}, {"split", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {sp("<s>"), seq("A"), sp("</s>")}},
        {"pair", {sp("<s>"), seq("A"), sp("</s>"), sp("</s>"), seq("B"), sp("</s>")}},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
          {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}}},
      {"decoder", {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "always"}, {"split", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", vocab}, {"byte_fallback", byte_fallback}}}};
}

TEST(Unigram, ViterbiPicksTheBestScore) {
  auto t = make_tok(xlmr_json());
  EXPECT_EQ(t->encode("hello"), (V{0, 7, 2}));       // ▁hello (-4) beats ▁he + llo (-6)
  EXPECT_EQ(t->encode("world", false), (V{8, 9}));   // ▁wor + ld (-7) beats ▁world (-8)
  EXPECT_EQ(t->encode("hello world", false), (V{7, 8, 9}));
  EXPECT_EQ(t->encode("ab", false), (V{4, 17}));     // tie ▁+ab vs ▁a+b (-4): the first path found stays
}

TEST(Unigram, UnknownsFuseAndByteFallback) {
  auto t = make_tok(xlmr_json());
  EXPECT_EQ(t->encode("heyz", false), (V{5, 3}));   // ▁he, then "yz" one fused unk
  EXPECT_EQ(t->encode("he\xE2\x98\x83", false), (V{5, 3}));  // snowman: unk
  auto b = make_tok(xlmr_json(true));
  EXPECT_EQ(b->encode("heyz", false), (V{5, 23, 24}));  // <0x79> <0x7A>
  EXPECT_EQ(b->encode("he\xE2\x98\x83", false), (V{5, 25, 26, 27}));
  EXPECT_EQ(b->encode("hey\xE2\x98\x80", false), (V{5, 3}));  // U+2600: a byte has no piece -> unk
  tok::UnigramModel m(xlmr_json()["model"], "test");
  auto seg = m.segment(kSp + "heyzo");
  ASSERT_EQ(seg.size(), 3u);
  EXPECT_EQ(seg[1], (std::pair<size_t, size_t>{5, 7}));  // "yz" fused; "o" is a piece
}

TEST(Unigram, MetaspaceTemplateAndDecode) {
  auto t = make_tok(xlmr_json());
  std::string_view b = "world";
  Encoding e = t->encode_full("hello", &b);
  EXPECT_EQ(e.ids, (V{0, 7, 2, 2, 8, 9, 2}));
  EXPECT_EQ(e.type_ids, (V{0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(t->decode({0, 7, 8, 9, 2}, true), "hello world");
  EXPECT_EQ(t->decode({0, 7, 8, 9, 2}, false), "<s> hello world</s>");
  EXPECT_EQ(t->encode("hello   world", false), (V{7, 8, 9}));  // Replace " {2,}" -> " "
}

TEST(Unigram, PrecompiledNormalizer) {
  std::string blob = charsmap_blob(kRules);
  tok::PrecompiledCharsMap m(blob, "test");
  EXPECT_EQ(m.normalize("\xEF\xBC\xA1\xEF\xAC\x81"), "Afi");
  EXPECT_EQ(m.normalize("cafe\xCC\x81!"), "caf\xC3\xA9!");          // grapheme e+acute looked up whole
  EXPECT_EQ(m.normalize("x\xCC\x81"), "x\xCC\x81");                  // no entry: per character, kept
  EXPECT_EQ(m.normalize("\xEF\xBC\xA1\xCC\x81"), "A");              // shortest prefix of the grapheme wins (HF)
  EXPECT_EQ(m.normalize("a\tb\xE2\x80\x8B" "c"), "a bc");
  EXPECT_EQ(m.normalize(""), "");
  ASSERT_TRUE(m.transform("\xEF\xAC\x81zzz").has_value());
  EXPECT_FALSE(m.transform("zzz").has_value());

  auto t = make_tok(xlmr_json());
  EXPECT_EQ(t->encode("\xEF\xBC\xA1" "b", false), (V{4, 18, 16}));  // Ａb -> "▁Ab": ▁ A b
  EXPECT_EQ(t->encode("\xEF\xAC\x81\t\xEF\xAC\x81", false), (V{4, 19, 4, 19}));
}

TEST(Unigram, Errors) {
  auto j = xlmr_json();
  j["model"]["vocab"][3] = "oops";
  EXPECT_THROW(make_tok(j), Error);
  auto k = xlmr_json();
  k["model"]["unk_id"] = 99;
  EXPECT_THROW(make_tok(k), Error);
  auto n = xlmr_json();
  n["model"].erase("unk_id");
  auto t = make_tok(n);
  EXPECT_EQ(t->encode("hello", false), (V{7}));
  EXPECT_THROW(t->encode("hey", false), Error);  // 'y' needs an unk id
  EXPECT_THROW(tok::PrecompiledCharsMap("\x10\x00\x00\x00zz", "test"), Error);  // trie larger than the blob
  auto p = xlmr_json();
  p["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "***";
  EXPECT_THROW(make_tok(p), Error);
  EXPECT_EQ(tok::base64_decode("aGVsbG8=", "t"), "hello");
  EXPECT_EQ(tok::base64_decode("aGVsbG8", "t"), "hello");
}

}  // namespace
}  // namespace ignis::test
