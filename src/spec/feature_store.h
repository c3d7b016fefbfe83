// ignis spec: a paged store of per-position feature rows (EAGLE's target hidden states).
//
// Every sequence holds the rows of a run of positions [base, end) in fixed pages of
// rows_per_page rows taken from one pool shared by all sequences, so a sequence that grows by a
// row per step never reallocates and copies what it holds, and a finished sequence's pages go
// back to the pool for the next one: the pool's memory is touched (page-faulted) once, at its
// high-water mark, not once per request. At hidden 4096 a prefill of 2,048 rows into fresh
// std::vectors cost 16-85 ms of first-touch faults on the engine thread (and a vector doubling
// past the prompt copied it all again), against 3 ms into warm pages.
// Free pages beyond max_free_pages are given back to the allocator.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace ignis {

class FeatureStore {
 public:
  // The rows held for one sequence: positions [base, base + count), row i of the run in page
  // pages[(first + i) / rows_per_page] at (first + i) % rows_per_page.
  struct Seq {
    int base = 0, count = 0;
    int first = 0;  // offset of the base row in the first page
    std::deque<int32_t> pages;
    bool empty() const { return count == 0; }
    int end() const { return base + count; }
  };

  explicit FeatureStore(size_t width = 0, int rows_per_page = 64, size_t max_free_pages = 256);
  size_t width() const { return width_; }
  int rows_per_page() const { return rows_per_page_; }

  // Stores rows (n, width) as positions pos .. pos + n - 1: rows before s.base are skipped (already
  // consumed), rows inside [base, end) overwrite, rows after end extend; a gap between end and pos
  // holds zero rows. An empty sequence starts at pos.
  void write(Seq& s, int pos, const float* rows, int n);
  // Row of position pos (base <= pos < end).
  const float* row(const Seq& s, int pos) const;
  // Drops the rows before pos (whole pages go back to the pool).
  void drop_before(Seq& s, int pos);
  // Keeps at most max_rows rows: the last ones.
  void keep_last(Seq& s, int max_rows);
  void release(Seq& s);  // every page back to the pool; s becomes empty
  // Allocates (and touches) pages until the pool holds `pages` free ones (at most max_free_pages):
  // the first requests then write into memory already faulted in.
  void reserve(size_t pages);

  size_t pages_allocated() const { return pages_.size() - dead_ids_.size(); }  // live + free pages (tests)
  size_t pages_free() const { return free_.size(); }

 private:
  float* page(int32_t id) const { return pages_[size_t(id)].get(); }
  float* at(const Seq& s, int pos) const;  // row() without the const
  int32_t take_page();  // a free page, else a new one
  int32_t new_page();   // allocated (reusing a given-back id)
  void give_page(int32_t id);

  size_t width_;
  int rows_per_page_;
  size_t max_free_;
  std::vector<std::unique_ptr<float[]>> pages_;  // by id; null = given back to the allocator
  std::vector<int32_t> free_;
  std::vector<int32_t> dead_ids_;  // ids whose page was given back (reused first)
};

}  // namespace ignis
