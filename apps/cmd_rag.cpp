// ignis rag: chat with your documents. `index` builds / updates a folder's index (src/rag),
// `search` prints the retrieved chunks, `ask` answers one question from them with a chat model,
// `chat` answers questions read from stdin line by line. The sentence encoder (src/encoder) is
// adapted here to rag::Embedding, so src/rag never sees encoder/ or runtime/.
#ifdef HAVE_IGNIS_RAG
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "model_options.h"
#include "rag/index.h"
#include "rag/index/sha256.h"
#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"
#ifdef HAVE_IGNIS_ENCODER
#include "encoder/sentence_encoder.h"
#endif

namespace ignis::cli {
namespace {
namespace fs = std::filesystem;

// ---- the embedding model ----

// "<folder name>@<16 hex>": a hash over the folder's file names, sizes and contents (files over
// 64 MiB: their first and last 4 MiB), so another checkpoint under the same name re-embeds.
std::string model_fingerprint(const fs::path& dir) {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().rfind('.', 0) == 0) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  rag::Sha256 h;
  std::vector<char> buf(1 << 20);
  for (const fs::path& f : files) {
    const std::string rel = fs::relative(f, dir).generic_string();
    const uint64_t size = fs::file_size(f);
    h.update(rel.data(), rel.size() + 1);
    h.update(&size, sizeof size);
    std::FILE* fp = std::fopen(f.c_str(), "rb");
    IGNIS_CHECK(fp, "{}: cannot read", f.string());
    auto hash_range = [&](uint64_t from, uint64_t n) {
      std::fseek(fp, long(from), SEEK_SET);
      while (n > 0) {
        size_t got = std::fread(buf.data(), 1, std::min<uint64_t>(n, buf.size()), fp);
        if (got == 0) break;
        h.update(buf.data(), got);
        n -= got;
      }
    };
    const uint64_t big = 64ull << 20, edge = 4ull << 20;
    if (size <= big) {
      hash_range(0, size);
    } else {
      hash_range(0, edge);
      hash_range(size - edge, edge);
    }
    std::fclose(fp);
  }
  fs::path abs = fs::absolute(dir).lexically_normal();
  std::string name = abs.filename().string();
  if (name.empty()) name = abs.parent_path().filename().string();
  return name + "@" + h.hex().substr(0, 16);
}

struct LoadedEmbedding {
#ifdef HAVE_IGNIS_ENCODER
  std::unique_ptr<enc::SentenceEncoder> encoder;
#endif
  rag::Embedding emb;
  int max_tokens = 0;  // the encoder's max_seq_length less its special tokens
};

std::unique_ptr<LoadedEmbedding> load_embedding(const std::string& dir) {
#ifdef HAVE_IGNIS_ENCODER
  auto le = std::make_unique<LoadedEmbedding>();
  le->encoder = enc::SentenceEncoder::load(dir);
  const enc::SentenceEncoder* e = le->encoder.get();
  const auto& prompts = e->config().prompts;
  auto prompt = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (prompts.count(n)) return std::string(n);
    return std::string();  // the default prompt, if any
  };
  const std::string passage = prompt({"passage", "document"}), query = prompt({"query"});
  le->emb.model_id = model_fingerprint(dir);
  le->emb.model_dir = fs::absolute(dir).lexically_normal().string();
  le->emb.dim = e->dim();
  le->emb.count_tokens = [e](const std::string& t) { return int(e->tokenizer().encode(t, false).size()); };
  le->emb.embed_passages = [e, passage](const std::vector<std::string>& texts) { return e->embed(texts, passage); };
  le->emb.embed_query = [e, query](const std::string& q) { return e->embed({q}, query).at(0); };
  const int overhead = int(e->tokenize("", passage).ids.size());
  le->max_tokens = e->config().max_seq_length > 0 ? e->config().max_seq_length - overhead : 0;
  return le;
#else
  IGNIS_FAIL("--embedding-model {}: this build has no encoder library (needs OpenBLAS)", dir);
#endif
}

// ---- where the index is and what builds it ----

struct IndexFlags {
  std::string docs, index, embedding_model;
  int chunk_tokens = 0, chunk_overlap = -1;  // 0 / -1 = defaults (512 / 200, fitted to the encoder)
  bool quiet = false;

  void add(CLI::App& app, bool docs_required) {
    auto* d = app.add_option("--docs", docs, "the folder of documents")->check(CLI::ExistingDirectory);
    if (docs_required) d->required();
    app.add_option("--index", index, "the index directory (default: DOCS/.ignis-index)");
    app.add_option("--embedding-model", embedding_model,
                   "sentence-transformers folder for dense retrieval (default: the one the index was built with; "
                   "'none': BM25 only)")
        ->check(CLI::ExistingDirectory | CLI::IsMember({"none"}));
    app.add_option("--chunk-tokens", chunk_tokens, "tokens per chunk (default 512, at most what the encoder reads)")
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("--chunk-overlap", chunk_overlap, "tokens shared by consecutive chunks (default 200)")
        ->check(CLI::Range(0, 1 << 20));
    app.add_flag("--quiet", quiet, "no progress or report on stderr");
  }
  fs::path index_dir() const {
    IGNIS_CHECK(!docs.empty() || !index.empty(), "give --docs DIR or --index PATH");
    return index.empty() ? fs::path(docs) / ".ignis-index" : fs::path(index);
  }
};

