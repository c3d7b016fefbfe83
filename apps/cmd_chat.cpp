// ignis chat: interactive chat with a model's own chat template (history, /reset, /exit, streaming).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <unistd.h>

#include "command.h"
#include "core/error.h"
#include "model_options.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

int run_chat(int argc, char** argv) {
  CLI::App app{"Interactive chat using the model's chat template. Commands: /reset, /exit", "ignis chat"};
  ModelFlags mf;
  SamplingFlags sf;
  std::string system;
  mf.add(app);
  sf.add(app);
  app.add_option("--system", system, "system message");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto tok = std::shared_ptr<const Tokenizer>(Tokenizer::load(mf.model_dir));
  IGNIS_CHECK(!tok->chat_template().empty(), "{}: tokenizer_config.json has no chat_template; use ignis generate",
              mf.model_dir);
  const ChatTemplate tmpl = ChatTemplate::from_model_dir(mf.model_dir);  // parsed once for the session
  SamplingParams sp = sf.params(mf.model_dir);
  LoadedModel lm = load_model(mf.model_dir, mf.load_options(), mf.kv_block_size);
  Engine engine(std::move(lm.model), mf.engine_config(lm.kv_num_blocks), tok);

  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  auto reset = [&] {
    history = nlohmann::ordered_json::array();
    if (!system.empty()) history.push_back({{"role", "system"}, {"content", system}});
  };
  reset();
  bool tty = isatty(fileno(stdin));
  std::string line;
  while (true) {
    if (tty) std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      std::puts("[history cleared]");
      continue;
    }
    if (line.empty()) continue;
    history.push_back({{"role", "user"}, {"content", line}});
    std::string prompt;
    try {
      prompt = tmpl.apply(history, /*add_generation_prompt=*/true);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: chat template: %s\n", e.what());
      history.erase(history.end() - 1);
      continue;
    }
    GenerateRequest r;
    // The template writes BOS itself when the model wants one; never add a second.
    r.prompt_ids = tok->encode(prompt, /*add_special_tokens=*/false);
    r.sampling = sp;
    std::shared_ptr<RequestHandle> h;
    try {
      h = engine.submit(std::move(r));
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s (use /reset to clear the history)\n", e.what());
      history.erase(history.end() - 1);
      continue;
    }
    std::string reply;
    StreamChunk c;
    while (h->next(&c)) {
      reply += c.text;
      std::fputs(c.text.c_str(), stdout);
      std::fflush(stdout);
      if (c.finish != FinishReason::None) {
        if (c.finish == FinishReason::Error) std::fprintf(stderr, "\nerror: %s", c.error.c_str());
        break;
      }
    }
    std::fputs("\n", stdout);
    std::fflush(stdout);
    auto u = h->usage();
    std::fprintf(stderr, "[turn %zu: prompt tokens %d, generated tokens %d]\n", history.size() / 2 + 1,
                 u.prompt_tokens, u.completion_tokens);
    history.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(chat, "interactive chat with the model's chat template (/reset, /exit)", ignis::cli::run_chat);
