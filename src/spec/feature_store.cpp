#include "spec/feature_store.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace ignis {

FeatureStore::FeatureStore(size_t width, int rows_per_page, size_t max_free_pages)
    : width_(width), rows_per_page_(rows_per_page), max_free_(max_free_pages) {
  IGNIS_CHECK(rows_per_page > 0, "feature store: {} rows per page", rows_per_page);
}

int32_t FeatureStore::take_page() {
  if (free_.empty()) return new_page();
  const int32_t id = free_.back();
  free_.pop_back();
  return id;
}

int32_t FeatureStore::new_page() {
  auto mem = std::make_unique<float[]>(width_ * size_t(rows_per_page_));  // value-initialized: touched
  if (dead_ids_.empty()) {
    pages_.push_back(std::move(mem));
    return int32_t(pages_.size() - 1);
  }
  const int32_t id = dead_ids_.back();
  dead_ids_.pop_back();
  pages_[size_t(id)] = std::move(mem);
  return id;
}

void FeatureStore::give_page(int32_t id) {
  if (free_.size() < max_free_) {
    free_.push_back(id);
    return;
  }
  pages_[size_t(id)].reset();
  dead_ids_.push_back(id);
}

const float* FeatureStore::row(const Seq& s, int pos) const { return at(s, pos); }

float* FeatureStore::at(const Seq& s, int pos) const {
  IGNIS_CHECK(pos >= s.base && pos < s.end(), "feature store: position {} outside the held rows [{}, {})", pos, s.base,
              s.end());
  const int i = s.first + (pos - s.base);
  return page(s.pages[size_t(i / rows_per_page_)]) + size_t(i % rows_per_page_) * width_;
}

void FeatureStore::write(Seq& s, int pos, const float* rows, int n) {
  IGNIS_CHECK(n >= 0 && pos >= 0, "feature store: {} rows at position {}", n, pos);
  if (n == 0) return;
  if (s.empty()) {
    release(s);
    s.base = pos;
  }
  const int skip = std::max(0, s.base - pos);  // rows before what is held: already consumed
  if (skip >= n) return;
  const int from = pos + skip, to = pos + n;
  // Grow to `to` (a gap before `from` is zero rows), then copy.
  const int old_end = s.end();
  if (to > old_end) {
    const int need = s.first + (to - s.base);
    while (int(s.pages.size()) * rows_per_page_ < need) s.pages.push_back(take_page());
    s.count = to - s.base;
    for (int p = old_end; p < from; ++p) std::memset(at(s, p), 0, width_ * sizeof(float));
  }
  for (int p = from; p < to;) {  // page by page
    const int i = s.first + (p - s.base);
    const int in_page = std::min(to - p, rows_per_page_ - i % rows_per_page_);
    std::memcpy(at(s, p), rows + size_t(p - pos) * width_, size_t(in_page) * width_ * sizeof(float));
    p += in_page;
  }
}

void FeatureStore::drop_before(Seq& s, int pos) {
  if (pos <= s.base) return;
  if (pos >= s.end()) {
    release(s);
    s.base = pos;
    return;
  }
  const int drop = pos - s.base;
  s.first += drop;
  s.base = pos;
  s.count -= drop;
  while (s.first >= rows_per_page_) {
    give_page(s.pages.front());
    s.pages.pop_front();
    s.first -= rows_per_page_;
  }
}

void FeatureStore::keep_last(Seq& s, int max_rows) {
  if (s.count > max_rows) drop_before(s, s.end() - std::max(0, max_rows));
}

void FeatureStore::reserve(size_t pages) {
  while (free_.size() < std::min(pages, max_free_)) free_.push_back(new_page());
}

void FeatureStore::release(Seq& s) {
  for (int32_t id : s.pages) give_page(id);
  s.pages.clear();
  s.count = 0;
  s.first = 0;
}

}  // namespace ignis
