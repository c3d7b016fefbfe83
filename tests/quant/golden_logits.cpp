#include "golden_logits.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/model_loader.h"

namespace fs = std::filesystem;

namespace ignis::golden {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void run_folder(const std::string& name, const fs::path& dir,
                const std::function<void(const std::string&, const std::string&, const Sequence&)>& check) {
  SCOPED_TRACE(name);
  auto g = nlohmann::json::parse(slurp(dir / "golden.json"));
  const int vocab = g.at("vocab_size").get<int>();
  const std::string raw = slurp(dir / g.at("logits_file").get<std::string>());
  ModelLoadOptions o;
  o.device = "cpu";
  LoadedModel lm = load_model(dir, o);
  Model& m = *lm.model;
  ASSERT_EQ(m.config().vocab_size, vocab);
  const std::string what = m.config().quant.quantized() ? m.config().quant.linear.describe() : "dense";
  const int bs = 16;
  int blocks = 0;
  for (auto& s : g.at("sequences")) blocks += int(s.at("tokens").size() + bs - 1) / bs;
  m.init_kv_cache(blocks, bs);
  ForwardBatch b;
  int next = 0;
  for (auto& s : g.at("sequences")) {
    auto t = s.at("tokens").get<std::vector<int32_t>>();
    std::vector<int32_t> table;
    for (size_t i = 0; i < t.size(); i += bs) table.push_back(next++);
    b.tokens.insert(b.tokens.end(), t.begin(), t.end());
    b.seqs.push_back({0, int32_t(t.size()), table, true});
  }
  std::vector<float> out;
  m.forward(b, out);
  size_t row = 0;
  int si = 0;
  for (auto& s : g.at("sequences")) {
    Sequence q;
    q.index = si++;
    q.tokens = s.at("tokens").size();
    q.vocab = vocab;
    const size_t n = q.tokens * size_t(vocab), off = s.at("logits_offset").get<size_t>();
    ASSERT_LE((off + n) * 4, raw.size());
    ASSERT_LE(row + n, out.size());
    q.ref.resize(n);
    std::memcpy(q.ref.data(), raw.data() + off * 4, n * 4);
    q.got = out.data() + row;
    check(name, what, q);
    row += n;
  }
}

}  // namespace

double rel_l2(const float* got, const float* ref, size_t n) {
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(got[i]) - ref[i];
    d2 += d * d;
    r2 += double(ref[i]) * ref[i];
  }
  return std::sqrt(d2 / std::max(r2, 1e-30));
}

Result run_goldens(const fs::path& dir,
                   const std::function<void(const std::string&, const std::string&, const Sequence&)>& check) {
  Result r;
  auto manifest = nlohmann::json::parse(slurp(dir / "MANIFEST.json"));
  for (const auto& entry : manifest.at("models")) {
    const std::string name = entry.at("name").get<std::string>();
    const fs::path folder = dir / name;
    if (!fs::exists(folder / "golden.json")) {
      std::printf("[ skipped  ] %s: folder %s is absent\n", name.c_str(), folder.string().c_str());
      ++r.missing;
      continue;
    }
    run_folder(name, folder, check);
    ++r.checked;
  }
  return r;
}

}  // namespace ignis::golden
