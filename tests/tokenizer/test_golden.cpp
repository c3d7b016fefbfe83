// Every corpus string must encode to exactly the golden ids and decode to the golden
// text. Two golden sets: hf/goldens_<name>.json from Hugging Face `tokenizers` (the
// reference, made by tools/golden/tokenizer_goldens.py on the GPU machine) and
// goldens_<name>.json from transformers.js (tools/golden/tokenizer_goldens_js.mjs,
// runnable here). corpus.json is append-only: a golden file covers its first
// `corpus_size` strings.
#include "common.h"

namespace ignis::test {
namespace {

struct GoldenSet {
  const char* name;
  const char* sub;  // folder under tests/data/tokenizer
};

class Golden : public ::testing::TestWithParam<GoldenSet> {};

TEST_P(Golden, EncodeDecodeMatchReference) {
  std::string name = GetParam().name;
  IGNIS_TOKENIZER_OR_SKIP(tok, name);
  auto corpus = read_json_file(tokenizer_data_dir() / "corpus.json");
  auto path = tokenizer_data_dir() / GetParam().sub / ("goldens_" + name + ".json");
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto golden = read_json_file(path);
  const auto& cases = golden.at("cases");
  size_t n = golden.at("corpus_size").get<size_t>();
  ASSERT_EQ(cases.size(), n) << path;
  ASSERT_LE(n, corpus.size()) << path << " was made for a longer corpus.json";
  ASSERT_GE(n, 300u);
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
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
  EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << n << " corpus strings differ from "
                    << golden.value("generator", std::string("?"));
}

const GoldenSet kSets[] = {{"llama3", "hf"},       {"llama3_1", "hf"},    {"mistral", "hf"},   {"qwen3", "hf"},
                           {"llama3", "."},        {"llama3_1", "."},     {"mistral", "."},    {"qwen3", "."}};

INSTANTIATE_TEST_SUITE_P(Tokenizers, Golden, ::testing::ValuesIn(kSets),
                         [](const ::testing::TestParamInfo<GoldenSet>& info) {
                           return std::string(info.param.name) + (info.param.sub[0] == 'h' ? "_hf" : "_transformers_js");
                         });

}  // namespace
}  // namespace ignis::test
