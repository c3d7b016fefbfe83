// config.json + sentence-transformers files -> EncoderConfig, and the errors for bad ones.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "encoder/encoder_config.h"

namespace ignis::test {
namespace {

namespace fs = std::filesystem;

class EncoderConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ignis_enc_cfg_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "1_Pooling");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& f, const std::string& text) { std::ofstream(dir_ / f) << text; }
  std::string error() {
    try {
      enc::load_encoder_config(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static std::string bert(const std::string& extra = "") {
    return R"({"model_type": "bert", "vocab_size": 100, "hidden_size": 16, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 32, "max_position_embeddings": 64,
      "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0)" +
           extra + "}";
  }
  fs::path dir_;
};

TEST_F(EncoderConfigTest, BertWithSentenceTransformers) {
  write("config.json", bert());
  write("modules.json", R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])");
  write("1_Pooling/config.json", R"({"word_embedding_dimension": 16, "pooling_mode_cls_token": false,
    "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false})");
  write("sentence_bert_config.json", R"({"max_seq_length": 32, "do_lower_case": true})");
  write("config_sentence_transformers.json",
        R"({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null})");
  auto c = enc::load_encoder_config(dir_);
  EXPECT_EQ(c.hidden, 16);
  EXPECT_EQ(c.heads, 4);
  EXPECT_EQ(c.position_offset, 0);
  EXPECT_EQ(c.pooling, enc::Pooling::Mean);
  EXPECT_TRUE(c.normalize);
  EXPECT_TRUE(c.lowercase);
  EXPECT_EQ(c.max_seq_length, 32);
  EXPECT_EQ(c.prompts.at("query"), "query: ");
  EXPECT_EQ(c.default_prompt, "");
}

TEST_F(EncoderConfigTest, XlmRobertaDefaults) {
  write("config.json", R"({"model_type": "xlm-roberta", "vocab_size": 100, "hidden_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 514,
    "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5})");
  auto c = enc::load_encoder_config(dir_);
  EXPECT_EQ(c.position_offset, 2);
  EXPECT_EQ(c.max_seq_length, 512);  // positions left after the offset
  EXPECT_EQ(c.pooling, enc::Pooling::Cls);
  EXPECT_FALSE(c.normalize);
}

TEST_F(EncoderConfigTest, ErrorsNameTheFileAndField) {
  EXPECT_NE(error().find("config.json"), std::string::npos);
  write("config.json", R"({"model_type": "llama", "vocab_size": 10})");
  EXPECT_NE(error().find("model_type"), std::string::npos);
  write("config.json", bert(R"(, "position_embedding_type": "relative_key")"));
  EXPECT_NE(error().find("position_embedding_type"), std::string::npos);
  write("config.json", bert(R"(, "hidden_act": "swish")"));
  EXPECT_NE(error().find("hidden_act"), std::string::npos);
  write("config.json", R"({"model_type": "bert", "vocab_size": 100, "hidden_size": 15, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 32, "max_position_embeddings": 64})");
  EXPECT_NE(error().find("multiple"), std::string::npos);
  write("config.json", bert());
  write("modules.json", R"([{"type": "sentence_transformers.models.Dense", "path": "2_Dense"}])");
  EXPECT_NE(error().find("Dense"), std::string::npos);
  write("modules.json", R"([{"type": "sentence_transformers.models.Pooling", "path": "../x"}])");
  EXPECT_NE(error().find("leaves the folder"), std::string::npos);
  write("modules.json", R"([{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}])");
  write("1_Pooling/config.json", R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true})");
  EXPECT_NE(error().find("exactly one pooling mode"), std::string::npos);
  write("1_Pooling/config.json", R"({"pooling_mode_cls_token": true, "word_embedding_dimension": 8})");
  EXPECT_NE(error().find("word_embedding_dimension"), std::string::npos);
  write("1_Pooling/config.json", "{not json");
  EXPECT_NE(error().find("1_Pooling"), std::string::npos);
}

}  // namespace
}  // namespace ignis::test
