// The encoder tokenizers (WordPiece, Unigram) against Hugging Face `tokenizers`: the files
// and goldens under tests/data/encoder come from tools/golden/make_encoder_tokenizers.py
// (run on the GPU machine, which has the library). Every corpus string must encode to the
// golden ids (with and without special tokens) and decode to the golden text; pairs must
// give the golden ids and type ids; truncation the golden prefix.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common.h"
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;

fs::path encoder_dir() { return fs::path(IGNIS_TEST_DATA_DIR) / "encoder"; }

#define IGNIS_ENCODER_GOLDENS_OR_SKIP(path)                                                                  \
  if (!fs::exists(path))                                                                                     \
  GTEST_SKIP() << path << " missing: run python3 tools/golden/make_encoder_tokenizers.py --out tests/data/encoder" \
               << " on the GPU machine (it has HF tokenizers)"

class EncoderGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(EncoderGolden, MatchesHfTokenizers) {
  std::string name = GetParam();
  fs::path gpath = encoder_dir() / ("goldens_" + name + ".json");
  IGNIS_ENCODER_GOLDENS_OR_SKIP(gpath);
  auto g = read_json_file(gpath);
  fs::path folder = encoder_dir() / g.at("tokenizer").get<std::string>();
  auto j = read_json_file(folder / "tokenizer.json");
  for (auto& [k, v] : g.at("overrides").items()) j[k] = v;
  nlohmann::json cfg;
  if (fs::exists(folder / "tokenizer_config.json")) cfg = read_json_file(folder / "tokenizer_config.json");
  tok::HfTokenizer tk(j, cfg, (folder / "tokenizer.json").string());

  auto corpus = read_json_file(encoder_dir() / "corpus.json");
  const auto& cases = g.at("cases");
  ASSERT_EQ(cases.size(), corpus.size());
  ASSERT_GE(cases.size(), 300u);
  int bad = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string text = corpus[i].get<std::string>();
    const auto& c = cases[i];
    auto want = c.at("ids").get<std::vector<int32_t>>();
    auto want_ns = c.at("ids_nospecial").get<std::vector<int32_t>>();
    auto got = tk.encode(text, true);
    auto got_ns = tk.encode(text, false);
    std::string dec = tk.decode(want, true);
    bool ok = got == want && got_ns == want_ns && dec == c.at("decode_skip_special").get<std::string>();
    if (!ok && ++bad <= 8)
      ADD_FAILURE() << name << " case " << i << " '" << printable(text) << "'\n  ids  got " << ids_str(got)
                    << "\n      want " << ids_str(want) << "\n  nospecial " << (got_ns == want_ns ? "ok" : "DIFF")
                    << "\n  decode got  '" << printable(dec) << "'\n         want '"
                    << printable(c.at("decode_skip_special").get<std::string>()) << "'";
  }
  EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << cases.size() << " strings differ from "
                    << g.value("generator", std::string("?"));

  auto pairs = read_json_file(encoder_dir() / "pairs.json");
  const auto& gp = g.at("pairs");
  ASSERT_EQ(gp.size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::string a = pairs[i][0].get<std::string>(), b = pairs[i][1].get<std::string>();
    std::string_view bv = b;
    Encoding e = tk.encode_full(a, &bv);
    EXPECT_EQ(e.ids, gp[i].at("ids").get<std::vector<int32_t>>()) << name << " pair " << i;
    EXPECT_EQ(e.type_ids, gp[i].at("type_ids").get<std::vector<int32_t>>()) << name << " pair " << i;
  }
  for (const auto& t : g.at("truncated")) {
    std::string text = g.at("long")[t.at("text").get<size_t>()].get<std::string>();
    size_t max_len = t.at("max_length").get<size_t>();
    EXPECT_EQ(tk.encode_full(text, nullptr, true, max_len).ids, t.at("ids").get<std::vector<int32_t>>())
        << name << " truncated to " << max_len;
  }
}

INSTANTIATE_TEST_SUITE_P(Encoder, EncoderGolden,
                         ::testing::Values("wordpiece", "wordpiece_cased", "wordpiece_chinese_off", "unigram_xlmr",
                                           "unigram_bf"));

// Character classes: ICU's Unicode tables against what HF's (older) tables do, for every
// code point; a difference here is a Unicode-version difference, named with its code points.
TEST(EncoderUnicode, ClassesMatchHfTokenizers) {
  fs::path p = encoder_dir() / "unicode_tables.json";
  IGNIS_ENCODER_GOLDENS_OR_SKIP(p);
  auto t = read_json_file(p);
  auto flags = [&](const char* key) {
    std::vector<bool> f(0x110000, false);
    for (const auto& r : t.at(key))
      for (uint32_t c = r[0].get<uint32_t>(); c <= r[1].get<uint32_t>(); ++c) f[c] = true;
    return f;
  };
  auto removed = flags("bert_clean_removed"), spaced = flags("bert_clean_to_space"), cjk = flags("bert_chinese"),
       punct = flags("bert_punctuation"), ws = flags("bert_whitespace"), marks = flags("strip_accents_removed");
  std::map<uint32_t, std::string> lower;
  for (auto& [k, v] : t.at("lowercase").items()) lower[static_cast<uint32_t>(std::stoul(k))] = v.get<std::string>();
  auto pre = tok::make_pre_tokenizer(nlohmann::json{{"type", "BertPreTokenizer"}}, "test");
  std::map<std::string, std::vector<uint32_t>> diffs;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string c;
    tok::append_utf8(c, cp);
    std::string r = tok::bert_clean_text("a" + c + "a");
    if ((r == "aa") != removed[cp]) diffs["bert_clean_removed"].push_back(cp);
    if ((r == "a a" && cp != ' ') != spaced[cp]) diffs["bert_clean_to_space"].push_back(cp);
    if ((tok::bert_pad_chinese(c) == " " + c + " ") != cjk[cp]) diffs["bert_chinese"].push_back(cp);
    if ((tok::drop_combining_marks("a" + c) == "a") != marks[cp]) diffs["strip_accents_removed"].push_back(cp);
    std::vector<std::string> pieces{"a" + c + "a"};
    std::vector<size_t> spans{1};
    pre->pre_tokenize(pieces, spans);
    if ((pieces == std::vector<std::string>{"a", c, "a"}) != punct[cp]) diffs["bert_punctuation"].push_back(cp);
    if ((pieces == std::vector<std::string>{"a", "a"}) != ws[cp]) diffs["bert_whitespace"].push_back(cp);
    auto it = lower.find(cp);
    if (tok::lowercase_chars(c) != (it == lower.end() ? c : it->second)) diffs["lowercase"].push_back(cp);
  }
  for (auto& [k, v] : diffs) {
    std::string first;
    for (size_t i = 0; i < v.size() && i < 12; ++i) first += fmt::format(" U+{:04X}", v[i]);
    ADD_FAILURE() << k << ": " << v.size() << " code points differ from HF, first:" << first;
  }
}

}  // namespace
}  // namespace ignis::test
