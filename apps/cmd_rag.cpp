// ignis rag: chat with your documents. `index` builds / updates a folder's index (src/rag),
// `search` prints the retrieved chunks, `ask` answers one question from them with a chat model,
// `chat` answers questions read from stdin line by line. The sentence encoder is adapted to
// rag::Embedding in rag_index.cpp (shared with `ignis serve --docs`); the answer prompt is
// rag/answer.h's (shared with POST /v1/rag/chat).
#ifdef HAVE_IGNIS_RAG
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "model_options.h"
#include "rag/answer.h"
#include "rag/index.h"
#include "rag_index.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ignis::cli {
namespace {
namespace fs = std::filesystem;

int run_index(int argc, char** argv) {
  CLI::App app{"Build or update the index of a folder (txt, md, pdf, docx, xml, html, vtt, srt): only changed files "
               "are re-read and re-embedded, deleted files are dropped",
               "ignis rag index"};
  IndexFlags f;
  f.add(app, /*docs_required=*/true);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  update_index(f, f.index_dir());
  return 0;
}

// ---- retrieval for search / ask / chat ----

struct Retriever {
  std::unique_ptr<LoadedEmbedding> le;
  std::unique_ptr<rag::Index> index;
  rag::Retrieval mode = rag::Retrieval::Hybrid;
  int top_k = 4;

  // --docs: the index is brought up to date first (incremental); --index alone: used as it is.
  void open(const IndexFlags& f, const std::string& retrieval) {
    mode = rag::parse_retrieval(retrieval);
    const fs::path dir = f.index_dir();
    if (!f.docs.empty()) {
      le = update_index(f, dir);
      index = rag::Index::open(dir);
    } else {
      index = rag::Index::open(dir);
      if (mode != rag::Retrieval::Lexical) le = resolve_embedding(f, index.get());
    }
  }
  std::vector<rag::Hit> search(const std::string& q) const {
    std::string note;
    auto hits = index->search(q, top_k, mode, le ? &le->emb : nullptr, &note);
    if (!note.empty()) std::fprintf(stderr, "note: %s\n", note.c_str());
    return hits;
  }
};

void add_retrieval_flags(CLI::App& app, Retriever& r, std::string& retrieval) {
  app.add_option("--top-k", r.top_k, "chunks retrieved")->check(CLI::Range(1, 1000));
  app.add_option("--retrieval", retrieval, "hybrid (dense + BM25 fused by reciprocal rank) | dense | lexical")
      ->check(CLI::IsMember({"hybrid", "dense", "lexical"}));
}

int run_search(int argc, char** argv) {
  CLI::App app{"Print the chunks retrieved for a query", "ignis rag search"};
  IndexFlags f;
  Retriever r;
  std::string retrieval = "hybrid", query;
  bool json = false;
  f.add(app, false);
  add_retrieval_flags(app, r, retrieval);
  app.add_flag("--json", json, "one JSON array of hits on stdout");
  app.add_option("query", query, "the query")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  r.open(f, retrieval);
  auto hits = r.search(query);
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& h : hits)
      out.push_back({{"chunk_id", h.chunk_id}, {"file", h.file}, {"page", h.page}, {"line", h.line},
                     {"heading", h.heading}, {"anchor", h.anchor}, {"score", h.score}, {"dense_rank", h.dense_rank},
                     {"lexical_rank", h.lexical_rank}, {"text", h.text}});
    std::puts(out.dump(1).c_str());
    return 0;
  }
  if (hits.empty()) std::puts("no matching chunks");
  for (size_t i = 0; i < hits.size(); i++) {
    const auto& h = hits[i];
    std::string text = h.text;
    std::replace(text.begin(), text.end(), '\n', ' ');
    if (text.size() > 240) text = text.substr(0, 237) + "...";
    std::printf("%zu. %s  (score %.4f, dense rank %d, lexical rank %d)\n   %s\n", i + 1, rag::cite(h).c_str(), h.score,
                h.dense_rank, h.lexical_rank, text.c_str());
  }
  return 0;
}

// ---- bench: retrieval latency over an existing index ----