// The existing index's info, if there is a valid one.
std::unique_ptr<rag::Index> try_open(const fs::path& dir) {
  if (!fs::exists(dir / "index.sqlite")) return nullptr;
  try {
    return rag::Index::open(dir);
  } catch (const Error&) {
    return nullptr;
  }
}

// The embedding model: --embedding-model, else the one recorded in the existing index.
std::unique_ptr<LoadedEmbedding> resolve_embedding(const IndexFlags& f, const rag::Index* existing) {
  if (f.embedding_model == "none") return nullptr;
  if (!f.embedding_model.empty()) return load_embedding(f.embedding_model);
  if (existing && existing->dense()) {
    const std::string& dir = existing->info().model_dir;
    IGNIS_CHECK(!dir.empty() && fs::is_directory(dir),
                "the index was built with embedding model {} from '{}', which is not there: pass --embedding-model DIR",
                existing->info().model_id, dir);
    return load_embedding(dir);
  }
  return nullptr;
}

rag::ChunkOptions chunk_options(const IndexFlags& f, const LoadedEmbedding* le) {
  rag::ChunkOptions c;
  if (f.chunk_tokens > 0) {
    c.chunk_tokens = f.chunk_tokens;
  } else if (le && le->max_tokens > 0 && le->max_tokens < c.chunk_tokens) {
    // The encoder would truncate a 512-token chunk: fit the chunk to it, overlap in proportion.
    c.overlap_tokens = std::max(0, c.overlap_tokens * le->max_tokens / c.chunk_tokens);
    c.chunk_tokens = le->max_tokens;
  }
  if (f.chunk_overlap >= 0) c.overlap_tokens = f.chunk_overlap;
  if (f.chunk_tokens > 0 && f.chunk_overlap < 0) c.overlap_tokens = std::min(c.overlap_tokens, c.chunk_tokens / 2);
  IGNIS_CHECK(c.overlap_tokens < c.chunk_tokens, "--chunk-overlap ({}) must be less than --chunk-tokens ({})",
              c.overlap_tokens, c.chunk_tokens);
  if (le && le->max_tokens > 0 && c.chunk_tokens > le->max_tokens)
    std::fprintf(stderr, "note: the embedding model reads %d tokens; chunks of %d are truncated when embedded\n",
                 le->max_tokens, c.chunk_tokens);
  return c;
}

// A progress bar on a terminal, plain lines otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(bool quiet) : quiet_(quiet), tty_(isatty(fileno(stderr))) {}
  void update(int done, int total, int chunks, const std::string& rel) {
    if (quiet_) return;
    if (tty_) {
      auto now = std::chrono::steady_clock::now();
      if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      const int width = 30;
      int fill = total > 0 ? done * width / total : width;
      std::string name = rel.size() > 40 ? "..." + rel.substr(rel.size() - 37) : rel;
      std::fprintf(stderr, "\r\033[K[%s%s] %d/%d files, %d chunks  %s", std::string(size_t(fill), '#').c_str(),
                   std::string(size_t(width - fill), '.').c_str(), done, total, chunks, name.c_str());
      shown_ = true;
    } else if (done > last_done_) {
      std::fprintf(stderr, "index: %d/%d files, %d chunks: %s\n", done, total, chunks, rel.c_str());
    }
    last_done_ = std::max(last_done_, done);
    std::fflush(stderr);
  }
  void finish() {
    if (shown_) std::fputs("\n", stderr);
    shown_ = false;
  }

 private:
  bool quiet_, tty_, shown_ = false;
  int last_done_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

void print_report(const rag::IndexReport& r, const fs::path& dir, const LoadedEmbedding* le) {
  std::fprintf(stderr, "index %s (%s)\n", dir.string().c_str(),
               le ? ("dense " + le->emb.model_id + " + BM25").c_str() : "BM25 only: no embedding model");
  if (r.rebuilt) std::fprintf(stderr, "rebuilt: %s\n", r.rebuild_reason.c_str());
  std::fprintf(stderr,
               "indexed %d, unchanged %d, removed %d, skipped %zu files; chunks +%d -%d, %d in the index; %.2f s\n",
               r.files_indexed, r.files_unchanged, r.files_removed, r.skipped.size(), r.chunks_added, r.chunks_removed,
               r.chunks_total, r.seconds);
  if (r.chunks_added > 0 && r.seconds > 0)
    std::fprintf(stderr, "%.0f chunks/s (%d embedding calls)\n", r.chunks_added / r.seconds, r.embed_calls);
  for (const auto& s : r.skipped) std::fprintf(stderr, "skipped %s: %s\n", s.rel.c_str(), s.reason.c_str());
}

