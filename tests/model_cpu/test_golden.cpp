// CpuModel against transformers' fp32 logits on the tiny checkpoints made by
// tools/golden/make_tiny_models.py (tests/data/models/<name>/golden.json + golden_logits.f32).
// Every model is checked with both config forms (config.json as transformers 5 writes it,
// config.classic.json in the classic hub form), as one flat batch and token by token, and its
// greedy continuation must equal transformers' (up to a golden near-tie).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/cpu_model.h"

namespace fs = std::filesystem;

namespace ignis {
namespace {

// IGNIS_GOLDEN_MODELS_DIR overrides the folder (e.g. to check a fresh script output before committing it).
const fs::path kModels = std::getenv("IGNIS_GOLDEN_MODELS_DIR") ? fs::path(std::getenv("IGNIS_GOLDEN_MODELS_DIR"))
                                                                 : fs::path(IGNIS_TEST_DATA_DIR) / "models";
constexpr double kTol = 1e-4;  // max|ours - ref| / max|ref| per position
constexpr int kBlock = 16;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << p;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct GoldenSeq {
  std::vector<int32_t> tokens, greedy;
  std::vector<float> margin;
  std::vector<float> logits;  // (tokens.size(), vocab)
};

struct Golden {
  int vocab = 0;
  std::vector<GoldenSeq> seqs;
};

Golden load_golden(const fs::path& dir) {
  auto j = nlohmann::json::parse(read_file(dir / "golden.json"));
  Golden g;
  g.vocab = j.at("vocab_size").get<int>();
  std::string raw = read_file(dir / j.at("logits_file").get<std::string>());
  for (auto& s : j.at("sequences")) {
    GoldenSeq gs;
    gs.tokens = s.at("tokens").get<std::vector<int32_t>>();
    gs.greedy = s.at("greedy").get<std::vector<int32_t>>();
    gs.margin = s.at("greedy_margin").get<std::vector<float>>();
    size_t off = s.at("logits_offset").get<size_t>(), n = gs.tokens.size() * size_t(g.vocab);
    EXPECT_LE((off + n) * 4, raw.size()) << dir;
    gs.logits.resize(n);
    std::memcpy(gs.logits.data(), raw.data() + off * 4, n * 4);  // little-endian host
    g.seqs.push_back(std::move(gs));
  }
  return g;
}

std::vector<fs::path> model_dirs() {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(kModels)) return dirs;
  for (auto& e : fs::directory_iterator(kModels))
    if (e.is_directory() && fs::exists(e.path() / "golden.json")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Worst per-position relative error of `got` (rows, vocab) against golden rows [first, first + rows).
void expect_rows(const float* got, const GoldenSeq& gs, int first, int rows, int vocab, const std::string& what) {
  for (int r = 0; r < rows; ++r) {
    const float* ref = gs.logits.data() + size_t(first + r) * vocab;
    double md = 0, mr = 0;
    for (int v = 0; v < vocab; ++v) {
      md = std::max(md, std::fabs(double(got[size_t(r) * vocab + v]) - ref[v]));
      mr = std::max(mr, std::fabs(double(ref[v])));
    }
    ASSERT_LE(md / mr, kTol) << what << ": position " << first + r << " (max|diff| " << md << ", max|ref| " << mr
                             << ")";
  }
}

int argmax(const float* x, int n) { return int(std::max_element(x, x + n) - x); }

void check_model(const fs::path& dir, const ModelConfig& cfg, const std::string& form) {
  SCOPED_TRACE(dir.filename().string() + " with " + form);
  Golden g = load_golden(dir);
  ASSERT_EQ(cfg.vocab_size, g.vocab);
  WeightStore ws = WeightStore::load(dir, cfg, LoadFormat::Safetensors);
  CpuModel m(cfg, ws);
  int max_len = 0;
  for (auto& s : g.seqs) max_len = std::max<int>(max_len, int(s.tokens.size() + s.greedy.size()));
  const int blocks_per_seq = (max_len + kBlock - 1) / kBlock;
  m.init_kv_cache(blocks_per_seq * int(g.seqs.size()), kBlock);
  const int V = g.vocab;
  auto table = [&](size_t s) {  // interleaved block ids so sequences' blocks are not contiguous
    std::vector<int32_t> t(blocks_per_seq);
    for (int b = 0; b < blocks_per_seq; ++b) t[b] = int32_t(b * g.seqs.size() + s);
    return t;
  };

  // 1. All sequences in one flat batch, logits at every position.
  ForwardBatch b;
  for (size_t s = 0; s < g.seqs.size(); ++s) {
    b.tokens.insert(b.tokens.end(), g.seqs[s].tokens.begin(), g.seqs[s].tokens.end());
    b.seqs.push_back({0, int32_t(g.seqs[s].tokens.size()), table(s), true});
  }
  std::vector<float> out;
  m.forward(b, out);
  size_t row = 0;
  for (auto& gs : g.seqs) {
    expect_rows(out.data() + row * V, gs, 0, int(gs.tokens.size()), V, "flat batch");
    row += gs.tokens.size();
  }

  // 2. Position by position through the KV cache (both sequences decoding together),
  //    then the greedy continuation.
  std::vector<std::vector<int32_t>> seq_tokens;
  for (auto& gs : g.seqs) seq_tokens.push_back(gs.tokens);
  size_t max_prompt = 0;
  for (auto& gs : g.seqs) max_prompt = std::max(max_prompt, gs.tokens.size());
  std::vector<int> last_argmax(g.seqs.size());
  for (size_t p = 0; p < max_prompt; ++p) {
    ForwardBatch d;
    std::vector<size_t> who;
    for (size_t s = 0; s < g.seqs.size(); ++s) {
      if (p >= g.seqs[s].tokens.size()) continue;
      d.tokens.push_back(g.seqs[s].tokens[p]);
      d.seqs.push_back({int32_t(p), 1, table(s), false});
      who.push_back(s);
    }
    m.forward(d, out);
    for (size_t i = 0; i < who.size(); ++i) {
      expect_rows(out.data() + i * V, g.seqs[who[i]], int(p), 1, V, "token by token");
      last_argmax[who[i]] = argmax(out.data() + i * V, V);
    }
  }
  for (size_t s = 0; s < g.seqs.size(); ++s) {
    const GoldenSeq& gs = g.seqs[s];
    double max_ref = 0;
    for (float x : gs.logits) max_ref = std::max(max_ref, double(std::fabs(x)));
    int next = last_argmax[s];
    for (size_t step = 0; step < gs.greedy.size(); ++step) {
      if (next != gs.greedy[step]) {
        // Only a near-tie in transformers' own logits may excuse a different choice.
        ASSERT_LT(gs.margin[step], kTol * max_ref)
            << "sequence " << s << ": greedy step " << step << " chose " << next << ", transformers chose "
            << gs.greedy[step] << " with margin " << gs.margin[step];
        break;
      }
      if (step + 1 == gs.greedy.size()) break;
      ForwardBatch d;
      d.tokens = {next};
      d.seqs.push_back({int32_t(gs.tokens.size() + step), 1, table(s), false});
      m.forward(d, out);
      next = argmax(out.data(), V);
    }
  }
}

TEST(Golden, CpuModelMatchesTransformersOnEveryTinyModel) {
  auto dirs = model_dirs();
  if (dirs.empty())
    GTEST_SKIP() << "no golden models under " << kModels
                 << " yet; create them on the GPU machine with: python3 tools/golden/make_tiny_models.py --out "
                    "tests/data/models";
  for (const auto& dir : dirs) {
    check_model(dir, load_model_config(dir), "config.json");
    const fs::path classic = dir / "config.classic.json";
    ASSERT_TRUE(fs::exists(classic)) << classic;
    check_model(dir, parse_model_config(read_file(classic), classic.string()), "config.classic.json");
  }
}

}  // namespace
}  // namespace ignis
