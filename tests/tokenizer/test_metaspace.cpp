// Metaspace (newer SentencePiece conversions: pre_tokenizer Metaspace with
// prepend_scheme "first" instead of Prepend/Replace normalizers), checked against
// the Mistral tokenizer where both forms must agree: text that does not start with
// a space and has no added tokens.
#include <unistd.h>

#include "common.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;

TEST(Metaspace, AgreesWithLegacyNormalizerForm) {
  IGNIS_TOKENIZER_OR_SKIP(legacy, "mistral");
  auto j = read_json_file(tokenizer_dir("mistral") / "tokenizer.json");
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"},
                        {"split", false}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}}}}};
  fs::path dir = fs::temp_directory_path() / ("ignis_metaspace_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto tok = Tokenizer::load(dir);
  fs::remove_all(dir);

  auto corpus = read_json_file(tokenizer_data_dir() / "corpus.json");
  int compared = 0;
  for (const auto& cj : corpus) {
    std::string s = cj.get<std::string>();
    if (s.empty() || s[0] == ' ' || s.rfind("\xE2\x96\x81", 0) == 0) continue;
    auto want = legacy->encode(s, true);
    bool has_added = false;
    for (size_t k = 1; k < want.size(); ++k) has_added = has_added || legacy->is_special(want[k]);
    if (has_added) continue;
    EXPECT_EQ(tok->encode(s, true), want) << "'" << printable(s) << "'";
    ++compared;
  }
  EXPECT_GT(compared, 300);

  // "first": only the start of the input gets the prefix, not text after a special token.
  auto ids = tok->encode("Hi</s>there", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok->id_to_piece(ids[0]), "\xE2\x96\x81Hi");
  EXPECT_EQ(tok->id_to_piece(ids[2]), "there");
  EXPECT_EQ(tok->decode(tok->encode("Hello big world", false)), "Hello big world");
}

}  // namespace
}  // namespace ignis::test
