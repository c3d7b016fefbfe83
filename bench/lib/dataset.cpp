// ignis bench: synthetic and corpus workload generators (see dataset.h).
#include "bench/lib/dataset.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace ignis::bench {

int LengthSampler::draw(const LengthDist& d) {
  double x = d.mean;
  if (d.stdev > 0) {
    const double u1 = rng_.uniform(), u2 = rng_.uniform();
    x += d.stdev * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
  }
  const double r = std::round(x);
  return static_cast<int>(std::clamp(r, static_cast<double>(d.min), static_cast<double>(d.max)));
}

namespace {
void check_dist(const LengthDist& d, const char* what) {
  IGNIS_CHECK(std::isfinite(d.mean) && std::isfinite(d.stdev) && d.stdev >= 0,
              "dataset: {} mean/stdev must be finite and stdev >= 0", what);
  IGNIS_CHECK(d.min >= 1 && d.max >= d.min, "dataset: {} length bounds must satisfy 1 <= min <= max", what);
}
}  // namespace

std::vector<WorkItem> synthetic_workload(const SyntheticOptions& o) {
  IGNIS_CHECK(o.num_requests >= 1, "dataset: --num-requests must be >= 1 (got {})", o.num_requests);
  IGNIS_CHECK(o.vocab >= 1, "dataset: --vocab must be >= 1 (got {})", o.vocab);
  check_dist(o.input, "input");
  check_dist(o.output, "output");
  std::vector<int32_t> allowed;  // ids we may draw; empty = all of [0, vocab)
  if (!o.exclude_ids.empty()) {
    std::vector<int32_t> ex = o.exclude_ids;
    std::sort(ex.begin(), ex.end());
    for (int32_t t = 0; t < o.vocab; t++)
      if (!std::binary_search(ex.begin(), ex.end(), t)) allowed.push_back(t);
    IGNIS_CHECK(!allowed.empty(), "dataset: every token id is excluded");
  }
  LengthSampler ls(o.seed);
  std::vector<WorkItem> out(o.num_requests);
  for (WorkItem& w : out) {
    const int in = ls.draw(o.input);
    w.output_len = ls.draw(o.output);
    w.prompt_ids.resize(in);
    for (int32_t& t : w.prompt_ids) {
      const uint64_t n = allowed.empty() ? static_cast<uint64_t>(o.vocab) : allowed.size();
      const auto k = static_cast<int32_t>(static_cast<uint64_t>(ls.rng().uniform() * static_cast<double>(n)));
      t = allowed.empty() ? k : allowed[k];
    }
  }
  return out;
}

std::string read_corpus(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  auto read_file = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    IGNIS_CHECK(f.good(), "{}: cannot open corpus file", p.string());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  auto one = [&](const fs::path& p) -> std::string {
    std::string s = read_file(p);
    if (p.extension() != ".json") return s;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const std::exception& e) {
      IGNIS_FAIL("{}: not valid JSON ({})", p.string(), e.what());
    }
    IGNIS_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(),
                "{}: expected a JSON object with a string field \"text\"", p.string());
    return j["text"].get<std::string>();
  };
  IGNIS_CHECK(fs::exists(path), "{}: corpus not found", path.string());
  if (!fs::is_directory(path)) return one(path);
  // A .json whose .txt twin exists is skipped (the @stdlib corpora ship both forms of each text).
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path)) {
    const fs::path& p = e.path();
    if (!e.is_regular_file()) continue;
    if (p.extension() == ".txt" || (p.extension() == ".json" && !fs::exists(fs::path(p).replace_extension(".txt"))))
      files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  IGNIS_CHECK(!files.empty(), "{}: no .txt or .json files in the corpus directory", path.string());
  std::string all;
  for (const auto& f : files) {
    if (!all.empty()) all += "\n\n";
    all += one(f);
  }
  return all;
}

std::vector<WorkItem> corpus_workload(const std::vector<int32_t>& ids, const SyntheticOptions& o,
                                      const std::function<std::string(const std::vector<int32_t>&)>& decode) {
  IGNIS_CHECK(o.num_requests >= 1, "dataset: --num-requests must be >= 1 (got {})", o.num_requests);
  check_dist(o.input, "input");
  check_dist(o.output, "output");
  IGNIS_CHECK(!ids.empty(), "dataset: the corpus has no tokens");
  LengthSampler ls(o.seed);
  std::vector<WorkItem> out(o.num_requests);
  for (WorkItem& w : out) {
    const int in = ls.draw(o.input);
    w.output_len = ls.draw(o.output);
    IGNIS_CHECK(static_cast<size_t>(in) <= ids.size(), "dataset: input length {} exceeds the corpus ({} tokens)", in,
                ids.size());
    const size_t span = ids.size() - in + 1;
    const size_t off = std::min(span - 1, static_cast<size_t>(ls.rng().uniform() * static_cast<double>(span)));
    w.prompt_ids.assign(ids.begin() + off, ids.begin() + off + in);
    if (decode) w.prompt = decode(w.prompt_ids);
  }
  return out;
}

}  // namespace ignis::bench
