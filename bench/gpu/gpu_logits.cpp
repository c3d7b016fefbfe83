// ignis_gpu_logits: runs one prompt through CudaModel and writes the logits of every position.
//   ignis_gpu_logits <model_dir> <token_ids_csv> <out.f32> [bf16|f16|f32]
// Output: raw little-endian float32, (num_tokens, vocab) row-major. Used by tools/golden/compare_8b.py.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cuda/cuda_model.h"

using namespace ignis;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <model_dir> <token_ids_csv> <out.f32> [bf16|f16|f32]\n", argv[0]);
    return 2;
  }
  try {
    std::vector<int32_t> toks;
    std::stringstream ss(argv[2]);
    for (std::string t; std::getline(ss, t, ',');) toks.push_back(std::stoi(t));
    cuda::CudaModelOptions o;
    o.attention = kernels::attention_impl_from_env();  // IGNIS_ATTENTION for A/B runs (compare_8b.py --variant)
    o.gemv = !(std::getenv("IGNIS_GEMV") && std::string(std::getenv("IGNIS_GEMV")) == "0");
    if (argc > 4) o.dtype = std::string(argv[4]) == "f32" ? DType::F32 : std::string(argv[4]) == "f16" ? DType::F16 : DType::BF16;
    o.max_model_len = 4096;
    o.max_batch_size = 8;
    auto m = cuda::CudaModel::load(argv[1], LoadFormat::Auto, 0, o);
    const int bs = 32, nb = int(toks.size()) / bs + 2;
    m->init_kv_cache(nb, bs);
    ForwardBatch b;
    BatchSeq s;
    s.num_tokens = int(toks.size());
    s.all_logits = true;
    for (int i = 0; i < nb; ++i) s.block_table.push_back(i);
    b.seqs.push_back(s);
    b.tokens = toks;
    std::vector<float> logits;
    m->forward(b, logits);
    std::ofstream f(argv[3], std::ios::binary);
    f.write(reinterpret_cast<const char*>(logits.data()), std::streamsize(logits.size() * 4));
    std::printf("wrote %zu x %d logits to %s\n", toks.size(), m->config().vocab_size, argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
