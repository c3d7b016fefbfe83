// Every corpus string must encode to exactly the golden ids (HF `tokenizers`, or
// transformers.js until those are regenerated) and decode to the golden text.
#include "common.h"

namespace ignis::test {
namespace {

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, EncodeDecodeMatchReference) {
  std::string name = GetParam();
  IGNIS_TOKENIZER_OR_SKIP(tok, name);
  auto corpus = read_json_file(tokenizer_data_dir() / "corpus.json");
  auto golden = read_json_file(tokenizer_data_dir() / ("goldens_" + name + ".json"));
  const auto& cases = golden.at("cases");
  ASSERT_EQ(cases.size(), corpus.size()) << "goldens_" << name << ".json is stale: regenerate it for corpus.json";
  ASSERT_GE(corpus.size(), 300u);
  int bad = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::string text = corpus[i].get<std::string>();
    const auto& c = cases[i];
    auto want_ids = c.at("ids").get<std::vector<int32_t>>();
    auto want_ns = c.at("ids_nospecial").get<std::vector<int32_t>>();
    auto got_ids = tok->encode(text, true);
    auto got_ns = tok->encode(text, false);
    std::string got_dec = tok->decode(want_ids, false);
    std::string got_skip = tok->decode(want_ids, true);
    bool ok = got_ids == want_ids && got_ns == want_ns && got_dec == c.at("decode").get<std::string>() &&
              got_skip == c.at("decode_skip_special").get<std::string>();
    if (!ok && ++bad <= 8) {
      ADD_FAILURE() << name << " case " << i << " '" << printable(text) << "'\n  ids  got " << ids_str(got_ids)
                    << "\n      want " << ids_str(want_ids) << "\n  nospecial " << (got_ns == want_ns ? "ok" : "DIFF")
                    << "\n  decode got  '" << printable(got_dec) << "'\n         want '"
                    << printable(c.at("decode").get<std::string>()) << "'\n  decode(skip_special) "
                    << (got_skip == c.at("decode_skip_special").get<std::string>() ? "ok" : "DIFF");
    }
  }
  EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << corpus.size() << " corpus strings differ from "
                    << golden.value("generator", std::string("?"));
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Golden, ::testing::ValuesIn(kTokenizerNames));

}  // namespace
}  // namespace ignis::test
