// ignis rag: the SQLite store (see rag/index.h for the on-disk layout and commit protocol).
#include "rag/index/store.h"

#include <sqlite3.h>

#include <cstring>

#include "core/error.h"

namespace ignis::rag {

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
  int rc = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
  IGNIS_CHECK(rc == SQLITE_OK, "index store: cannot prepare '{}': {}", sql, sqlite3_errmsg(db));
}

Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_blob(int i, const void* data, size_t n) {
  if (data)
    sqlite3_bind_blob(st_, i, data, int(n), SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st_, i);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(st_);
  IGNIS_FAIL("index store: {}", msg);
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(st_, col); }

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(st_, col))) : std::string();
}

const void* Stmt::blob(int col, size_t* n) const {
  const void* p = sqlite3_column_blob(st_, col);
  *n = size_t(sqlite3_column_bytes(st_, col));
  return p;
}

Store::Store(const std::filesystem::path& file, bool create) : name_(file.string()) {
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(name_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    IGNIS_FAIL("{}: cannot open the index store: {}", name_, msg);
  }
  sqlite3_busy_timeout(db_, 60000);  // a reader opening a large index holds its lock for a while
  try {
    exec("PRAGMA foreign_keys = ON");
    // Reading anything validates the header: a file that is not SQLite fails here.
    Stmt(db_, "SELECT count(*) FROM sqlite_master").step();
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    IGNIS_FAIL("{}: not an index store ({}); delete its directory to build the index afresh", name_, e.what());
  }
}

Store::~Store() {
  if (in_tx_) rollback();
  sqlite3_close(db_);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    IGNIS_FAIL("index store {}: {}", name_, msg);
  }
}

void Store::begin() {
  exec("BEGIN IMMEDIATE");
  in_tx_ = true;
}

void Store::begin_read() {
  exec("BEGIN");
  in_tx_ = true;
  Stmt(db_, "SELECT count(*) FROM sqlite_master").step();  // takes the shared lock now
}

void Store::commit() {
  exec("COMMIT");
  in_tx_ = false;
}

void Store::rollback() noexcept {
  if (!in_tx_) return;
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  in_tx_ = false;
}

bool Store::has_schema() {
  Stmt s(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  return s.step();
}

void Store::create_schema() {
  exec(
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS files(id INTEGER PRIMARY KEY AUTOINCREMENT, rel TEXT NOT NULL UNIQUE,"
      " sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, format TEXT NOT NULL,"
      " title TEXT NOT NULL, chunks INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
      " page INTEGER NOT NULL, line INTEGER NOT NULL, heading TEXT NOT NULL, anchor TEXT NOT NULL,"
      " tokens INTEGER NOT NULL, text TEXT NOT NULL, vector BLOB);"
      "CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);");
}

std::optional<std::string> Store::meta(const std::string& key) {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

void Store::set_meta(const std::string& key, const std::string& value) {
  Stmt s(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.bind(1, key).bind(2, value).run();
}

std::map<std::string, FileRecord> Store::files() {
  std::map<std::string, FileRecord> out;
  Stmt s(db_, "SELECT id, rel, sha256, size, mtime_ns, format, title, chunks FROM files");
  while (s.step()) {
    FileRecord f;
    f.id = s.int64(0);
    f.rel = s.text(1);
    f.sha256 = s.text(2);
    f.size = s.int64(3);
    f.mtime_ns = s.int64(4);
    f.format = s.text(5);
    f.title = s.text(6);
    f.chunks = int(s.int64(7));
    out[f.rel] = f;
  }
  return out;
}

std::int64_t Store::insert_file(const FileRecord& f) {
  Stmt s(db_, "INSERT INTO files(rel, sha256, size, mtime_ns, format, title, chunks) VALUES(?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, f.rel).bind(2, f.sha256).bind(3, f.size).bind(4, f.mtime_ns).bind(5, f.format).bind(6, f.title);
  s.bind(7, std::int64_t(f.chunks)).run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::update_file_stat(std::int64_t id, std::int64_t size, std::int64_t mtime_ns) {
  Stmt s(db_, "UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?");
  s.bind(1, size).bind(2, mtime_ns).bind(3, id).run();
}

int Store::delete_file(std::int64_t id) {
  Stmt c(db_, "DELETE FROM chunks WHERE file_id = ?");
  c.bind(1, id).run();
  int n = sqlite3_changes(db_);
  Stmt f(db_, "DELETE FROM files WHERE id = ?");
  f.bind(1, id).run();
  return n;
}

void Store::delete_all() { exec("DELETE FROM chunks; DELETE FROM files;"); }

std::int64_t Store::insert_chunk(const ChunkRecord& c, const float* vec, int dim) {
  static const char* sql =
      "INSERT INTO chunks(file_id, seq, page, line, heading, anchor, tokens, text, vector)"
      " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)";
  Stmt s(db_, sql);
  s.bind(1, c.file_id).bind(2, std::int64_t(c.seq)).bind(3, std::int64_t(c.page)).bind(4, std::int64_t(c.line));
  s.bind(5, c.heading).bind(6, c.anchor).bind(7, std::int64_t(c.tokens)).bind(8, c.text);
  s.bind_blob(9, vec, vec ? size_t(dim) * sizeof(float) : 0).run();
  return sqlite3_last_insert_rowid(db_);
}

int Store::count_files() {
  Stmt s(db_, "SELECT count(*) FROM files");
  s.step();
  return int(s.int64(0));
}

int Store::count_chunks() {
  Stmt s(db_, "SELECT count(*) FROM chunks");
  s.step();
  return int(s.int64(0));
}

void Store::each_text(const std::function<void(std::int64_t, const std::string&)>& fn) {
  Stmt s(db_, "SELECT id, text FROM chunks ORDER BY id");
  while (s.step()) fn(s.int64(0), s.text(1));
}

void Store::each_vector(int dim, const std::function<void(std::int64_t, const float*)>& fn) {
  Stmt s(db_, "SELECT id, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id");
  std::vector<float> v(static_cast<size_t>(dim));
  while (s.step()) {
    size_t n = 0;
    const void* p = s.blob(1, &n);
    IGNIS_CHECK(n == size_t(dim) * sizeof(float), "{}: chunk {} has a vector of {} bytes, expected {}", name_,
                s.int64(0), n, size_t(dim) * sizeof(float));
    std::memcpy(v.data(), p, n);
    fn(s.int64(0), v.data());
  }
}

std::vector<std::int64_t> Store::chunk_ids() {
  std::vector<std::int64_t> out;
  Stmt s(db_, "SELECT id FROM chunks ORDER BY id");
  while (s.step()) out.push_back(s.int64(0));
  return out;
}

bool Store::chunk(std::int64_t id, ChunkRecord* c, std::string* rel, std::string* title) {
  Stmt s(db_,
         "SELECT c.file_id, c.seq, c.page, c.line, c.heading, c.anchor, c.tokens, c.text, f.rel, f.title"
         " FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?");
  s.bind(1, id);
  if (!s.step()) return false;
  c->id = id;
  c->file_id = s.int64(0);
  c->seq = int(s.int64(1));
  c->page = int(s.int64(2));
  c->line = int(s.int64(3));
  c->heading = s.text(4);
  c->anchor = s.text(5);
  c->tokens = int(s.int64(6));
  c->text = s.text(7);
  *rel = s.text(8);
  *title = s.text(9);
  return true;
}

}  // namespace ignis::rag
