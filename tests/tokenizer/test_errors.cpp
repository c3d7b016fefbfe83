// Bad tokenizer files give ignis::Error naming the file / component, never a crash.
#include <cstdlib>

#include "common.h"
#include "core/error.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;

class TokErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ignis_tok_err_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& file, const std::string& text) { std::ofstream(dir_ / file) << text; }
  // Loads and returns the error message ("" if it loaded).
  std::string load_error() {
    try {
      Tokenizer::load(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static std::string bpe(const std::string& extra_top, const std::string& model_extra = "") {
    return R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"])" + model_extra + "}" +
           extra_top + "}";
  }
  fs::path dir_;
};

TEST_F(TokErrors, MissingFile) { EXPECT_NE(load_error().find("tokenizer.json"), std::string::npos); }

// Not an error case, but the same folder fixture: chat_template.jinja is the default template, before
// tokenizer_config.json's (a string is replaced; in a named list only "default" is).
TEST_F(TokErrors, ChatTemplateJinjaIsTheDefault) {
  write("tokenizer.json", bpe(""));
  write("tokenizer_config.json", R"({"chat_template": "from config"})");
  EXPECT_EQ(Tokenizer::load(dir_)->chat_template(), "from config");
  write("chat_template.jinja", "from file");
  EXPECT_EQ(Tokenizer::load(dir_)->chat_template(), "from file");
  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "default", "template": "d"}, {"name": "tool_use", "template": "t"}]})");
  auto tok = Tokenizer::load(dir_);
  EXPECT_EQ(tok->chat_template("default"), "from file");
  EXPECT_EQ(tok->chat_template("tool_use"), "t");
  fs::remove(dir_ / "tokenizer_config.json");
  EXPECT_EQ(Tokenizer::load(dir_)->chat_template(), "from file");
}

TEST_F(TokErrors, CorruptJson) {
  write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
  auto e = load_error();
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;
}

TEST_F(TokErrors, UnknownModelType) {
  write("tokenizer.json", R"({"model": {"type": "WordLevel", "vocab": {"a": 0}}})");
  auto e = load_error();
  EXPECT_NE(e.find("WordLevel"), std::string::npos) << e;
}

TEST_F(TokErrors, UnsupportedComponentsAreNamed) {
  write("tokenizer.json", bpe(R"(, "normalizer": {"type": "Nmt"})"));
  EXPECT_NE(load_error().find("Nmt"), std::string::npos);
  write("tokenizer.json", bpe(R"(, "pre_tokenizer": {"type": "Whitespace"})"));
  EXPECT_NE(load_error().find("Whitespace"), std::string::npos);
  write("tokenizer.json", bpe(R"(, "decoder": {"type": "CTC"})"));
  EXPECT_NE(load_error().find("CTC"), std::string::npos);
  write("tokenizer.json", bpe(R"(, "post_processor": {"type": "Fancy"})"));
  EXPECT_NE(load_error().find("Fancy"), std::string::npos);
}

TEST_F(TokErrors, BadMergesAndVocab) {
  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})");
  EXPECT_NE(load_error().find("merge #0"), std::string::npos);  // "ab" not in vocab
  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})");
  EXPECT_NE(load_error().find("vocab"), std::string::npos);
  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [42]}})");
  EXPECT_NE(load_error().find("merge #0"), std::string::npos);
  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": [], "merges": []}})");
  EXPECT_NE(load_error().find("vocab"), std::string::npos);
  write("tokenizer.json", R"([1, 2, 3])");
  EXPECT_NE(load_error().find("tokenizer.json"), std::string::npos);
}

TEST_F(TokErrors, BadRegex) {
  write("tokenizer.json", bpe(R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"})"));
  EXPECT_NE(load_error().find("Split"), std::string::npos);
}

TEST_F(TokErrors, WrongFieldTypes) {
  write("tokenizer.json", bpe(R"(, "added_tokens": [{"id": "x", "content": 5}])"));
  EXPECT_NE(load_error().find("tokenizer.json"), std::string::npos);
}

TEST_F(TokErrors, MinimalTokenizerWorks) {
  write("tokenizer.json", bpe(""));
  auto tok = Tokenizer::load(dir_);
  EXPECT_EQ(tok->encode("abab"), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(tok->decode({2, 0}), "ab a");  // no decoder: tokens joined by spaces, as HF
  EXPECT_EQ(tok->encode("xa"), (std::vector<int32_t>{0}));  // no unk token: unknown chars dropped
}

}  // namespace
}  // namespace ignis::test

namespace ignis::test {
namespace {

TEST(TokRobustness, InvalidUtf8AndBadIds) {
  IGNIS_TOKENIZER_OR_SKIP(tok, "llama3");
  // Invalid bytes are read as U+FFFD (what a Python str of that text would hold).
  EXPECT_EQ(tok->encode("\xFF\xC3 abc\xE2\x82", false), tok->encode("\xEF\xBF\xBD\xEF\xBF\xBD abc\xEF\xBF\xBD", false));
  // Unknown ids are dropped by decode, as HF does; id_to_piece gives "".
  EXPECT_EQ(tok->decode({-1, 9906, 1 << 30}), "Hello");
  EXPECT_EQ(tok->id_to_piece(-5), "");
  EXPECT_FALSE(tok->is_special(-5));
  StreamDecoder sd(*tok, {}, true);
  EXPECT_EQ(sd.push(-1) + sd.push(9906) + sd.flush(), "Hello");
}

TEST(TokRobustness, ConfigFields) {
  IGNIS_TOKENIZER_OR_SKIP(l31, "llama3_1");
  EXPECT_EQ(l31->bos_token(), "<|begin_of_text|>");
  EXPECT_EQ(l31->bos_id(), 128000);
  EXPECT_EQ(l31->eos_token(), "<|eot_id|>");
  EXPECT_EQ(l31->eos_id(), 128009);
  EXPECT_EQ(l31->vocab_size(), 128256);
  EXPECT_FALSE(l31->chat_template().empty());
  EXPECT_EQ(l31->encode("Hi", true).front(), 128000);  // TemplateProcessing adds BOS
  IGNIS_TOKENIZER_OR_SKIP(qwen, "qwen3");
  EXPECT_FALSE(qwen->bos_id().has_value());
  EXPECT_EQ(qwen->eos_token(), "<|im_end|>");
  EXPECT_EQ(qwen->vocab_size(), 151669);
  auto think = qwen->piece_to_id("<think>");
  ASSERT_TRUE(think.has_value());
  EXPECT_FALSE(qwen->is_special(*think));  // added but not special: kept by skip_special_tokens
  EXPECT_EQ(qwen->decode({*think}, true), "<think>");
  EXPECT_NE(qwen->chat_template().find("im_start"), std::string::npos);
}

TEST_F(TokErrors, ChatTemplateListForm) {
  write("tokenizer.json", bpe(""));
  write("tokenizer_config.json",
        R"({"bos_token": {"content": "a", "special": true}, "eos_token": "b",
            "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})");
  auto tok = Tokenizer::load(dir_);
  EXPECT_EQ(tok->chat_template(), "D");
  EXPECT_EQ(tok->chat_template("tool_use"), "T");
  EXPECT_EQ(tok->chat_template("rag"), "");
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  write("tokenizer_config.json", R"({"chat_template": [{"template": "no name"}]})");
  EXPECT_NE(load_error().find("chat_template"), std::string::npos);
}

}  // namespace
}  // namespace ignis::test