// Latency of retrieval over an index, per mode, for the queries of a file (one per line, or JSON
// lines with a "query" field): the whole search call (the query's embedding, the Faiss and BM25
// look-ups, the fusion and the chunk texts), after --warmup untimed queries. Prints count, mean,
// p50, p99 and max in ms, one line per mode; --json writes the same figures to a file.
int run_bench(int argc, char** argv) {
  CLI::App app{"Retrieval latency over an index: mean / p50 / p99 per mode for a file of queries", "ignis rag bench"};
  IndexFlags f;
  Retriever r;
  std::string modes = "all", queries_path, json_path;
  int warmup = 5, repeat = 1;
  f.add(app, false);
  app.add_option("--top-k", r.top_k, "chunks retrieved")->check(CLI::Range(1, 1000));
  app.add_option("--retrieval", modes, "all | hybrid | dense | lexical")
      ->check(CLI::IsMember({"all", "hybrid", "dense", "lexical"}));
  app.add_option("--queries", queries_path, "a file of queries: one per line, or JSON lines with \"query\"")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--warmup", warmup, "queries run first and not timed")->check(CLI::Range(0, 1000));
  app.add_option("--repeat", repeat, "passes over the queries")->check(CLI::Range(1, 1000));
  app.add_option("--json", json_path, "also write the figures to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::vector<std::string> queries;
  {
    std::ifstream in(queries_path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line.front() != '{') {
        queries.push_back(line);
        continue;
      }
      auto j = nlohmann::json::parse(line, nullptr, false);
      IGNIS_CHECK(!j.is_discarded() && j.is_object() && j.contains("query") && j["query"].is_string(),
                  "{}: a JSON line without a string \"query\": {}", queries_path, line.substr(0, 80));
      queries.push_back(j["query"].get<std::string>());
    }
  }
  IGNIS_CHECK(!queries.empty(), "{}: no queries", queries_path);
  r.open(f, modes == "all" ? "hybrid" : modes);
  std::vector<rag::Retrieval> run;
  for (const char* m : {"lexical", "dense", "hybrid"})
    if ((modes == "all" || modes == m) && (std::string(m) == "lexical" || (r.le && r.index->dense())))
      run.push_back(rag::parse_retrieval(m));
  IGNIS_CHECK(!run.empty(), "--retrieval {}: the index has no dense vectors or no embedding model", modes);
  long long chunks = 0;
  for (const auto& file : r.index->files()) chunks += file.chunks;
  std::printf("index %s: %lld chunks; %zu queries x %d, top %d\n", f.index_dir().string().c_str(), chunks,
              queries.size(), repeat, r.top_k);
  std::printf("%-8s %8s %9s %9s %9s %9s\n", "mode", "queries", "mean ms", "p50 ms", "p99 ms", "max ms");
  nlohmann::ordered_json out = {{"index", f.index_dir().string()}, {"chunks", chunks}, {"top_k", r.top_k},
                                {"modes", nlohmann::ordered_json::object()}};
  for (rag::Retrieval mode : run) {
    r.mode = mode;
    for (int i = 0; i < warmup; i++) (void)r.search(queries[size_t(i) % queries.size()]);
    std::vector<double> ms;
    for (int p = 0; p < repeat; p++)
      for (const auto& q : queries) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto hits = r.search(q);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        IGNIS_CHECK(!hits.empty() || mode != rag::Retrieval::Dense, "dense retrieval returned no hits for '{}'", q);
      }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double p) { return sorted[size_t(p * double(sorted.size() - 1) + 0.5)]; };
    double mean = 0;
    for (double v : ms) mean += v / double(ms.size());
    const char* name = rag::retrieval_name(mode);
    std::printf("%-8s %8zu %9.3f %9.3f %9.3f %9.3f\n", name, ms.size(), mean, pct(0.5), pct(0.99), sorted.back());
    out["modes"][name] = {{"queries", ms.size()}, {"mean_ms", mean}, {"p50_ms", pct(0.5)}, {"p99_ms", pct(0.99)},
                          {"max_ms", sorted.back()}};
  }
  if (!json_path.empty()) {
    std::ofstream o(json_path);
    o << out.dump(1) << "\n";
    IGNIS_CHECK(o.good(), "--json {}: cannot write", json_path);
  }
  return 0;
}

// ---- answering ----

struct Answerer {
  std::shared_ptr<const Tokenizer> tok;
  std::unique_ptr<ChatTemplate> tmpl;  // null: the model has no chat template (plain prompt)
  std::unique_ptr<Engine> engine;
  SamplingParams sp;
  int context = 0;  // the model's context length

  void load(const ModelFlags& mf, const SamplingFlags& sf) {
    tok = std::shared_ptr<const Tokenizer>(Tokenizer::load(mf.model_dir));
    if (!tok->chat_template().empty()) tmpl = std::make_unique<ChatTemplate>(ChatTemplate::from_model_dir(mf.model_dir));
    sp = sf.params(mf.model_dir);
    LoadedModel lm = load_model(mf.model_dir, mf.load_options(), mf.kv_block_size);
    context = mf.max_model_len > 0 ? mf.max_model_len : lm.model->config().max_position_embeddings;
    engine = std::make_unique<Engine>(std::move(lm.model), mf.engine_config(lm.kv_num_blocks), tok);
  }

