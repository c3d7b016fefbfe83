// ignis rag: building and incrementally updating an index (see rag/index.h for the layout).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <cmath>
#include <future>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/worker_pool.h"
#include "rag/index.h"
#include "rag/index/atomic_file.h"
#include "rag/index/dense.h"
#include "rag/index/sha256.h"
#include "rag/index/store.h"

namespace ignis::rag {
namespace fs = std::filesystem;

namespace {

void normalize(std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  if (s <= 0) return;
  const float inv = float(1.0 / std::sqrt(s));
  for (float& x : v) x *= inv;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// Removes derived files other than `keep` (left by earlier generations or an interrupted run).
void remove_stale(const fs::path& dir, const std::set<std::string>& keep) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(".tmp")) name.resize(name.size() - 4);
    bool derived = (name.rfind("dense-", 0) == 0 && name.ends_with(".faiss")) ||
                   (name.rfind("lexical-", 0) == 0 && name.ends_with(".bm25"));
    if (derived && !keep.count(it->path().filename().string())) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}

// Embeds texts in batches, checking what comes back; vectors normalized.
void embed_chunks(const Embedding& emb, const std::vector<std::string>& texts, std::vector<std::vector<float>>& out,
                  int batch, IndexReport& report, const std::function<void(int)>& on_batch) {
  batch = std::max(1, batch);
  out.clear();
  out.reserve(texts.size());
  for (size_t b = 0; b < texts.size(); b += size_t(batch)) {
    std::vector<std::string> part(texts.begin() + b, texts.begin() + std::min(texts.size(), b + size_t(batch)));
    std::vector<std::vector<float>> v = emb.embed_passages(part);
    report.embed_calls++;
    IGNIS_CHECK(v.size() == part.size(), "embedding model {}: {} vectors for {} texts", emb.model_id, v.size(),
                part.size());
    for (auto& x : v) {
      IGNIS_CHECK(int(x.size()) == emb.dim, "embedding model {}: a vector of {} floats, expected {}", emb.model_id,
                  x.size(), emb.dim);
      normalize(x);
      out.push_back(std::move(x));
    }
    if (on_batch) on_batch(int(out.size()));
  }
}

// An ignis::Error message without the leading "<path>: " (the report line names the file).
std::string without_path(std::string msg, const fs::path& path) {
  if (msg.rfind(path.string() + ": ", 0) == 0) msg.erase(0, path.string().size() + 2);
  return msg;
}

// What one file needs done to the store, worked out without the store (on the pool's threads).
struct Prepared {
  enum Kind { Skip, Unchanged, Touched, Parsed } kind = Skip;
  const FileRecord* was = nullptr;  // what the index holds for the file, if anything
  std::string reason;  // Skip
  std::int64_t size = 0, mtime_ns = 0;
  std::string sha, format, title;  // Parsed (sha also for Touched)
  std::vector<Chunk> chunks;       // Parsed
};

Prepared prepare_file(const FolderEntry& e, const FileRecord* was, const Embedding* emb, const BuildOptions& opt,
                      const IndexSource& source) {
  Prepared p;
  p.was = was;
  auto skip = [&](std::string reason) {
    p.kind = Prepared::Skip;
    p.reason = std::move(reason);
    return p;
  };
  struct stat st {};
  if (::stat(e.path.c_str(), &st) != 0) return skip(fmt::format("unreadable: {}", std::strerror(errno)));
  p.size = st.st_size;
  p.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (uint64_t(p.size) > opt.max_file_bytes) {
    const uint64_t mib = opt.max_file_bytes >> 20;
    return skip(mib << 20 == opt.max_file_bytes ? fmt::format("larger than {} MiB", mib)
                                                : fmt::format("larger than {} bytes", opt.max_file_bytes));
  }
  if (was && was->size == p.size && was->mtime_ns == p.mtime_ns) {
    p.kind = Prepared::Unchanged;
    return p;
  }
  try {
    p.sha = sha256_file(e.path);
  } catch (const Error& err) {
    return skip("unreadable: " + without_path(err.what(), e.path));
  }
  if (was && was->sha256 == p.sha) {
    p.kind = Prepared::Touched;
    return p;
  }
  ParsedDocument doc;
  try {
    doc = source.parse(e);
  } catch (const ParseError& err) {
    return skip(err.what());
  } catch (const Error& err) {
    return skip(without_path(err.what(), e.path));
  }
  p.kind = Prepared::Parsed;
  p.format = std::move(doc.format);
  p.title = std::move(doc.title);
  p.chunks = chunk_passages(doc.passages, opt.chunk, emb ? emb->count_tokens : nullptr);
  return p;
}

}  // namespace

