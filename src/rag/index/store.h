// ignis rag (internal): the SQLite store of an index (index.sqlite): meta, files, chunks.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace ignis::rag {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind_blob(int i, const void* data, size_t n);
  bool step();  // true: a row is ready; false: done. Throws Error on failure.
  void run() { step(); reset(); }
  void reset();
  std::int64_t int64(int col) const;
  std::string text(int col) const;
  const void* blob(int col, size_t* n) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

struct FileRecord {
  std::int64_t id = 0;
  std::string rel, sha256, format, title;
  std::int64_t size = 0, mtime_ns = 0;
  int chunks = 0;
};

struct ChunkRecord {
  std::int64_t id = 0, file_id = 0;
  int seq = 0, page = 0, line = 0, tokens = 0;
  std::string heading, anchor, text;
};

class Store {
 public:
  static constexpr int kVersion = 1;
  // Opens (create: creating the file and schema if missing). Throws Error naming the file.
  Store(const std::filesystem::path& file, bool create);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void begin();       // a write transaction (BEGIN IMMEDIATE)
  void begin_read();  // a read transaction: a writer cannot commit until commit() / rollback()
  void commit();
  void rollback() noexcept;
  bool has_schema();   // the meta table exists
  void create_schema();

  std::optional<std::string> meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

  std::map<std::string, FileRecord> files();  // by rel
  std::int64_t insert_file(const FileRecord& f);
  void update_file_stat(std::int64_t id, std::int64_t size, std::int64_t mtime_ns);
  int delete_file(std::int64_t id);  // its chunks too; returns how many chunks went
  void delete_all();
  std::int64_t insert_chunk(const ChunkRecord& c, const float* vec, int dim);
  int count_files();
  int count_chunks();

  // Every chunk's (id, text), id order.
  void each_text(const std::function<void(std::int64_t, const std::string&)>& fn);
  // Every chunk's (id, vector) where a vector is stored, id order; throws if one has another dim.
  void each_vector(int dim, const std::function<void(std::int64_t, const float*)>& fn);
  std::vector<std::int64_t> chunk_ids();
  // The chunk with its file's rel path and title; false if there is none with that id.
  bool chunk(std::int64_t id, ChunkRecord* c, std::string* rel, std::string* title);

  sqlite3* db() { return db_; }
  const std::string& name() const { return name_; }

 private:
  void exec(const char* sql);
  sqlite3* db_ = nullptr;
  std::string name_;
  bool in_tx_ = false;
};

}  // namespace ignis::rag