// Builds or updates the index of f.docs; returns the embedding used (null: lexical only).
std::unique_ptr<LoadedEmbedding> update_index(const IndexFlags& f, const fs::path& dir) {
  auto existing = try_open(dir);
  auto le = resolve_embedding(f, existing.get());
  rag::BuildOptions bo;
  bo.chunk = chunk_options(f, le.get());
  // Without chunk flags an existing index of the same model keeps its own options (no rebuild by surprise).
  if (f.chunk_tokens == 0 && f.chunk_overlap < 0 && existing &&
      existing->info().model_id == (le ? le->emb.model_id : ""))
    bo.chunk = existing->info().chunk;
  existing.reset();
  ProgressBar bar(f.quiet);
  bo.progress.on_file = [&](int done, int total, int chunks, const std::string& rel) { bar.update(done, total, chunks, rel); };
  rag::IndexReport r;
  try {
    r = rag::build_index(f.docs, dir, le ? &le->emb : nullptr, bo, rag::default_source());
  } catch (...) {
    bar.finish();
    throw;
  }
  bar.finish();
  if (!f.quiet) print_report(r, dir, le.get());
  return le;
}

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

// ---- answering ----

const char* kInstruction =
    "Answer the question using only the numbered context passages below. Cite the passages you use as [n]. "
    "If the answer is not in them, say that the documents do not say.";

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

  std::string render(const std::string& question, const std::vector<rag::Hit>& hits, size_t n, size_t cut_last) const {
    std::string ctx;
    for (size_t i = 0; i < n; i++) {
      std::string text = hits[i].text;
      if (i + 1 == n && cut_last > 0 && cut_last < text.size()) text = text.substr(0, cut_last) + " ...";
      ctx += fmt::format("[{}] ({})\n{}\n\n", i + 1, rag::cite(hits[i]), text);
    }
    const std::string system = std::string(kInstruction) + "\n\nContext:\n\n" + ctx;
    if (!tmpl) return system + "Question: " + question + "\nAnswer:";
    try {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array(
          {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", question}}});
      return tmpl->apply(msgs, /*add_generation_prompt=*/true);
    } catch (const Error&) {  // a template without a system role: the context goes in the user turn
      nlohmann::ordered_json msgs =
          nlohmann::ordered_json::array({{{"role", "user"}, {"content", system + "Question: " + question}}});
      return tmpl->apply(msgs, /*add_generation_prompt=*/true);
    }
  }

  // Streams the answer to stdout, then the sources of the chunks in the prompt.
  void answer(const std::string& question, const std::vector<rag::Hit>& hits) {
    const int budget = context - sp.max_tokens;
    IGNIS_CHECK(budget > 0, "--max-tokens {} leaves no room in the model's {}-token context", sp.max_tokens, context);
    size_t n = hits.size(), cut = 0;
    std::vector<int32_t> ids = tok->encode(render(question, hits, n, 0), /*add_special_tokens=*/false);
    while (int(ids.size()) > budget && n > 1) ids = tok->encode(render(question, hits, --n, 0), false);
    if (int(ids.size()) > budget && n == 1) {  // even one chunk is too long: cut it
      cut = hits[0].text.size();
      while (int(ids.size()) > budget && cut > 16) {
        cut = cut * 3 / 4;
        ids = tok->encode(render(question, hits, 1, cut), false);
      }
    }
    IGNIS_CHECK(int(ids.size()) <= budget, "the question does not fit the model's {}-token context with --max-tokens {}",
                context, sp.max_tokens);
    if (n < hits.size() || cut > 0)
      std::fprintf(stderr, "note: %zu of %zu chunks fit the model's %d-token context%s\n", n, hits.size(), context,
                   cut > 0 ? " (cut)" : "");
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
               "usage: ignis rag <index|search|ask|chat> [options]\n\n"
               "  index   build or update a folder's index: --docs DIR [--embedding-model DIR] [--index PATH]\n"
               "  search  print the chunks retrieved for a query: (--docs DIR | --index PATH) \"query\"\n"
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
  if (sub == "ask") return run_ask_or_chat(argc - 1, argv + 1, false);
  if (sub == "chat") return run_ask_or_chat(argc - 1, argv + 1, true);
  std::fprintf(stderr, "error: unknown rag command '%s'\n", sub.c_str());
  usage();
  return 2;
}

}  // namespace
}  // namespace ignis::cli

IGNIS_COMMAND(rag, "chat with your documents: index a folder, search it, ask questions (index|search|ask|chat)",
              ignis::cli::run_rag);
#endif  // HAVE_IGNIS_RAG
