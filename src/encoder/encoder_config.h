// ignis encoder: the configuration of a BERT / XLM-R sentence encoder read from a
// Hugging Face folder (config.json) and sentence-transformers' files (modules.json,
// 1_Pooling/config.json, sentence_bert_config.json, config_sentence_transformers.json).
#pragma once
#include <filesystem>
#include <map>
#include <string>

namespace ignis::enc {

enum class Activation { GeluErf, GeluTanh, Relu };
enum class Pooling { Cls, Mean, Max, LastToken };

struct EncoderConfig {
  std::string model_type;  // "bert", "xlm-roberta", "roberta"
  int vocab_size = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int max_positions = 0, type_vocab = 0;
  int position_offset = 0;  // XLM-R / RoBERTa: position ids start at pad_token_id + 1
  float ln_eps = 1e-12f;
  Activation act = Activation::GeluErf;
  // sentence-transformers (defaults without its files: CLS pooling, no normalization)
  Pooling pooling = Pooling::Cls;
  bool normalize = false;
  bool lowercase = false;   // sentence_bert_config.json do_lower_case
  int max_seq_length = 0;   // tokens per text, special tokens included
  std::map<std::string, std::string> prompts;  // config_sentence_transformers.json "prompts"
  std::string default_prompt;                  // its "default_prompt_name" ("" if none)
};

// Throws Error naming the file and field for anything missing or unsupported.
EncoderConfig load_encoder_config(const std::filesystem::path& dir);

}  // namespace ignis::enc