IndexReport build_index(const fs::path& docs, const fs::path& index_dir, const Embedding* emb,
                        const BuildOptions& opt, const IndexSource& source) {
  const auto t0 = std::chrono::steady_clock::now();
  IGNIS_CHECK(source.scan && source.parse, "build_index: the index source needs scan and parse");
  chunk_passages({}, opt.chunk, nullptr);  // validates the chunk options
  if (emb) {
    IGNIS_CHECK(emb->dim > 0 && emb->embed_passages && !emb->model_id.empty(),
                "build_index: the embedding needs a model id, a dimension and embed_passages");
  }
  IndexReport report;
  FolderScan scan = source.scan(docs);
  {  // an index kept inside the folder (not hidden) is not a document
    const std::string inside = fs::weakly_canonical(index_dir).string() + "/";
    const fs::path root = fs::weakly_canonical(docs);
    auto in_index = [&](const std::string& rel) { return (root / rel).string().rfind(inside, 0) == 0; };
    std::erase_if(scan.files, [&](const FolderEntry& e) { return in_index(e.rel); });
    std::erase_if(scan.skipped, [&](const SkippedEntry& e) { return in_index(e.rel); });
  }
  report.files_seen = int(scan.files.size());
  report.skipped = scan.skipped;

  std::error_code ec;
  fs::create_directories(index_dir, ec);
  IGNIS_CHECK(!ec, "{}: cannot create the index directory: {}", index_dir.string(), ec.message());
  Store store(index_dir / "index.sqlite", /*create=*/true);
  store.begin();
  std::vector<std::string> written;  // derived files of this run, removed if the run fails
  try {
    const bool fresh = !store.has_schema();
    if (fresh) store.create_schema();
    const std::string model_id = emb ? emb->model_id : "";
    auto meta_int = [&](const char* key) {  // -1: absent or not a number (then the index is rebuilt)
      auto v = store.meta(key);
      try {
        return v ? std::stoll(*v) : -1ll;
      } catch (const std::exception&) {
        return -1ll;
      }
    };
    if (fresh) {
      report.rebuilt = true, report.rebuild_reason = "new index";
    } else if (meta_int("version") != Store::kVersion) {
      report.rebuilt = true, report.rebuild_reason = "index format changed";
    } else if (store.meta("model_id").value_or("") != model_id) {
      report.rebuilt = true;
      std::string was = store.meta("model_id").value_or("");
      report.rebuild_reason = fmt::format("embedding model changed ({} -> {})", was.empty() ? "none" : was,
                                          model_id.empty() ? "none" : model_id);
    } else if (meta_int("chunk_tokens") != opt.chunk.chunk_tokens ||
               meta_int("overlap_tokens") != opt.chunk.overlap_tokens) {
      report.rebuilt = true;
      report.rebuild_reason = fmt::format("chunk options changed ({}/{} -> {}/{})", meta_int("chunk_tokens"),
                                          meta_int("overlap_tokens"), opt.chunk.chunk_tokens, opt.chunk.overlap_tokens);
    }
    if (report.rebuilt && !fresh) {
      report.chunks_removed = store.count_chunks();
      store.delete_all();
    }
    const std::string old_faiss = report.rebuilt && !fresh ? std::string() : store.meta("faiss_file").value_or("");
    store.set_meta("version", std::to_string(Store::kVersion));
    store.set_meta("model_id", model_id);
    store.set_meta("model_dir", emb ? emb->model_dir : "");
    store.set_meta("dim", std::to_string(emb ? emb->dim : 0));
    store.set_meta("chunk_tokens", std::to_string(opt.chunk.chunk_tokens));
    store.set_meta("overlap_tokens", std::to_string(opt.chunk.overlap_tokens));
    store.set_meta("docs", fs::absolute(docs).lexically_normal().string());

    std::map<std::string, FileRecord> old = store.files();
    std::set<std::string> present;
    for (const FolderEntry& e : scan.files) present.insert(e.rel);
    bool changed = report.rebuilt;
    for (const auto& [rel, f] : old) {
      if (present.count(rel)) continue;
      report.chunks_removed += store.delete_file(f.id);
      report.files_removed++;
      changed = true;
    }

    // Files go in windows: the pool reads, hashes, parses and chunks a window's files at once
    // (prepare_file touches no store), then this thread embeds the window's new chunks in batches
    // that cross file boundaries and writes the files to the store in folder order.
    const int total = int(scan.files.size());
    const int threads = opt.threads > 0 ? opt.threads : std::clamp(int(std::thread::hardware_concurrency()), 1, 8);
    WorkerPool pool(threads - 1);
    std::vector<std::pair<int, int>> windows;  // [w0, w1) file ranges
    for (int w0 = 0; w0 < total;) {
      int w1 = w0;
      std::uint64_t bytes = 0;
      while (w1 < total && w1 - w0 < 4 * threads && (w1 == w0 || bytes < opt.window_bytes)) {
        const std::uint64_t sz = scan.files[size_t(w1)].size;  // as scanned; prepare_file stats again
        if (sz <= opt.max_file_bytes) bytes += sz;
        w1++;
      }
      windows.emplace_back(w0, w1);
      w0 = w1;
    }
    // The next window is prepared on its own thread (driving the pool) while this one embeds and
    // writes; prepare_seconds counts only the wait for it.
    auto prepare_window = [&](size_t wi) {
      const int w0 = windows[wi].first;
      std::vector<Prepared> out(size_t(windows[wi].second - w0));
      pool.run(out.size(), [&](size_t k) {
        const FolderEntry& e = scan.files[size_t(w0) + k];
        auto prev = old.find(e.rel);
        out[k] = prepare_file(e, prev != old.end() ? &prev->second : nullptr, emb, opt, source);
      });
      return out;
    };
    std::future<std::vector<Prepared>> next;
    if (!windows.empty()) next = std::async(std::launch::async, prepare_window, size_t(0));
    for (size_t wi = 0; wi < windows.size(); wi++) {
      const int w0 = windows[wi].first;
      auto tick = std::chrono::steady_clock::now();
      auto lap = [&tick] {
        const auto now = std::chrono::steady_clock::now();
        const double sec = std::chrono::duration<double>(now - tick).count();
        tick = now;
        return sec;
      };
      std::vector<Prepared> window = next.get();
      if (wi + 1 < windows.size()) next = std::async(std::launch::async, prepare_window, wi + 1);
      report.prepare_seconds += lap();
      // The window's new chunks, embedded in batches of embed_batch across its files.
      std::vector<std::vector<float>> vecs;
      if (emb) {
        std::vector<std::string> texts;
        std::vector<int> file_of;  // window index of each text
        for (size_t k = 0; k < window.size(); k++)
          for (const Chunk& c : window[k].chunks) {
            texts.push_back(c.text);
            file_of.push_back(int(k));
          }
        if (!texts.empty()) {
          const int before = report.chunks_added;
          embed_chunks(*emb, texts, vecs, opt.embed_batch, report, [&](int done) {
            const int k = file_of[size_t(done - 1)];
            if (opt.progress.on_file) opt.progress.on_file(w0, total, before + done, scan.files[size_t(w0 + k)].rel);
          });
        }
      }

      report.embed_seconds += lap();
      size_t next_vec = 0;
      for (size_t k = 0; k < window.size(); k++) {
        const int i = w0 + int(k);
        const FolderEntry& e = scan.files[size_t(i)];
        Prepared& p = window[k];
        const FileRecord* was = p.was;
        switch (p.kind) {
          case Prepared::Skip:
            report.skipped.push_back({e.rel, first_line(p.reason)});
            if (was) {  // what the index held for it is no longer the file
              report.chunks_removed += store.delete_file(was->id);
              changed = true;
            }
            break;
          case Prepared::Touched:  // touched, not changed
            store.update_file_stat(was->id, p.size, p.mtime_ns);
            [[fallthrough]];
          case Prepared::Unchanged:
            report.files_unchanged++;
            break;
          case Prepared::Parsed: {
            if (was) report.chunks_removed += store.delete_file(was->id);
            FileRecord f;
            f.rel = e.rel;
            f.sha256 = p.sha;
            f.size = p.size;
            f.mtime_ns = p.mtime_ns;
            f.format = p.format.empty() ? e.format : p.format;
            f.title = p.title;
            f.chunks = int(p.chunks.size());
            const std::int64_t file_id = store.insert_file(f);
            for (size_t c = 0; c < p.chunks.size(); c++) {
              const Chunk& ch = p.chunks[c];
              ChunkRecord r;
              r.file_id = file_id;
              r.seq = int(c);
              r.page = ch.page;
              r.line = ch.line;
              r.heading = ch.heading;
              r.anchor = ch.anchor;
              r.tokens = ch.tokens;
              r.text = ch.text;
              store.insert_chunk(r, emb ? vecs[next_vec + c].data() : nullptr, emb ? emb->dim : 0);
            }
            next_vec += p.chunks.size();
            report.files_indexed++;
            report.chunks_added += int(p.chunks.size());
            changed = true;
            break;
          }
        }
        if (opt.progress.on_file) opt.progress.on_file(i + 1, total, report.chunks_added, e.rel);
      }
      report.write_seconds += lap();
    }

    // The derived files (Faiss from the store's vectors, the BM25 snapshot from its texts) are
    // rebuilt under a new generation when anything changed or one is missing.
    const std::string old_lexical = report.rebuilt && !fresh ? std::string() : store.meta("lexical_file").value_or("");
    auto missing = [&](const std::string& name) { return name.empty() || !fs::exists(index_dir / name); };
    std::string faiss_file = emb ? old_faiss : "", lexical_file = old_lexical;
    const auto derived_t0 = std::chrono::steady_clock::now();
    if (changed || missing(old_lexical) || (emb && missing(old_faiss))) {
      const std::int64_t gen = meta_int("gen") + 1;
      if (emb) {
        DenseIndex dense(emb->dim);
        std::vector<float> buf;
        std::vector<std::int64_t> ids;
        store.each_vector(emb->dim, [&](std::int64_t id, const float* v) {
          ids.push_back(id);
          buf.insert(buf.end(), v, v + emb->dim);
        });
        dense.add(std::int64_t(ids.size()), buf.data(), ids.data());
        faiss_file = fmt::format("dense-{}.faiss", gen);
        written.push_back(faiss_file);
        dense.write(index_dir / faiss_file);
      }
      Bm25 bm25;
      {  // terms extracted on the pool in blocks, added in id order (the snapshot is the same)
        std::vector<std::int64_t> ids;
        std::vector<std::string> texts;
        std::vector<std::vector<std::string>> terms;
        auto flush = [&] {
          terms.assign(texts.size(), {});
          pool.run(texts.size(), [&](size_t k) { terms[k] = lexical_terms(texts[k]); });
          for (size_t k = 0; k < ids.size(); k++) bm25.add_terms(ids[k], std::move(terms[k]));
          ids.clear();
          texts.clear();
        };
        store.each_text([&](std::int64_t id, const std::string& text) {
          ids.push_back(id);
          texts.push_back(text);
          if (texts.size() == 4096) flush();
        });
        flush();
      }
      lexical_file = fmt::format("lexical-{}.bm25", gen);
      written.push_back(lexical_file);
      bm25.save(index_dir / lexical_file);
      fsync_dir(index_dir);
      store.set_meta("gen", std::to_string(gen));
    }
    report.write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - derived_t0).count();
    store.set_meta("faiss_file", faiss_file);
    store.set_meta("lexical_file", lexical_file);
    report.chunks_total = store.count_chunks();
    store.commit();
    written.clear();
    remove_stale(index_dir, {faiss_file, lexical_file});
  } catch (...) {
    store.rollback();
    for (const std::string& name : written) {
      std::error_code rm;
      fs::remove(index_dir / name, rm);
      fs::remove(index_dir / (name + ".tmp"), rm);
    }
    throw;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ignis::rag
