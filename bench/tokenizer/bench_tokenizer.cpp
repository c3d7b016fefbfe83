// Single-threaded tokenizer encode throughput (MB/s) on a large English text, the
// same two modes as `tools/golden/tokenizer_goldens.py --bench` (whole text in one
// call; one call per line) so the figures compare with HF `tokenizers`.
//
// usage: bench_tokenizer [--model DIR] [--text FILE] [--repeat N] [--cold]
//   defaults: assets/tokenizer-llama3/models, assets/moby-dick/data/data.txt, 3
//   --cold: also time a fresh tokenizer per run (empty word cache)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  std::string model = std::string(IGNIS_ASSETS_DIR) + "/tokenizer-llama3/models";
  std::string text_path = std::string(IGNIS_ASSETS_DIR) + "/moby-dick/data/data.txt";
  int repeat = 3;
  bool cold = false;
  for (int i = 1; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--cold")) {
      cold = true;
      --i;
    } else if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
      return 2;
    } else if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
    else if (!std::strcmp(argv[i], "--text")) text_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--model DIR] [--text FILE] [--repeat N] [--cold]\n", argv[0]);
      return 2;
    }
  }
  try {
    std::ifstream f(text_path, std::ios::binary);
    IGNIS_CHECK(f.good(), "{}: cannot open", text_path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    std::vector<std::string> lines;
    for (size_t p = 0; p < text.size();) {
      size_t e = text.find('\n', p);
      e = e == std::string::npos ? text.size() : e + 1;
      lines.push_back(text.substr(p, e - p));
      p = e;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto tok = ignis::Tokenizer::load(model);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("ignis tokenizer %s: loaded in %.2f s\n", model.c_str(), load_s);
    double mb = text.size() / 1e6;
    for (const char* mode : {"whole", "lines", "whole-cold"}) {
      if (!cold && !std::strcmp(mode, "whole-cold")) continue;
      double best = 1e30;
      size_t ntok = 0;
      for (int r = 0; r < repeat; ++r) {
        // "whole-cold": a fresh tokenizer each time, so the word cache starts empty.
        std::unique_ptr<ignis::Tokenizer> fresh;
        if (!std::strcmp(mode, "whole-cold")) fresh = ignis::Tokenizer::load(model);
        const ignis::Tokenizer& t = fresh ? *fresh : *tok;
        auto s = std::chrono::steady_clock::now();
        if (!std::strcmp(mode, "lines")) {
          ntok = 0;
          for (auto& l : lines) ntok += t.encode(l, false).size();
        } else {
          ntok = t.encode(text, false).size();
        }
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
      }
      std::printf("ignis encode (%s, 1 thread): %.2f MB/s, %zu tokens, %.3f s for %.2f MB\n", mode, mb / best, ntok,
                  best, mb);
    }
  } catch (const ignis::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
