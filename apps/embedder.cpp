// ignis serve: enc::SentenceEncoder as a server::Embedder.
#include "embedder.h"

#include "core/error.h"
#ifdef HAVE_IGNIS_ENCODER
#include "encoder/sentence_encoder.h"
#endif
#ifdef HAVE_IGNIS_ENCODER_GPU
#include "encoder_gpu/cuda_encoder.h"
#endif
#include "runtime/model_loader.h"

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

std::unique_ptr<enc::SentenceEncoder> load_sentence_encoder(const std::string& dir, const std::string& device) {
  IGNIS_CHECK(device == "auto" || device == "cpu" || device == "cuda",
              "--embedding-device must be auto, cpu or cuda (got '{}')", device);
  enc::SentenceEncoder::BackendFactory backend;
#ifdef HAVE_IGNIS_ENCODER_GPU
  if (device == "cuda" || (device == "auto" && cuda_device_available()))
    backend = [&](std::unique_ptr<enc::BertModel> cpu) -> std::unique_ptr<enc::EncoderBackend> {
      IGNIS_CHECK(cuda_device_available(), "--embedding-device cuda: no usable CUDA device");
      return std::make_unique<encgpu::CudaEncoder>(std::move(cpu));
    };
#else
  IGNIS_CHECK(device != "cuda", "--embedding-device cuda: this build has no CUDA encoder");
#endif
  return enc::SentenceEncoder::load(dir, backend);
}

std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir, const std::string& device) {
  return std::make_shared<EncoderEmbedder>(load_sentence_encoder(dir, device));
}
#else
std::unique_ptr<enc::SentenceEncoder> load_sentence_encoder(const std::string& dir, const std::string&) {
  IGNIS_FAIL("--embedding-model {}: this build has no encoder library (needs OpenBLAS)", dir);
}
std::shared_ptr<const server::Embedder> load_embedder(const std::string& dir, const std::string& device) {
  IGNIS_FAIL("--embedding-model {}: this build has no encoder library (needs OpenBLAS)", dir);
}
#endif

}  // namespace ignis::cli
