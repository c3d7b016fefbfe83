// ignis_encoder_bench: sentence-embedding throughput of a sentence-transformers folder on the CPU
// or the GPU, over texts from a JSON array file (bench/gpu/run_embed.sh compares it with
// sentence-transformers on the same texts). Prints one line: texts/s and tokens/s end to end
// (tokenization included, as SentenceTransformer.encode times it) and for the model alone.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "encoder/sentence_encoder.h"
#ifdef HAVE_IGNIS_ENCODER_GPU
#include "encoder_gpu/cuda_encoder.h"
#endif

using namespace ignis;

int main(int argc, char** argv) {
  CLI::App app{"ignis_encoder_bench: sentence-embedding throughput"};
  std::string model, texts_file, device = "cuda";
  int batch = 256, repeat = 3;
  app.add_option("--model", model, "sentence-transformers folder")->required();
  app.add_option("--texts", texts_file, "JSON array of strings")->required();
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--batch", batch, "texts per embed call");
  app.add_option("--repeat", repeat, "timed passes over all texts (after one warm-up pass)");
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream f(texts_file);
    IGNIS_CHECK(f.good(), "{}: cannot open", texts_file);
    std::stringstream ss;
    ss << f.rdbuf();
    auto texts = nlohmann::json::parse(ss.str()).get<std::vector<std::string>>();
    enc::SentenceEncoder::BackendFactory factory;
#ifdef HAVE_IGNIS_ENCODER_GPU
    if (device == "cuda")
      factory = [](std::unique_ptr<enc::BertModel> m) { return std::make_unique<encgpu::CudaEncoder>(std::move(m)); };
#else
    IGNIS_CHECK(device == "cpu", "this build has no CUDA encoder");
#endif
    auto e = enc::SentenceEncoder::load(model, factory);
    using clk = std::chrono::steady_clock;
    double best_all = 1e30, best_model = 1e30;
    size_t tokens = 0;
    for (int r = 0; r <= repeat; ++r) {
      double model_s = 0;
      tokens = 0;
      auto t0 = clk::now();
      for (size_t i = 0; i < texts.size(); i += batch) {
        std::vector<enc::EncoderInput> in;
        for (size_t j = i; j < std::min(texts.size(), i + batch); ++j) in.push_back(e->tokenize(texts[j]));
        for (auto& x : in) tokens += x.ids.size();
        auto m0 = clk::now();
        auto out = e->embed_inputs(in);
        model_s += std::chrono::duration<double>(clk::now() - m0).count();
        IGNIS_CHECK(out.size() == in.size(), "embed returned {} rows for {} inputs", out.size(), in.size());
      }
      double all_s = std::chrono::duration<double>(clk::now() - t0).count();
      if (r > 0) best_all = std::min(best_all, all_s), best_model = std::min(best_model, model_s);
    }
    std::printf("ignis %s (%s): %zu texts, %zu tokens, batch %d: %.1f texts/s, %.0f tokens/s end to end; "
                "model alone %.1f texts/s, %.0f tokens/s\n",
                e->backend_name(), model.c_str(), texts.size(), tokens, batch, texts.size() / best_all,
                tokens / best_all, texts.size() / best_model, tokens / best_model);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "error: %s\n", ex.what());
    return 1;
  }
  return 0;
}
