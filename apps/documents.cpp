// ignis serve --docs: the folder index behind /v1/documents and /v1/rag/chat.
// Locks: update_mu_ serializes folder changes and index updates (one at a time); a query copies the
// current Index (a shared_ptr swapped after each update) and searches it under that Index's own
// mutex, so an upload re-indexes while queries keep answering from the previous generation (an
// open Index holds its Faiss and BM25 in memory; its store reads skip chunks deleted since). The
// encoder is called from one thread at a time (EncoderTurn around each call; a waiting query's
// embedding goes before the update's next batch). The server runs these calls off its HTTP worker
// threads (server/documents.cpp, off_worker).
#include "documents.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"

#ifdef HAVE_IGNIS_RAG
#include "rag/answer.h"
#include "rag/index.h"
#include "rag_index.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"
#endif

namespace ignis::cli {

#ifdef HAVE_IGNIS_RAG
namespace {

struct OpenIndex {
  std::unique_ptr<rag::Index> index;
  std::mutex mu;  // one call at a time on this Index
};

const char* kAllowed = ".txt .text .md .markdown .pdf .docx .xml .html .htm .vtt .srt";

class FolderDocuments : public server::Documents {
 public:
  explicit FolderDocuments(const DocumentsOptions& o) : opts_(o) {
    fs::create_directories(o.docs);
    flags_.docs = fs::absolute(o.docs).lexically_normal().string();
    flags_.index = o.index;
    flags_.embedding_model = o.embedding_model;
    flags_.embedding_device = o.embedding_device;
    // Re-indexing shares the encoder with the questions being answered: small calls let a question's
    // query embedding in between (the CLI's 128 per call is for throughput).
    flags_.embed_batch = 16;
    dir_ = flags_.index_dir();
    tok_ = o.tok;
    if (!tok_->chat_template().empty())
      tmpl_ = std::make_unique<ChatTemplate>(ChatTemplate::from_model_dir(o.chat_model_dir));
    {
      auto existing = try_open(dir_);
      le_ = resolve_embedding(flags_, existing.get());
    }
    if (le_) {  // one encoder call at a time (queries and updates run on different threads); queries first
      auto passages = le_->emb.embed_passages;
      auto query = le_->emb.embed_query;
      auto count = le_->emb.count_tokens;
      le_->emb.embed_passages = [this, passages](const std::vector<std::string>& t) {
        EncoderTurn turn(*this, false);
        return passages(t);
      };
      le_->emb.embed_query = [this, query](const std::string& q) {
        EncoderTurn turn(*this, true);
        return query(q);
      };
      le_->emb.count_tokens = [this, count](const std::string& t) {
        EncoderTurn turn(*this, false);
        return count(t);
      };
    }
    std::lock_guard<std::mutex> l(update_mu_);
    update_locked(/*quiet=*/false);
  }

  server::json describe() override {
    auto idx = current();
    std::lock_guard<std::mutex> l(idx->mu);
    const rag::IndexInfo& in = idx->index->info();
    return {{"docs", flags_.docs},
            {"index", fs::absolute(dir_).lexically_normal().string()},
            {"embedding_model", in.model_id.empty() ? server::json(nullptr) : server::json(in.model_id)},
            {"retrieval", idx->index->dense() ? "hybrid" : "lexical"},
            {"files", idx->index->files().size()},
            {"chunks", in.chunks},
            {"max_document_bytes", opts_.max_document_bytes},
            {"extensions", kAllowed}};
  }

  std::vector<server::DocumentFile> list() override {
    auto idx = current();
    std::lock_guard<std::mutex> l(idx->mu);
    std::vector<server::DocumentFile> out;
    for (const rag::IndexedFile& f : idx->index->files()) out.push_back({f.rel, f.format, f.title, f.size, f.chunks});
    return out;
  }

