// ignis generate: run one or several prompts (as one in-flight batch) and stream the text.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "model_options.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    IGNIS_CHECK(used == item.size() && !item.empty() && v >= 0 && v < (1l << 31),
                "--prompt-ids: '{}' is not a token id (expected e.g. 1,2,3)", item);
    ids.push_back(int32_t(v));
  }
  IGNIS_CHECK(!ids.empty(), "--prompt-ids: no ids given");
  return ids;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int run_generate(int argc, char** argv) {
  CLI::App app{"Generate text from one or several prompts (run together as one in-flight batch)", "ignis generate"};
  ModelFlags mf;
  SamplingFlags sf;
  SpecFlags spf;
  std::vector<std::string> prompts, prompt_ids;
  std::string prompt_file;
  bool chat = false, quiet = false;
  mf.add(app);
  sf.add(app);
  spf.add(app);
  app.add_option("--prompt", prompts, "prompt text (repeatable)");
  app.add_option("--prompt-file", prompt_file, "file with one prompt per line")->check(CLI::ExistingFile);
  app.add_option("--prompt-ids", prompt_ids, "prompt as comma-separated token ids (repeatable)");
  app.add_flag("--chat", chat, "wrap each prompt as a user message with the model's chat template");
  app.add_flag("--quiet", quiet, "no summary line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!prompt_file.empty()) {
    std::ifstream f(prompt_file);
    std::string line;
    while (std::getline(f, line))
      if (!line.empty()) prompts.push_back(line);
  }
  IGNIS_CHECK(!prompts.empty() || !prompt_ids.empty(), "give --prompt, --prompt-file or --prompt-ids");

  std::shared_ptr<const Tokenizer> tok;
  if (std::filesystem::exists(std::filesystem::path(mf.model_dir) / "tokenizer.json"))
    tok = Tokenizer::load(mf.model_dir);
  IGNIS_CHECK(tok || prompts.empty(), "{}: no tokenizer.json; use --prompt-ids", mf.model_dir);

  std::optional<ChatTemplate> tmpl;  // parsed once for all prompts
  if (chat && !prompts.empty()) {
    IGNIS_CHECK(!tok->chat_template().empty(), "{}: --chat: the tokenizer has no chat_template", mf.model_dir);
    tmpl = ChatTemplate::from_model_dir(mf.model_dir);
  }
  std::vector<std::vector<int32_t>> inputs;
  for (auto& p : prompts) {
    if (tmpl) {
      nlohmann::ordered_json messages = nlohmann::ordered_json::array();
      messages.push_back({{"role", "user"}, {"content", p}});
      // The template writes BOS itself when the model wants one.
      inputs.push_back(tok->encode(tmpl->apply(messages, /*add_generation_prompt=*/true), /*add_special_tokens=*/false));
    } else {
      inputs.push_back(tok->encode(p, true));
    }
  }
  for (auto& s : prompt_ids) inputs.push_back(parse_ids(s));

  SamplingParams sp = sf.params(mf.model_dir);
  EngineParts ep = load_engine_parts(mf, spf);
  std::string backend = ep.model->backend_name();
  Engine engine(std::move(ep.model), ep.config, tok, std::move(ep.proposer));

  auto t0 = Clock::now();
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (auto& ids : inputs) {
    GenerateRequest r;
    r.prompt_ids = ids;
    r.sampling = sp;
    handles.push_back(engine.submit(std::move(r)));
  }
  bool stream = handles.size() == 1;
  std::vector<std::string> texts(handles.size());
  std::vector<std::vector<TokenLogprob>> lps(handles.size());
  int failures = 0;
  for (size_t i = 0; i < handles.size(); i++) {
    if (stream && !prompts.empty() && !chat) {
      std::fputs(prompts[0].c_str(), stdout);
      std::fflush(stdout);
    }
    StreamChunk c;
    while (handles[i]->next(&c)) {
      texts[i] += c.text;
      for (auto& l : c.logprobs) lps[i].push_back(l);
      if (stream) {
        if (!tok) {
          for (auto t : c.tokens) std::printf("%d ", t);
        } else {
          std::fputs(c.text.c_str(), stdout);
        }
        std::fflush(stdout);
      }
      if (c.finish != FinishReason::None) {
        if (c.finish == FinishReason::Error) {
          std::fprintf(stderr, "\nerror: request %zu: %s\n", i, c.error.c_str());
          failures++;
        }
        break;
      }
    }
  }
  auto t1 = Clock::now();
  if (stream) std::printf("\n");
  for (size_t i = 0; i < handles.size() && !stream; i++) {
    std::printf("=== [%zu] %s\n", i, i < prompts.size() ? prompts[i].c_str() : "(ids)");
    std::printf("%s\n", texts[i].c_str());
  }
  for (size_t i = 0; i < handles.size(); i++) {
    for (auto& l : lps[i]) {
      std::printf("[%zu] token %d %s logprob %.4f", i, l.token, tok ? ("'" + tok->id_to_piece(l.token) + "'").c_str() : "",
                  l.logprob);
      for (auto& [id, lp] : l.top) std::printf(" | %d %.4f", id, lp);
      std::printf("\n");
    }
  }
  if (!quiet) {
    int64_t ptoks = 0, gtoks = 0;
    double ttft = 0;
    for (auto& h : handles) {
      auto u = h->usage();
      auto t = h->timings();
      ptoks += u.prompt_tokens;
      gtoks += u.completion_tokens;
      if (t.first_token != Clock::time_point{}) ttft += ms_between(t.arrival, t.first_token);
    }
    ttft /= double(handles.size());
    double secs = std::chrono::duration<double>(t1 - t0).count();
    double decode_secs = secs - ttft / 1000.0;
    std::fprintf(stderr,
                 "[%s] %zu request(s): prompt tokens %lld, generated tokens %lld, time to first token %.1f ms, "
                 "%.1f tokens/s (decode %.1f tokens/s), %.2f s\n",
                 backend.c_str(), handles.size(), (long long)ptoks, (long long)gtoks, ttft, gtoks / secs,
                 decode_secs > 0 ? (gtoks - double(handles.size())) / decode_secs : 0.0, secs);
    const EngineStats es = engine.stats();
    if (es.spec_proposed_tokens > 0)
      std::fprintf(stderr, "[%s] speculative: %lld of %lld proposed tokens accepted (%.1f%%), %.2f tokens per "
                   "verified sequence-step, %lld of %lld steps verified proposals\n",
                   backend.c_str(), (long long)es.spec_accepted_tokens, (long long)es.spec_proposed_tokens,
                   100.0 * double(es.spec_accepted_tokens) / double(es.spec_proposed_tokens),
                   es.spec_sequences ? 1.0 + double(es.spec_accepted_tokens) / double(es.spec_sequences) : 0.0,
                   (long long)es.spec_steps, (long long)es.steps);
  }
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(generate, "generate text from prompts (streams to stdout)", ignis::cli::run_generate);
