#include "structured/json_number.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace ignis::structured {

namespace {

constexpr int64_t kLimit = 1000000000000000000;  // bounds are clamped to +-1e18
constexpr int kMaxDigits = 18;

ExprP digit_range(char lo, char hi) { return e_chars(CharSet::of(static_cast<uint32_t>(lo), static_cast<uint32_t>(hi))); }

// Same-length digit strings lo <= hi: every digit string between them.
ExprP same_length(const std::string& lo, const std::string& hi) {
  size_t n = lo.size();
  if (n == 0) return e_empty();
  if (lo == hi) return e_lit(lo);
  if (lo[0] == hi[0]) return e_seq({e_lit(lo.substr(0, 1)), same_length(lo.substr(1), hi.substr(1))});
  std::string lr = lo.substr(1), hr = hi.substr(1);
  bool lo_zeros = std::all_of(lr.begin(), lr.end(), [](char c) { return c == '0'; });
  bool hi_nines = std::all_of(hr.begin(), hr.end(), [](char c) { return c == '9'; });
  std::vector<ExprP> alts;
  char mid_lo = lo_zeros ? lo[0] : static_cast<char>(lo[0] + 1);
  char mid_hi = hi_nines ? hi[0] : static_cast<char>(hi[0] - 1);
  if (!lo_zeros) alts.push_back(e_seq({e_lit(lo.substr(0, 1)), same_length(lr, std::string(n - 1, '9'))}));
  if (mid_lo <= mid_hi) alts.push_back(e_seq({digit_range(mid_lo, mid_hi), e_rep(digit_range('0', '9'), static_cast<int>(n - 1), static_cast<int>(n - 1))}));
  if (!hi_nines) alts.push_back(e_seq({e_lit(hi.substr(0, 1)), same_length(std::string(n - 1, '0'), hr)}));
  return e_alt(std::move(alts));
}

int64_t pow10(size_t d) {
  int64_t p = 1;
  for (size_t k = 0; k < d; ++k) p *= 10;
  return p;
}

// 0 <= a, a <= b (b absent: unbounded).
ExprP nonneg_range(int64_t a, std::optional<int64_t> b) {
  if (b && *b < a) return e_never();
  std::vector<ExprP> alts;
  size_t da = std::to_string(a).size();
  size_t db = b ? std::to_string(*b).size() : da;
  for (size_t d = da; d <= db; ++d) {
    int64_t lo = d == da ? a : pow10(d - 1);
    int64_t hi = (b && d == db) ? *b : pow10(d) - 1;
    alts.push_back(same_length(std::to_string(lo), std::to_string(hi)));
  }
  // Unbounded above: up to 18 digits, so that every output fits an int64 (and a double's range).
  if (!b && da < kMaxDigits)
    alts.push_back(e_seq({digit_range('1', '9'), e_rep(digit_range('0', '9'), static_cast<int>(da), kMaxDigits - 1)}));
  return e_alt(std::move(alts));
}

}  // namespace

ExprP integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  if (lo) lo = std::clamp(*lo, -kLimit, kLimit);
  if (hi) hi = std::clamp(*hi, -kLimit, kLimit);
  if (lo && hi && *lo > *hi) return e_never();
  std::vector<ExprP> alts;
  if (!hi || *hi >= 0) alts.push_back(nonneg_range(lo ? std::max<int64_t>(*lo, 0) : 0, hi));
  if (!lo || *lo < 0) {
    // -y for y in [max(1, -hi), -lo]
    int64_t ylo = hi && *hi < 0 ? -*hi : 1;
    std::optional<int64_t> yhi;
    if (lo) yhi = -*lo;
    alts.push_back(e_seq({e_lit("-"), nonneg_range(ylo, yhi)}));
  }
  return e_alt(std::move(alts));
}

namespace {

// Non-negative decimals y with a <(=) y <(=) b (integers; b absent: unbounded), no exponent;
// `allow_zero` false drops the value 0 itself (so "-" never precedes a zero).
ExprP nonneg_decimals(int64_t a, bool a_strict, std::optional<int64_t> b, bool b_strict, bool allow_zero) {
  ExprP digits = e_star(digit_range('0', '9'));
  ExprP nonzero_frac = e_seq({e_lit("."), digits, digit_range('1', '9')});
  ExprP zero_frac = e_opt(e_seq({e_lit("."), e_plus(e_lit("0"))}));
  std::vector<ExprP> alts;
  // I.F with F > 0: a <= I and I + F <(=) b  <=>  I <= b - 1.
  std::optional<int64_t> b1;
  if (b) b1 = *b - 1;
  if (!b1 || *b1 >= a) alts.push_back(e_seq({integer_range(a, b1), nonzero_frac}));
  // Whole values.
  int64_t wlo = a + (a_strict ? 1 : 0);
  if (!allow_zero) wlo = std::max<int64_t>(wlo, 1);
  std::optional<int64_t> whi;
  if (b) whi = *b - (b_strict ? 1 : 0);
  if (!whi || *whi >= wlo) alts.push_back(e_seq({integer_range(wlo, whi), zero_frac}));
  return e_alt(std::move(alts));
}

}  // namespace

ExprP number_range(std::optional<double> lo, bool lo_strict, std::optional<double> hi, bool hi_strict) {
  std::optional<int64_t> L, H;
  if (lo) {
    double c = std::ceil(std::clamp(*lo, -1e18, 1e18));
    if (c != *lo) lo_strict = false;
    L = static_cast<int64_t>(c);
  }
  if (hi) {
    double f = std::floor(std::clamp(*hi, -1e18, 1e18));
    if (f != *hi) hi_strict = false;
    H = static_cast<int64_t>(f);
  }
  std::vector<ExprP> alts;
  if (!H || *H >= 0) {
    bool at_lo = L && *L >= 0;
    alts.push_back(nonneg_decimals(at_lo ? *L : 0, at_lo && lo_strict, H, hi_strict, true));
  }
  if (!L || *L < 0) {
    // x = -y, y in [max(0, -H), -L] with the strictness mirrored; y = 0 is left to the other side.
    bool at_hi = H && *H < 0;
    std::optional<int64_t> yhi;
    if (L) yhi = -*L;
    alts.push_back(e_seq({e_lit("-"), nonneg_decimals(at_hi ? -*H : 0, at_hi && hi_strict, yhi, lo_strict, false)}));
  }
  return e_alt(std::move(alts));
}

}  // namespace ignis::structured