  server::DocumentFile add(const std::string& name, const std::string& content, bool* replaced) override {
    if (rag::format_of(name).empty())
      server::throw_api(415, fmt::format("'{}': not a document type the index reads (allowed: {})", name, kAllowed),
                        "name", "unsupported_document_type");
    std::lock_guard<std::mutex> l(update_mu_);
    const fs::path docs(flags_.docs), target = docs / name;
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(target, ec);
    *replaced = fs::exists(st);
    if (*replaced && !fs::is_regular_file(st))
      server::throw_api(409, "'" + name + "' exists in the documents folder and is not a regular file", "name",
                        "document_conflict");
    const std::string stem = fmt::format(".ignis-upload-{}-{}", ::getpid(), ++counter_);
    const fs::path tmp = docs / (stem + ".tmp"), backup = docs / (stem + ".old");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(content.data(), std::streamsize(content.size()));
      out.flush();
      if (!out) {
        fs::remove(tmp, ec);
        IGNIS_FAIL("cannot write into the documents folder {}", flags_.docs);
      }
    }
    try {
      if (*replaced) fs::rename(target, backup);  // kept until the new version is indexed
      fs::rename(tmp, target);
    } catch (...) {
      fs::remove(tmp, ec);
      if (*replaced && !fs::exists(fs::symlink_status(target, ec))) fs::rename(backup, target, ec);
      throw;
    }
    rag::IndexReport r;
    try {
      r = update_locked(true);
    } catch (...) {
      restore(target, backup, *replaced);
      throw;
    }
    for (const auto& s : r.skipped)
      if (s.rel == name) {  // unreadable or hostile content: the folder and the index go back
        restore(target, backup, *replaced);
        try {
          update_locked(true);
        } catch (const Error& e) {
          std::fprintf(stderr, "ignis serve: documents: re-index after a refused upload failed: %s\n", e.what());
        }
        server::throw_api(422, "'" + name + "' cannot be indexed: " + s.reason, "content", "document_unreadable");
      }
    if (*replaced) fs::remove(backup, ec);
    for (const server::DocumentFile& f : list())
      if (f.name == name) return f;
    return {name, rag::format_of(name), "", content.size(), 0};  // indexed with no text (an empty file)
  }

  bool remove(const std::string& name) override {
    std::lock_guard<std::mutex> l(update_mu_);
    bool found = false;
    for (const server::DocumentFile& f : list()) found = found || f.name == name;
    if (!found) return false;
    // The name comes from the index (a walk below the folder), never from the request alone; the
    // walk follows symlinked directories, whose files are not removed (they live elsewhere).
    const fs::path path = fs::path(flags_.docs) / fs::path(name);
    std::error_code ec;
    const fs::path root = fs::canonical(flags_.docs), parent = fs::canonical(path.parent_path(), ec);
    const std::string rs = root.string(), ps = parent.string();
    if (ec || !(ps == rs || (ps.size() > rs.size() && ps.compare(0, rs.size(), rs) == 0 && ps[rs.size()] == '/')))
      server::throw_api(403, "'" + name + "' is reached through a symbolic link out of the documents folder; not removed",
                        "name", "document_outside_folder");
    fs::remove(path, ec);
    IGNIS_CHECK(!ec, "cannot remove {} from the documents folder: {}", name, ec.message());
    update_locked(true);
    return true;
  }

  void reindex() override {
    std::lock_guard<std::mutex> l(update_mu_);
    update_locked(true);
  }

