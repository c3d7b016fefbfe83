// ignis bench: hand-written SVG of a report: four latency panels (p50/p90/p99 bars, each with
// its own scale) above an output-throughput-over-time line chart.
#include <fmt/format.h>

#include <algorithm>

#include "bench/lib/report.h"

namespace ignis::bench {

namespace {
std::string text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 12) {
  std::string esc;
  for (char c : s) {
    if (c == '<') esc += "&lt;";
    else if (c == '>') esc += "&gt;";
    else if (c == '&') esc += "&amp;";
    else esc += c;
  }
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"{}\">{}</text>\n", x, y, size,
                     anchor, esc);
}

std::string latency_panel(double x0, double y0, double w, double h, const char* name, const Stat& s) {
  std::string out = fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#999\"/>\n",
                                x0, y0, w, h);
  out += text(x0 + w / 2, y0 + 16, fmt::format("{} (ms)", name), "middle", 13);
  if (s.n == 0) return out + text(x0 + w / 2, y0 + h / 2, "n/a");
  const double vals[3] = {s.p50 * 1e3, s.p90 * 1e3, s.p99 * 1e3};
  const char* labels[3] = {"p50", "p90", "p99"};
  const char* colors[3] = {"#4c78a8", "#f58518", "#e45756"};
  const double top = std::max(vals[2], 1e-9) * 1.15;
  const double plot_h = h - 50, base = y0 + h - 20, bw = w / 5;
  for (int i = 0; i < 3; i++) {
    const double bh = vals[i] / top * plot_h, cx = x0 + bw * (i + 1);  // bar centre
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n", cx - bw * 0.4,
                       base - bh, bw * 0.8, bh, colors[i]);
    out += text(cx, base - bh - 4, fmt::format("{:.3g}", vals[i]), "middle", 10);
    out += text(cx, base + 14, labels[i], "middle", 11);
  }
  return out;
}
}  // namespace

std::string render_svg(const Report& r) {
  const double W = 880, H = 560;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H, W, H);
  s += text(W / 2, 24,
            fmt::format("ignis bench {}: {} requests, {:.1f} output tok/s, {:.2f} req/s{}", r.mode, r.completed,
                        r.output_tokens_per_s, r.requests_per_s, r.hardware.empty() ? "" : " on " + r.hardware),
            "middle", 15);
  const Stat* stats[4] = {&r.ttft, &r.tpot, &r.itl, &r.e2e};
  const char* names[4] = {"TTFT", "TPOT", "ITL", "E2E"};
  for (int i = 0; i < 4; i++) s += latency_panel(20 + i * 212, 40, 200, 220, names[i], *stats[i]);

  // Throughput over time.
  const double px = 70, py = 300, pw = W - 100, ph = 210;
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", px, py, pw, ph);
  s += text(px + pw / 2, py - 8, "output tokens/s over time", "middle", 13);
  const auto& ser = r.output_tokens_per_s_series;
  if (ser.empty()) return s + text(px + pw / 2, py + ph / 2, "n/a") + "</svg>\n";
  const double top = std::max(*std::max_element(ser.begin(), ser.end()), 1e-9) * 1.1;
  std::string pts;
  for (size_t i = 0; i < ser.size(); i++) {
    const double x = px + pw * (i + 0.5) / static_cast<double>(ser.size());
    const double y = py + ph - ser[i] / top * ph;
    pts += fmt::format("{:.1f},{:.1f} ", x, y);
  }
  s += fmt::format("<polyline fill=\"none\" stroke=\"#4c78a8\" stroke-width=\"2\" points=\"{}\"/>\n", pts);
  for (int k = 0; k <= 4; k++) {
    const double v = top * k / 4, y = py + ph - ph * k / 4.0;
    s += text(px - 6, y + 4, fmt::format("{:.3g}", v), "end", 10);
    const double t = r.bucket_s * static_cast<double>(ser.size()) * k / 4.0;
    s += text(px + pw * k / 4.0, py + ph + 16, fmt::format("{:.3g} s", t), "middle", 10);
  }
  return s + "</svg>\n";
}

}  // namespace ignis::bench
