// Test helper: chi-square goodness of fit with an exact p-value (regularized upper incomplete gamma).
#pragma once
#include <cmath>
#include <vector>

namespace ignis::test {

// Q(a, x) = Gamma(a, x) / Gamma(a): series for x < a + 1, continued fraction (modified Lentz) otherwise.
inline double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double front = std::exp(-x + a * std::log(x) - std::lgamma(a));
  if (x < a + 1) {
    double ap = a, del = 1.0 / a, sum = del;
    for (int i = 0; i < 10000 && std::fabs(del) > std::fabs(sum) * 1e-15; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
    }
    return 1.0 - sum * front;
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; i++) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return front * h;
}

// p-value of observed counts against expected probabilities (bins with probability 0 are skipped;
// callers assert separately that they got no draws). df = used bins - 1.
inline double chi_square_p(const std::vector<long>& observed, const std::vector<double>& expected_prob) {
  long n = 0;
  for (long o : observed) n += o;
  double stat = 0;
  int bins = 0;
  for (size_t i = 0; i < observed.size(); i++) {
    if (expected_prob[i] <= 0) continue;
    const double e = expected_prob[i] * n;
    stat += (observed[i] - e) * (observed[i] - e) / e;
    bins++;
  }
  if (bins < 2) return 1.0;
  return gamma_q((bins - 1) / 2.0, stat / 2.0);
}

}  // namespace ignis::test
