// ignis eval: perplexity of a text under a model.
// Protocol (same as tools/train/train.py): ids = encode(text) without special tokens; windows
// of --ctx consecutive tokens (the last, shorter one too if it has >= 2 tokens); in each window
// token i+1 is predicted from tokens 0..i; perplexity = exp(mean NLL over predicted tokens).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command.h"
#include "core/error.h"
#include "model_options.h"
#include "runtime/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

int run_eval(int argc, char** argv) {
  CLI::App app{"Perplexity of a text file under a model", "ignis eval"};
  ModelFlags mf;
  std::string text_file;
  int ctx = 512;
  bool json = false;
  mf.add(app);
  app.add_option("--text", text_file, "UTF-8 text file")->required()->check(CLI::ExistingFile);
  app.add_option("--ctx", ctx, "window length in tokens")->check(CLI::Range(2, 1 << 20));
  app.add_flag("--json", json, "print one JSON line instead of text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::ifstream f(text_file, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  auto tok = Tokenizer::load(mf.model_dir);
  std::vector<int32_t> ids = tok->encode(ss.str(), /*add_special_tokens=*/false);
  IGNIS_CHECK(ids.size() >= 2, "{}: the text has fewer than 2 tokens", text_file);

  LoadedModel lm = load_model(mf.model_dir, mf.load_options(), mf.kv_block_size);
  Model& model = *lm.model;
  const int bs = mf.kv_block_size;
  IGNIS_CHECK(ctx <= model.config().max_position_embeddings, "--ctx {} exceeds the model's context {}", ctx,
              model.config().max_position_embeddings);
  int blocks = (ctx + bs - 1) / bs;
  model.init_kv_cache(blocks, bs);
  const int vocab = model.config().vocab_size;
  double nll = 0;
  int64_t count = 0;
  std::vector<float> logits;
  for (size_t start = 0; start + 1 < ids.size(); start += size_t(ctx)) {
    size_t n = std::min(ids.size() - start, size_t(ctx));
    if (n < 2) break;
    ForwardBatch b;
    b.tokens.assign(ids.begin() + long(start), ids.begin() + long(start + n));
    BatchSeq s;
    s.num_cached = 0;
    s.num_tokens = int32_t(n);
    s.all_logits = true;
    for (int i = 0; i < blocks; i++) s.block_table.push_back(i);
    s.block_table.resize((n + bs - 1) / bs);
    b.seqs.push_back(s);
    model.forward(b, logits);  // (n, vocab)
    for (size_t i = 0; i + 1 < n; i++) {
      const float* row = logits.data() + i * size_t(vocab);
      float mx = row[0];
      for (int v = 1; v < vocab; v++) mx = std::max(mx, row[v]);
      double sum = 0;
      for (int v = 0; v < vocab; v++) sum += std::exp(double(row[v]) - mx);
      nll += (std::log(sum) + mx) - row[b.tokens[i + 1]];
      count++;
    }
  }
  double ppl = std::exp(nll / double(count));
  if (json) {
    std::printf("{\"perplexity\": %.6f, \"predicted_tokens\": %lld, \"tokens\": %zu, \"ctx\": %d, \"backend\": \"%s\"}\n",
                ppl, (long long)count, ids.size(), ctx, model.backend_name());
  } else {
    std::printf("perplexity %.4f over %lld predicted tokens (%zu tokens, ctx %d, %s)\n", ppl, (long long)count,
                ids.size(), ctx, model.backend_name());
  }
  return 0;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(eval, "perplexity of a text file", ignis::cli::run_eval);