  // The model's chat template over the turns (null without one), as the server's /v1/rag/chat does it.
  rag::RenderTurns renderer() const {
    if (!tmpl) return nullptr;
    return [this](const std::vector<rag::ChatTurn>& turns) {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      for (const auto& t : turns) msgs.push_back({{"role", t.role}, {"content", t.content}});
      return tmpl->apply(msgs, /*add_generation_prompt=*/true);
    };
  }

  // Streams the answer to stdout, then the sources of the chunks in the prompt.
  void answer(const std::string& question, const std::vector<rag::Hit>& hits) {
    const int budget = context - sp.max_tokens;
    IGNIS_CHECK(budget > 0, "--max-tokens {} leaves no room in the model's {}-token context", sp.max_tokens, context);
    rag::AnswerPrompt p = rag::fit_answer_prompt(question, hits, budget, renderer(), [this](const std::string& text) {
      return tok->encode(text, /*add_special_tokens=*/false);
    });
    const size_t n = p.chunks;
    if (n < hits.size() || p.cut)
      std::fprintf(stderr, "note: %zu of %zu chunks fit the model's %d-token context%s\n", n, hits.size(), context,
                   p.cut ? " (cut)" : "");
    std::vector<int32_t> ids = std::move(p.ids);
    GenerateRequest r;
    r.prompt_ids = std::move(ids);
    r.sampling = sp;
    auto h = engine->submit(std::move(r));
    StreamChunk c;
    while (h->next(&c)) {
      std::fputs(c.text.c_str(), stdout);
      std::fflush(stdout);
      if (c.finish != FinishReason::None) {
        if (c.finish == FinishReason::Error) std::fprintf(stderr, "\nerror: %s", c.error.c_str());
        break;
      }
    }
    std::fputs("\n\nSources:\n", stdout);
    if (n == 0) std::fputs("(no matching chunks in the documents)\n", stdout);
    for (size_t i = 0; i < n; i++) std::printf("[%zu] %s\n", i + 1, rag::cite(hits[i]).c_str());
    std::fflush(stdout);
  }
};

int run_ask_or_chat(int argc, char** argv, bool chat) {
  CLI::App app{chat ? "Answer questions about a folder, read from stdin one per line (each answered on its own; "
                      "/exit ends)"
                    : "Answer one question about a folder: the top chunks ground the answer, sources are listed",
               chat ? "ignis rag chat" : "ignis rag ask"};
  IndexFlags f;
  Retriever r;
  ModelFlags mf;
  SamplingFlags sf;
  sf.max_tokens = 256;
  std::string retrieval = "hybrid", question;
  f.add(app, false);
  mf.add(app);
  sf.add(app);
  // --top-k is the number of chunks here (as in Chat with RTX), not the sampler's top-k.
  app.remove_option(app.get_option("--top-k"));
  add_retrieval_flags(app, r, retrieval);
  if (!chat) app.add_option("question", question, "the question")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  IGNIS_CHECK(!mf.model_dir.empty(), "--model DIR is required (the chat model that answers)");
  r.open(f, retrieval);
  Answerer a;
  a.load(mf, sf);
  if (!chat) {
    a.answer(question, r.search(question));
    return 0;
  }
  const bool tty = isatty(fileno(stdin));
  std::string line;
  while (true) {
    if (tty) std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      a.answer(line, r.search(line));
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
    }
  }
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: ignis rag <index|search|bench|ask|chat> [options]\n\n"
               "  index   build or update a folder's index: --docs DIR [--embedding-model DIR] [--index PATH]\n"
               "  search  print the chunks retrieved for a query: (--docs DIR | --index PATH) \"query\"\n"
               "  bench   retrieval latency (mean / p50 / p99 per mode): --index PATH --queries FILE\n"
               "  ask     answer one question: --docs DIR --model DIR \"question\"\n"
               "  chat    answer questions from stdin, one per line: --docs DIR --model DIR\n\n"
               "'ignis rag <sub> --help' for the options. With --docs, search / ask / chat update the index first\n"
               "(only changed files are re-read); with --index alone they use it as it is.\n");
}

int run_rag(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string sub = argv[1];
  std::string prog = "ignis rag " + sub;
  argv[1] = prog.data();
  if (sub == "index") return run_index(argc - 1, argv + 1);
  if (sub == "search") return run_search(argc - 1, argv + 1);
  if (sub == "bench") return run_bench(argc - 1, argv + 1);
  if (sub == "ask") return run_ask_or_chat(argc - 1, argv + 1, false);
  if (sub == "chat") return run_ask_or_chat(argc - 1, argv + 1, true);
  std::fprintf(stderr, "error: unknown rag command '%s'\n", sub.c_str());
  usage();
  return 2;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(rag, "chat with your documents: index a folder, search it, ask questions (index|search|bench|ask|chat)",
              ignis::cli::run_rag);
#endif  // HAVE_IGNIS_RAG
