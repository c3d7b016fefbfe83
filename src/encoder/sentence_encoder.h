// ignis encoder: a sentence-transformers style encoder (tokenizer + BertModel + pooling
// + optional L2 normalization) loaded from one Hugging Face folder.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "encoder/bert_model.h"
#include "tokenizer/tokenizer.h"

namespace ignis::enc {

class SentenceEncoder {
 public:
  // Loads config.json, the safetensors weights, tokenizer.json and the sentence-transformers
  // files of `dir`. Throws Error naming the file.
  static std::unique_ptr<SentenceEncoder> load(const std::filesystem::path& dir);
  SentenceEncoder(EncoderConfig cfg, std::unique_ptr<Tokenizer> tok, std::unique_ptr<BertModel> model);

  // Tokenizes as sentence-transformers does: the prompt (by name; "" uses the default
  // prompt, if any) is prepended, specials added, truncated to max_seq_length.
  EncoderInput tokenize(const std::string& text, const std::string& prompt_name = "") const;
  // One embedding of dim() floats per input, in order.
  std::vector<std::vector<float>> embed_inputs(const std::vector<EncoderInput>& inputs) const;
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts,
                                        const std::string& prompt_name = "") const;
  int dim() const { return cfg_.hidden; }
  const EncoderConfig& config() const { return cfg_; }
  const Tokenizer& tokenizer() const { return *tok_; }

 private:
  EncoderConfig cfg_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<BertModel> model_;
};

// Pools (n, dim) hidden states of one sequence into `out` (dim floats).
void pool(const float* hidden, int n, int dim, Pooling mode, bool normalize, float* out);

}  // namespace ignis::enc
