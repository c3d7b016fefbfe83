#include "encoder/sentence_encoder.h"

#include "core/error.h"
#include "model/cpu/parallel.h"
#include "tokenizer/bert_normalizer.h"

namespace ignis::enc {

std::unique_ptr<SentenceEncoder> SentenceEncoder::load(const std::filesystem::path& dir, const BackendFactory& backend) {
  EncoderConfig cfg = load_encoder_config(dir);
  auto tok = Tokenizer::load(dir);
  auto model = std::make_unique<BertModel>(cfg, dir);
  std::unique_ptr<EncoderBackend> run;
  if (backend) run = backend(std::move(model));
  else run = std::move(model);
  return std::make_unique<SentenceEncoder>(std::move(cfg), std::move(tok), std::move(run));
}

SentenceEncoder::SentenceEncoder(EncoderConfig cfg, std::unique_ptr<Tokenizer> tok, std::unique_ptr<EncoderBackend> model)
    : cfg_(std::move(cfg)), tok_(std::move(tok)), model_(std::move(model)) {}

EncoderInput SentenceEncoder::tokenize(const std::string& text, const std::string& prompt_name) const {
  std::string name = prompt_name.empty() ? cfg_.default_prompt : prompt_name;
  std::string full = text;
  if (!name.empty()) {
    auto it = cfg_.prompts.find(name);
    IGNIS_CHECK(it != cfg_.prompts.end(), "encoder: unknown prompt name '{}'", name);
    full = it->second + text;
  }
  if (cfg_.lowercase) full = tok::lowercase_chars(full);
  Encoding e = tok_->encode_full(full, nullptr, true, static_cast<size_t>(cfg_.max_seq_length));
  return {std::move(e.ids), std::move(e.type_ids)};
}

std::vector<std::vector<float>> SentenceEncoder::embed_inputs(const std::vector<EncoderInput>& inputs) const {
  return model_->embed(inputs);
}

std::vector<std::vector<float>> SentenceEncoder::embed(const std::vector<std::string>& texts,
                                                       const std::string& prompt_name) const {
  // Tokenizing is per text and the tokenizer is const (thread-safe): on the CPU pool's threads, so
  // a fast encoder (the GPU's) is not left waiting on one host thread.
  std::vector<EncoderInput> inputs(texts.size());
  cpu::parallel_for(int64_t(texts.size()), 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) inputs[size_t(i)] = tokenize(texts[size_t(i)], prompt_name);
  });
  return embed_inputs(inputs);
}

}  // namespace ignis::enc
