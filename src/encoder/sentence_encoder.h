// ignis encoder: a sentence-transformers style encoder (tokenizer + BertModel + pooling
// + optional L2 normalization) loaded from one Hugging Face folder.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "encoder/bert_model.h"
#include "tokenizer/tokenizer.h"

namespace ignis::enc {

class SentenceEncoder {
 public:
  // Makes the backend that will run the model from the loaded CPU model (which it may keep, copy
  // to a device, or return as is).
  using BackendFactory = std::function<std::unique_ptr<EncoderBackend>(std::unique_ptr<BertModel>)>;
  // Loads config.json, the safetensors weights, tokenizer.json and the sentence-transformers
  // files of `dir`. Throws Error naming the file. Without a factory the CPU model runs.
  static std::unique_ptr<SentenceEncoder> load(const std::filesystem::path& dir, const BackendFactory& backend = {});
  SentenceEncoder(EncoderConfig cfg, std::unique_ptr<Tokenizer> tok, std::unique_ptr<EncoderBackend> model);

  // Tokenizes as sentence-transformers does: the prompt (by name; "" uses the default
  // prompt, if any) is prepended, specials added, truncated to max_seq_length.
  EncoderInput tokenize(const std::string& text, const std::string& prompt_name = "") const;
  // One embedding of dim() floats per input, in order.
  std::vector<std::vector<float>> embed_inputs(const std::vector<EncoderInput>& inputs) const;
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts,
                                        const std::string& prompt_name = "") const;
  int dim() const { return cfg_.hidden; }
  const char* backend_name() const { return model_->name(); }
  const EncoderConfig& config() const { return cfg_; }
  const Tokenizer& tokenizer() const { return *tok_; }

 private:
  EncoderConfig cfg_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<EncoderBackend> model_;
};

}  // namespace ignis::enc
