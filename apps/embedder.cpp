// ignis serve: enc::SentenceEncoder as a server::Embedder.
#include "embedder.h"

#include "core/error.h"
#ifdef HAVE_IGNIS_ENCODER
#include "encoder/sentence_encoder.h"
#endif

namespace ignis::cli {

#ifdef HAVE_IGNIS_ENCODER
namespace {

class EncoderEmbedder : public server::Embedder {
 public:
  explicit EncoderEmbedder(std::unique_ptr<enc::SentenceEncoder> e) : enc_(std::move(e)) {}
  int dim() const override { return enc_->dim(); }
  int max_tokens() const override { return enc_->config().max_seq_length; }
  std::vector<int32_t> tokenize(const std::string& text) const override { return enc_->tokenize(text).ids; }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const override {
    std::vector<enc::EncoderInput> in(seqs.size());
    for (size_t i = 0; i < seqs.size(); i++) {
      in[i].ids = seqs[i];
      in[i].type_ids.assign(seqs[i].size(), 0);
    }
    return enc_->embed_inputs(in);
  }

 private:
  std::unique_ptr<enc::SentenceEncoder> enc_;
};

}  // namespace

std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir) {
  return std::make_shared<EncoderEmbedder>(enc::SentenceEncoder::load(dir));
}
#else
std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir) {
  IGNIS_FAIL("--embedding-model {}: this build has no encoder library (needs OpenBLAS)", dir);
}
#endif

}  // namespace ignis::cli
