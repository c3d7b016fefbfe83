// spec/feature_store.h: paged feature rows against a plain per-position map (writes that skip,
// overwrite, extend and leave zero gaps; dropping consumed rows; keeping the last rows), pages
// reused across sequences, free pages beyond the cap given back.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "spec/feature_store.h"

namespace ignis {
namespace {

constexpr size_t W = 3;

std::vector<float> rows_of(int pos, int n, float tag) {
  std::vector<float> r;
  for (int i = 0; i < n; ++i)
    for (size_t c = 0; c < W; ++c) r.push_back(tag + float(pos + i) + 0.1f * float(c));
  return r;
}

// What a FeatureStore::Seq must hold: base, and the rows of [base, end).
struct Reference {
  int base = 0;
  std::vector<std::vector<float>> rows;
  bool empty() const { return rows.empty(); }
  int end() const { return base + int(rows.size()); }
  void write(int pos, const std::vector<float>& r, int n) {
    if (n == 0) return;
    if (empty()) base = pos;
    for (int i = 0; i < n; ++i) {
      const int p = pos + i;
      if (p < base) continue;
      while (end() <= p) rows.emplace_back(W, 0.0f);
      rows[size_t(p - base)].assign(r.begin() + long(size_t(i) * W), r.begin() + long(size_t(i + 1) * W));
    }
  }
  void drop_before(int pos) {
    if (pos <= base) return;
    const int drop = std::min(pos - base, int(rows.size()));
    rows.erase(rows.begin(), rows.begin() + drop);
    base = pos;
  }
};

void expect_same(const FeatureStore& st, const FeatureStore::Seq& s, const Reference& ref, const std::string& what) {
  ASSERT_EQ(s.count, int(ref.rows.size())) << what;
  if (ref.empty()) return;
  ASSERT_EQ(s.base, ref.base) << what;
  for (int p = ref.base; p < ref.end(); ++p) {
    const float* r = st.row(s, p);
    for (size_t c = 0; c < W; ++c) ASSERT_EQ(r[c], ref.rows[size_t(p - ref.base)][c]) << what << " position " << p;
  }
}

TEST(FeatureStore, MatchesAPlainMapUnderRandomWritesAndDrops) {
  FeatureStore st(W, 4, 8);
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    FeatureStore::Seq s;
    Reference ref;
    for (int op = 0; op < 60; ++op) {
      const int kind = int(rng() % 10);
      const int at = ref.empty() ? int(rng() % 20) : ref.base + int(rng() % 30) - 5;
      const std::string what = "trial " + std::to_string(trial) + " op " + std::to_string(op);
      if (kind < 6) {  // write: before, inside, after (gaps) what is held
        const int n = int(rng() % 11);
        const auto r = rows_of(std::max(at, 0), n, float(op) * 100.0f);
        st.write(s, std::max(at, 0), r.data(), n);
        ref.write(std::max(at, 0), r, n);
      } else if (kind < 9) {
        st.drop_before(s, std::max(at, 0));
        ref.drop_before(std::max(at, 0));
      } else {
        const int keep = int(rng() % 8);
        st.keep_last(s, keep);
        if (int(ref.rows.size()) > keep) ref.drop_before(ref.end() - keep);
      }
      expect_same(st, s, ref, what);
      EXPECT_LE(int(s.pages.size()) * st.rows_per_page(), s.first + s.count + 2 * st.rows_per_page()) << what;
    }
    st.release(s);
    EXPECT_TRUE(s.empty());
  }
}

TEST(FeatureStore, GapsAreZeroAndConsumedRowsAreSkipped) {
  FeatureStore st(W, 4);
  FeatureStore::Seq s;
  const auto a = rows_of(10, 2, 0);
  st.write(s, 10, a.data(), 2);
  EXPECT_EQ(s.base, 10);
  EXPECT_EQ(s.end(), 12);
  const auto b = rows_of(15, 1, 1000);
  st.write(s, 15, b.data(), 1);  // 12..14: zero rows
  EXPECT_EQ(s.end(), 16);
  for (int p = 12; p < 15; ++p)
    for (size_t c = 0; c < W; ++c) EXPECT_EQ(st.row(s, p)[c], 0.0f);
  EXPECT_EQ(st.row(s, 15)[0], 1015.0f);
  st.drop_before(s, 13);
  const auto c = rows_of(11, 3, 2000);  // 11, 12 consumed: only 13 written
  st.write(s, 11, c.data(), 3);
  EXPECT_EQ(s.base, 13);
  EXPECT_EQ(st.row(s, 13)[0], 2013.0f);
  EXPECT_EQ(st.row(s, 14)[0], 0.0f);
  EXPECT_THROW(st.row(s, 12), std::exception);
  EXPECT_THROW(st.row(s, 16), std::exception);
}

TEST(FeatureStore, PagesAreReusedAcrossSequences) {
  FeatureStore st(W, 4, 2);
  std::vector<float> r = rows_of(0, 40, 0);
  FeatureStore::Seq a;
  st.write(a, 0, r.data(), 40);  // 10 pages
  EXPECT_EQ(st.pages_allocated(), 10u);
  st.release(a);
  EXPECT_EQ(st.pages_free(), 2u) << "free pages beyond the cap go back to the allocator";
  EXPECT_EQ(st.pages_allocated(), 2u);
  FeatureStore::Seq b, c;
  st.write(b, 100, r.data(), 8);  // the two free pages
  EXPECT_EQ(st.pages_free(), 0u);
  EXPECT_EQ(st.pages_allocated(), 2u);
  st.write(c, 0, r.data(), 5);  // two new ones
  EXPECT_EQ(st.pages_allocated(), 4u);
  EXPECT_EQ(st.row(b, 107)[0], 7.0f);
  EXPECT_EQ(st.row(c, 4)[0], 4.0f);
  st.drop_before(b, 104);  // the first page of b back
  EXPECT_EQ(st.pages_free(), 1u);
  EXPECT_EQ(st.row(b, 104)[0], 4.0f);
  st.reserve(5);  // up to the cap of free pages
  EXPECT_EQ(st.pages_free(), 2u);
  EXPECT_EQ(st.pages_allocated(), 5u);
  FeatureStore::Seq d;
  st.write(d, 0, r.data(), 8);  // the reserved pages
  EXPECT_EQ(st.pages_allocated(), 5u);
  EXPECT_EQ(st.row(d, 7)[0], 7.0f);
}

}  // namespace
}  // namespace ignis
