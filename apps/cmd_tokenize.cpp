// `ignis tokenize --model DIR TEXT`: prints the ids and pieces HF `tokenizers` would give.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "command.h"
#include "tokenizer/tokenizer.h"

static int run_tokenize(int argc, char** argv) {
  CLI::App app{"Tokenize TEXT with the model folder's tokenizer.json; prints ids and pieces"};
  std::string model, text;
  bool no_special = false, ids_only = false;
  app.add_option("--model,-m", model, "model folder (tokenizer.json + tokenizer_config.json)")->required();
  app.add_option("text", text, "text to tokenize")->required();
  app.add_flag("--no-special", no_special, "do not add special tokens (BOS) from the post-processor");
  app.add_flag("--ids-only", ids_only, "print only the ids, space separated");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto tok = ignis::Tokenizer::load(model);
  auto ids = tok->encode(text, !no_special);
  if (ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
    return 0;
  }
  std::printf("%zu tokens\n", ids.size());
  // The text column is what each token adds to the decoded text, in context (so
  // SentencePiece spaces show; a partial UTF-8 character shows on its last token).
  ignis::StreamDecoder stream(*tok, {}, false);
  for (int32_t id : ids) {
    std::string piece = tok->id_to_piece(id);
    std::string text_form = stream.push(id);
    std::printf("%8d  %-24s %s%s\n", id, piece.c_str(), ("'" + text_form + "'").c_str(),
                tok->is_special(id) ? "  (special)" : "");
  }
  std::printf("decode: %s\n", tok->decode(ids, false).c_str());
  return 0;
}

IGNIS_COMMAND(tokenize, "tokenize text with a model's tokenizer (ids and pieces)", run_tokenize);
