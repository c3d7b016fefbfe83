#include "encoder/sentence_encoder.h"

#include <cmath>

#include "core/error.h"
#include "tokenizer/bert_normalizer.h"

namespace ignis::enc {

std::unique_ptr<SentenceEncoder> SentenceEncoder::load(const std::filesystem::path& dir) {
  EncoderConfig cfg = load_encoder_config(dir);
  auto tok = Tokenizer::load(dir);
  auto model = std::make_unique<BertModel>(cfg, dir);
  return std::make_unique<SentenceEncoder>(std::move(cfg), std::move(tok), std::move(model));
}

SentenceEncoder::SentenceEncoder(EncoderConfig cfg, std::unique_ptr<Tokenizer> tok, std::unique_ptr<BertModel> model)
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

void pool(const float* h, int n, int dim, Pooling mode, bool normalize, float* out) {
  IGNIS_CHECK(n > 0, "encoder: cannot pool an empty sequence");
  switch (mode) {
    case Pooling::Cls:
      std::copy(h, h + dim, out);
      break;
    case Pooling::LastToken:
      std::copy(h + static_cast<int64_t>(n - 1) * dim, h + static_cast<int64_t>(n) * dim, out);
      break;
    case Pooling::Mean:
      for (int k = 0; k < dim; ++k) {
        double s = 0;
        for (int i = 0; i < n; ++i) s += h[static_cast<int64_t>(i) * dim + k];
        out[k] = static_cast<float>(s / n);
      }
      break;
    case Pooling::Max:
      for (int k = 0; k < dim; ++k) {
        float m = h[k];
        for (int i = 1; i < n; ++i) m = std::max(m, h[static_cast<int64_t>(i) * dim + k]);
        out[k] = m;
      }
      break;
  }
  if (normalize) {  // torch.nn.functional.normalize: x / max(||x||, 1e-12)
    double ss = 0;
    for (int k = 0; k < dim; ++k) ss += static_cast<double>(out[k]) * out[k];
    float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), 1e-12));
    for (int k = 0; k < dim; ++k) out[k] *= inv;
  }
}

std::vector<std::vector<float>> SentenceEncoder::embed_inputs(const std::vector<EncoderInput>& inputs) const {
  std::vector<float> hidden = model_->forward(inputs);
  std::vector<std::vector<float>> out;
  out.reserve(inputs.size());
  int64_t off = 0;
  for (const auto& in : inputs) {
    out.emplace_back(cfg_.hidden);
    int n = static_cast<int>(in.ids.size());
    pool(hidden.data() + off * cfg_.hidden, n, cfg_.hidden, cfg_.pooling, cfg_.normalize, out.back().data());
    off += n;
  }
  return out;
}

std::vector<std::vector<float>> SentenceEncoder::embed(const std::vector<std::string>& texts,
                                                       const std::string& prompt_name) const {
  std::vector<EncoderInput> inputs;
  inputs.reserve(texts.size());
  for (const auto& t : texts) inputs.push_back(tokenize(t, prompt_name));
  return embed_inputs(inputs);
}

}  // namespace ignis::enc