  server::DocumentPrompt prepare(const std::vector<server::DocumentTurn>& history, const std::string& question,
                                 int top_k, const std::string& retrieval, int budget) override {
    auto idx = current();
    std::vector<rag::Hit> hits;
    server::DocumentPrompt p;
    {
      std::lock_guard<std::mutex> l(idx->mu);
      hits = idx->index->search(question, top_k, rag::parse_retrieval(retrieval), le_ ? &le_->emb : nullptr, &p.note);
    }
    std::vector<rag::ChatTurn> turns;
    for (const auto& t : history) turns.push_back({t.role, t.content});
    rag::RenderTurns render;
    if (tmpl_)
      render = [this](const std::vector<rag::ChatTurn>& ts) {
        nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
        for (const auto& t : ts) msgs.push_back({{"role", t.role}, {"content", t.content}});
        return tmpl_->apply(msgs, /*add_generation_prompt=*/true);
      };
    rag::AnswerPrompt ap = rag::fit_answer_prompt(
        question, hits, budget, render, [this](const std::string& s) { return tok_->encode(s, false); }, turns);
    p.ids = std::move(ap.ids);
    p.retrieved = int(hits.size());
    p.cut = ap.cut;
    for (size_t i = 0; i < ap.chunks; i++) {
      const rag::Hit& h = hits[i];
      p.sources.push_back({int(i) + 1, h.file, h.title, h.page, h.line, h.heading, h.anchor, rag::cite(h), h.text, h.score});
    }
    return p;
  }

  std::uint64_t max_document_bytes() const override { return opts_.max_document_bytes; }

 private:
  // Holds the encoder for one call. A query's turn comes before any update's next one (an update
  // embeds batch after batch; a plain mutex would let it take the encoder again and again).
  struct EncoderTurn {
    FolderDocuments& d;
    EncoderTurn(FolderDocuments& docs, bool query) : d(docs) {
      std::unique_lock<std::mutex> l(d.encoder_mu_);
      if (query) d.queries_waiting_++;
      d.encoder_cv_.wait(l, [&] { return !d.encoder_busy_ && (query || d.queries_waiting_ == 0); });
      if (query) d.queries_waiting_--;
      d.encoder_busy_ = true;
    }
    ~EncoderTurn() {
      {
        std::lock_guard<std::mutex> l(d.encoder_mu_);
        d.encoder_busy_ = false;
      }
      d.encoder_cv_.notify_all();
    }
  };

  std::shared_ptr<OpenIndex> current() {
    std::lock_guard<std::mutex> l(index_mu_);
    return index_;
  }

  // Under update_mu_: brings the index up to date with the folder and swaps in the new one.
  rag::IndexReport update_locked(bool quiet) {
    IndexFlags f = flags_;
    f.quiet = quiet;
    rag::IndexReport r = build_folder_index(f, dir_, le_.get());
    auto fresh = std::make_shared<OpenIndex>();
    fresh->index = rag::Index::open(dir_);
    if (quiet)
      std::fprintf(stderr, "ignis serve: documents: indexed %d, removed %d, skipped %zu files; %d chunks in the index\n",
                   r.files_indexed, r.files_removed, r.skipped.size(), r.chunks_total);
    std::lock_guard<std::mutex> l(index_mu_);
    index_ = std::move(fresh);
    return r;
  }

  void restore(const fs::path& target, const fs::path& backup, bool replaced) {
    std::error_code ec;
    fs::remove(target, ec);
    if (replaced) fs::rename(backup, target, ec);
  }

  DocumentsOptions opts_;
  IndexFlags flags_;
  fs::path dir_;
  std::shared_ptr<const Tokenizer> tok_;
  std::unique_ptr<ChatTemplate> tmpl_;
  std::unique_ptr<LoadedEmbedding> le_;
  std::mutex encoder_mu_, update_mu_, index_mu_;
  std::condition_variable encoder_cv_;  // under encoder_mu_: encoder_busy_, queries_waiting_
  bool encoder_busy_ = false;
  int queries_waiting_ = 0;
  std::shared_ptr<OpenIndex> index_;  // under index_mu_
  std::atomic<int> counter_{0};
};

}  // namespace

std::shared_ptr<server::Documents> open_documents(const DocumentsOptions& opts) {
  return std::make_shared<FolderDocuments>(opts);
}
#else
std::shared_ptr<server::Documents> open_documents(const DocumentsOptions& opts) {
  IGNIS_FAIL("--docs {}: this build has no document index (src/rag needs poppler, libzip, SQLite and Faiss)", opts.docs);
}
#endif

}  // namespace ignis::cli
