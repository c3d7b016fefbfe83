// Medusa (spec/medusa.h) on a tiny CPU Llama (seeded dummy weights): the candidate tree from
// medusa_choices (Medusa's default mc_sim_7b_63, custom lists, their validation), the heads folder
// loader (names with and without the "medusa_head." prefix; clear errors for bad configs, missing
// tensors, wrong shapes, a .pt-only folder, a target of another size), the heads' arithmetic
// against a direct computation, the proposer's tree from the heads' top-k, the CPU backend's
// hidden states (the lm_head's input: lm_head(hidden) equals the logits), and through the engine:
// greedy output identical to no speculation at batch 1 and in mixed batches with preemption,
// seeded sampled output identical, KV blocks all free, proposer state forgotten.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "../runtime/engine_test_util.h"
#include "core/error.h"
#include "kv/kv_cache_manager.h"
#include "medusa_test_util.h"
#include "model/cpu_model.h"
#include "runtime/engine.h"
#include "spec/medusa.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSeed = 11;

fs::path tmp(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ignis_medusa_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path tiny_dir() {
  fs::path dir = tmp("model");
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "hidden_act": "silu", "tie_word_embeddings": false, "torch_dtype": "float32",
  "bos_token_id": 1, "eos_token_id": 2
})";
  return dir;
}

std::string load_error(const fs::path& dir, const ModelConfig& cfg) {
  try {
    MedusaHeads::load(dir, cfg);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ModelConfig cfg_of(int hidden, int vocab) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.vocab_size = vocab;
  return c;
}

// Head i's logits for h, computed directly from the written weights.
std::vector<double> reference_head(const MedusaHeadsWeights& w, int i, const std::vector<float>& h, int V) {
  const size_t H = h.size();
  std::vector<double> x(h.begin(), h.end());
  for (size_t j = 0; j < w.w[size_t(i)].size(); ++j) {
    std::vector<double> y(H);
    for (size_t r = 0; r < H; ++r) {
      double acc = w.b[size_t(i)][j][r];
      for (size_t c = 0; c < H; ++c) acc += double(w.w[size_t(i)][j][r * H + c]) * x[c];
      y[r] = acc;
    }
    for (size_t r = 0; r < H; ++r) x[r] += y[r] / (1.0 + std::exp(-y[r]));
  }
  std::vector<double> out(static_cast<size_t>(V));
  for (int v = 0; v < V; ++v) {
    double acc = 0;
    for (size_t c = 0; c < H; ++c) acc += double(w.lm[size_t(i)][size_t(v) * H + c]) * x[c];
    out[size_t(v)] = acc;
  }
  return out;
}

std::vector<int32_t> topk(const std::vector<double>& l, int k) {
  std::vector<int32_t> ids(l.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
  ids.resize(size_t(k));
  return ids;
}

}  // namespace

TEST(Medusa, DefaultTreeIsMcSim7b63) {
  MedusaTree t = medusa_tree({});
  ASSERT_EQ(t.paths.size(), 63u);
  EXPECT_EQ(t.topk, (std::vector<int>{10, 10, 10, 2}));
  for (size_t i = 0; i < t.paths.size(); ++i) {
    ASSERT_LT(t.parents[i], int32_t(i));
    if (t.paths[i].size() == 1) {
      EXPECT_EQ(t.parents[i], -1);
    } else {
      EXPECT_EQ(t.paths[size_t(t.parents[i])], std::vector<int>(t.paths[i].begin(), t.paths[i].end() - 1));
    }
    if (i > 0) {
      EXPECT_LE(t.paths[i - 1].size(), t.paths[i].size()) << "by depth";
    }
  }
  EXPECT_EQ(t.paths[0], std::vector<int>{0});
  EXPECT_EQ(t.paths[10], (std::vector<int>{0, 0}));
  // Two heads: depth <= 2 only.
  MedusaTree two = medusa_tree({}, 2);
  EXPECT_EQ(two.topk.size(), 2u);
  for (const auto& p : two.paths) EXPECT_LE(p.size(), 2u);
  EXPECT_EQ(two.paths.size(), size_t(10 + 28)) << "mc_sim_7b_63 has 10 depth-1 and 28 depth-2 nodes";
  SpecConfig c;
  c.method = SpecMethod::Medusa;
  EXPECT_EQ(spec_max_proposals(c), 63);
  c.medusa_choices = {{0}, {1}, {0, 0}};
  EXPECT_EQ(spec_max_proposals(c), 3);
  EXPECT_EQ(parse_spec_method("medusa"), SpecMethod::Medusa);
  EXPECT_STREQ(spec_method_name(SpecMethod::Medusa), "medusa");
}

TEST(Medusa, CustomChoicesValidated) {
  MedusaTree t = medusa_tree({{1, 0}, {0}, {1}, {0, 2}});
  EXPECT_EQ(t.paths, (std::vector<std::vector<int>>{{0}, {1}, {0, 2}, {1, 0}}));
  EXPECT_EQ(t.parents, (std::vector<int32_t>{-1, -1, 0, 1}));
  EXPECT_EQ(t.topk, (std::vector<int>{2, 3}));
  auto msg = [](std::vector<std::vector<int>> c) {
    try {
      medusa_tree(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({{0}, {1, 1}}).find("no parent [1]"), std::string::npos);
  EXPECT_NE(msg({{0}, {0}}).find("twice"), std::string::npos);
  EXPECT_NE(msg({{0}, {64}}).find("outside"), std::string::npos);
  EXPECT_NE(msg({{0}, {}}).find("empty"), std::string::npos);
  EXPECT_THROW(medusa_tree({{0, 0}}, 0), Error);
  EXPECT_THROW(medusa_tree({{0}, {0, 0}}, 0).paths.at(2), std::out_of_range);
}

TEST(Medusa, LoaderReadsReferenceLayoutAndComputesTheHeads) {
  for (const std::string prefix : {"", "medusa_head."}) {
    const fs::path dir = tmp("heads" + prefix);
    MedusaHeadsSpec s;
    s.hidden = 8, s.vocab = 20, s.heads = 3, s.layers = 2, s.prefix = prefix, s.block_scale = 0.3f;
    const MedusaHeadsWeights w = write_medusa_heads(dir, s);
    auto heads = MedusaHeads::load(dir, cfg_of(8, 20));
    EXPECT_EQ(heads->num_heads(), 3);
    EXPECT_EQ(heads->num_layers(), 2);
    EXPECT_EQ(heads->base_model(), "test");
    std::vector<float> h(16);
    for (size_t i = 0; i < h.size(); ++i) h[i] = std::sin(float(i) * 0.7f) * 2.0f;
    std::vector<float> logits(2 * 20);
    for (int i = 0; i < 3; ++i) {
      heads->forward(i, h.data(), 2, logits.data());
      for (int r = 0; r < 2; ++r) {
        const auto ref = reference_head(w, i, std::vector<float>(h.begin() + r * 8, h.begin() + r * 8 + 8), 20);
        for (int v = 0; v < 20; ++v) EXPECT_NEAR(logits[size_t(r * 20 + v)], ref[size_t(v)], 1e-4) << i << " " << v;
      }
    }
  }
}

TEST(Medusa, LoaderErrorsAreClear) {
  const ModelConfig cfg = cfg_of(8, 20);
  MedusaHeadsSpec s;
  s.hidden = 8, s.vocab = 20, s.heads = 2, s.layers = 1;
  {
    const fs::path d = tmp("nocfg");
    s.write_config = false;
    write_medusa_heads(d, s);
    s.write_config = true;
    EXPECT_NE(load_error(d, cfg).find("config.json not found"), std::string::npos);
  }
  {
    const fs::path d = tmp("nofield");
    s.config_json = R"({"medusa_num_layers": 1})";
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("medusa_num_heads"), std::string::npos) << load_error(d, cfg);
    s.config_json = R"({"medusa_num_heads": 0, "medusa_num_layers": 1})";
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("medusa_num_heads"), std::string::npos) << load_error(d, cfg);
    s.config_json = R"({"medusa_num_heads": 2, "medusa_num_layers": "one"})";
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("medusa_num_layers"), std::string::npos) << load_error(d, cfg);
    s.config_json = "{not json";
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("JSON"), std::string::npos) << load_error(d, cfg);
    s.config_json.clear();
  }
  {
    const fs::path d = tmp("missing");
    s.skip = {"1.0.linear.bias"};
    write_medusa_heads(d, s);
    s.skip.clear();
    EXPECT_NE(load_error(d, cfg).find("missing tensor 1.0.linear.bias"), std::string::npos) << load_error(d, cfg);
  }
  {
    const fs::path d = tmp("more");
    s.config_json = R"({"medusa_num_heads": 3, "medusa_num_layers": 1})";  // the file has 2
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("missing tensor 2.0.linear."), std::string::npos) << load_error(d, cfg);
    s.config_json = R"({"medusa_num_heads": 1, "medusa_num_layers": 1})";  // the file has 2
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("more heads"), std::string::npos) << load_error(d, cfg);
    s.config_json = R"({"medusa_num_heads": 2, "medusa_num_layers": 2})";  // the file has 1 ResBlock
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg).find("missing tensor"), std::string::npos) << load_error(d, cfg);
    s.config_json.clear();
  }
  {
    const fs::path d = tmp("size");
    write_medusa_heads(d, s);
    EXPECT_NE(load_error(d, cfg_of(8, 21)).find("expected [21, 8]"), std::string::npos) << load_error(d, cfg_of(8, 21));
    EXPECT_NE(load_error(d, cfg_of(16, 20)).find("shape"), std::string::npos);
  }
  {
    const fs::path d = tmp("pt");
    write_medusa_heads(d, s);
    fs::remove(d / "medusa_lm_head.safetensors");
    std::ofstream(d / "medusa_lm_head.pt") << "pickle";
    EXPECT_NE(load_error(d, cfg).find("medusa_lm_head.pt"), std::string::npos);
    EXPECT_NE(load_error(d, cfg).find("convert"), std::string::npos);
    fs::remove(d / "medusa_lm_head.pt");
    EXPECT_NE(load_error(d, cfg).find("not found"), std::string::npos);
  }
  {
    const fs::path d = tmp("shared");
    MedusaHeadsSpec t = s;
    t.shared_lm_head = true;
    write_medusa_heads(d, t);
    EXPECT_NE(load_error(d, cfg).find("no target folder"), std::string::npos) << load_error(d, cfg);
    EXPECT_NE(load_error(d, cfg).find("ignis_shared_lm_head"), std::string::npos) << load_error(d, cfg);
    t.shared_lm_head = false;
    write_medusa_heads(d, t);  // final linears present...
    std::ofstream(d / "config.json") << R"({"medusa_num_heads": 2, "medusa_num_layers": 1, "ignis_shared_lm_head": true})";
    EXPECT_NE(load_error(d, cfg).find("but config.json says ignis_shared_lm_head"), std::string::npos)
        << load_error(d, cfg);
  }
  {
    const fs::path d = tmp("nan");
    write_medusa_heads(d, s);
    std::vector<float> bad(8, std::nanf(""));
    std::vector<SafetensorsWriteTensor> ts;
    // Rewrite with one NaN bias: the loader refuses non-finite weights.
    MedusaHeadsSpec t = s;
    t.skip = {"0.0.linear.bias"};
    write_medusa_heads(d, t);
    SafetensorsFile f((d / "medusa_lm_head.safetensors").string());
    for (const auto& e : f.header().tensors) {
      const uint8_t* p = f.tensor_data(e);
      ts.push_back({e.name, e.dtype, e.shape, std::vector<uint8_t>(p, p + (e.end - e.begin))});
    }
    ts.push_back({"0.0.linear.bias", DType::F32, {8}, f32_bytes(bad)});
    write_safetensors((d / "medusa_lm_head.safetensors").string() + ".tmp", ts);
    fs::rename((d / "medusa_lm_head.safetensors").string() + ".tmp", d / "medusa_lm_head.safetensors");
    EXPECT_NE(load_error(d, cfg).find("non-finite"), std::string::npos) << load_error(d, cfg);
  }
}

TEST(Medusa, ProposerBuildsTheTreeFromTheHeadsTopK) {
  const fs::path dir = tmp("prop");
  MedusaHeadsSpec s;
  s.hidden = 8, s.vocab = 20, s.heads = 2, s.layers = 1, s.block_scale = 0.3f;
  const MedusaHeadsWeights w = write_medusa_heads(dir, s);
  MedusaProposer p(MedusaHeads::load(dir, cfg_of(8, 20)), {{0}, {1}, {0, 0}, {0, 1}, {1, 0}, {0, 0, 0}});
  EXPECT_TRUE(p.proposes_trees());
  EXPECT_TRUE(p.wants_hidden_states());
  EXPECT_EQ(p.tree().paths.size(), 5u) << "the depth-3 node needs a third head";
  EXPECT_THROW(p.init(cfg_of(8, 21), 16, 4), Error);
  p.init(cfg_of(8, 20), 16, 4);
  std::vector<float> h(8);
  for (size_t i = 0; i < h.size(); ++i) h[i] = std::cos(float(i)) * 1.5f;
  const auto t0 = topk(reference_head(w, 0, h, 20), 2), t1 = topk(reference_head(w, 1, h, 20), 2);
  std::vector<int32_t> toks = {3, 4, 5};
  SpecSeq q;
  q.id = 7;
  q.tokens = toks;
  q.num_prompt = 3;
  q.num_computed = 2;
  q.k = 64;
  KvCacheConfig kc;
  kc.num_blocks = 16;
  KvCacheManager kv(kc);
  std::vector<Proposal> out;
  p.propose({&q, 1}, kv, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].tokens.empty()) << "no hidden state yet";
  p.on_hidden(7, 2, h);  // a state of an older token count
  p.propose({&q, 1}, kv, out);
  EXPECT_TRUE(out[0].tokens.empty()) << "stale hidden state";
  p.on_hidden(7, 3, h);
  p.propose({&q, 1}, kv, out);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{t0[0], t0[1], t1[0], t1[1], t1[0]}));
  EXPECT_EQ(out[0].parents, (std::vector<int32_t>{-1, -1, 0, 0, 1}));
  EXPECT_TRUE(out[0].dists.empty()) << "deterministic";
  q.k = 3;  // a budget: the tree's first nodes
  p.propose({&q, 1}, kv, out);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{t0[0], t0[1], t1[0]}));
  EXPECT_EQ(p.tracked(), 1u);
  std::vector<float> nan_h = h;
  nan_h[3] = std::nanf("");
  p.on_hidden(7, 3, nan_h);
  p.propose({&q, 1}, kv, out);
  EXPECT_TRUE(out[0].tokens.empty()) << "non-finite head logits propose nothing";
  p.on_preempted(7);
  EXPECT_EQ(p.tracked(), 0u);
  p.on_hidden(7, 3, h);
  p.on_finished(7);
  EXPECT_EQ(p.tracked(), 0u);
  EXPECT_THROW(p.on_hidden(7, 3, std::vector<float>(7)), Error);
}

TEST(Medusa, CpuHiddenStatesAreTheLmHeadInput) {
  const fs::path dir = tiny_dir();
  auto m = CpuModel::load(dir, LoadFormat::Dummy, kSeed);
  m->init_kv_cache(32, 8);
  std::vector<float> hidden;
  ASSERT_TRUE(m->set_hidden_state_sink(&hidden));
  ForwardBatch b;
  b.tokens = {5, 6, 7, 8, 9};
  BatchSeq s1, s2;
  s1.num_tokens = 3;
  s1.all_logits = true;
  s1.block_table = {0};
  s2.num_tokens = 2;  // last row only
  s2.block_table = {1};
  b.seqs = {s1, s2};
  std::vector<float> logits;
  m->forward(b, logits);
  const int H = 32, V = 96;
  ASSERT_EQ(hidden.size(), size_t(4 * H));
  const auto& lm = m->lm_head_linear().weight();
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < V; v += 7) {
      double acc = 0;
      for (int c = 0; c < H; ++c) acc += double(lm[size_t(v * H + c)]) * hidden[size_t(r * H + c)];
      EXPECT_NEAR(acc, logits[size_t(r * V + v)], 1e-4);
    }
  m->set_hidden_state_sink(nullptr);
  hidden.clear();
  m->forward(b, logits);
  EXPECT_TRUE(hidden.empty());
}

// BatchSeq::all_hidden: every token's hidden state with the last row's logits only; the hidden
// rows are those of all_logits, the logits those of a plain chunk, in sequence order.
TEST(Medusa, CpuAllHiddenRowsWithoutLogits) {
  const fs::path dir = tiny_dir();
  auto m = CpuModel::load(dir, LoadFormat::Dummy, kSeed);
  m->init_kv_cache(32, 8);
  std::vector<float> hidden;
  ASSERT_TRUE(m->set_hidden_state_sink(&hidden));
  auto batch = [](bool all_logits) {
    ForwardBatch b;
    b.tokens = {5, 6, 7, 8, 9, 10, 11, 12, 13};
    BatchSeq s1, s2, s3;
    s1.num_tokens = 4, s1.block_table = {0};
    s2.num_tokens = 2, s2.block_table = {1};  // last row only
    s3.num_tokens = 3, s3.block_table = {2};
    (all_logits ? s1.all_logits : s1.all_hidden) = true;
    (all_logits ? s3.all_logits : s3.all_hidden) = true;
    b.seqs = {s1, s2, s3};
    return b;
  };
  const ForwardBatch all = batch(true), hid = batch(false);
  EXPECT_EQ(hid.num_logit_rows(), 3);
  EXPECT_EQ(hid.num_hidden_rows(), 8);
  EXPECT_EQ(all.num_hidden_rows(), 8);
  std::vector<float> want_logits, logits;
  m->forward(all, want_logits);
  const std::vector<float> want_hidden = hidden;
  m->forward(hid, logits);  // the same K/V rewritten
  const int H = 32, V = 96;
  ASSERT_EQ(hidden.size(), size_t(8 * H));
  EXPECT_EQ(hidden, want_hidden);
  ASSERT_EQ(logits.size(), size_t(3 * V));
  // The lm_head runs on 3 rows here and on 8 there: OpenBLAS's sgemm may sum in another order for another row
  // count (it does on some CPUs), so the rows are compared to float rounding, far below any two rows' distance.
  for (const auto& [got_row, want_row] : std::vector<std::pair<int, int>>{{0, 3}, {1, 4}, {2, 7}})
    for (int v = 0; v < V; ++v) {
      const float want = want_logits[size_t(want_row * V + v)];
      EXPECT_NEAR(logits[size_t(got_row * V + v)], want, 1e-5f * std::max(1.0f, std::fabs(want))) << got_row << " " << v;
    }
}

namespace {

// Heads whose final linears are the target's lm_head (Medusa's initialization) plus noise: on a
// tiny random model, whose greedy output soon cycles, they propose the target's likely tokens.
std::shared_ptr<const MedusaHeads> tiny_heads(const fs::path& model_dir, int heads) {
  auto m = CpuModel::load(model_dir, LoadFormat::Dummy, kSeed);
  MedusaHeadsSpec s;
  s.hidden = 32, s.vocab = 96, s.heads = heads, s.layers = 1;
  s.lm_head = m->lm_head_linear().weight();
  s.lm_noise = 0.01f;
  const fs::path d = tmp("tiny_heads");
  write_medusa_heads(d, s);
  return MedusaHeads::load(d, m->config());
}

std::unique_ptr<Engine> engine(const fs::path& dir, bool medusa, int blocks, int max_num_tokens,
                               std::vector<std::vector<int>> choices = {}, bool typical = false, double threshold = 0.09,
                               double alpha = 0.3) {
  EngineConfig cfg;
  cfg.spec.typical_acceptance = typical;
  cfg.spec.posterior_threshold = threshold;
  cfg.spec.posterior_alpha = alpha;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = blocks;
  cfg.max_num_tokens = max_num_tokens;
  cfg.max_batch_size = 8;
  cfg.spec.policy.adaptive = false;
  std::unique_ptr<Proposer> p;
  if (medusa) {
    cfg.spec.method = SpecMethod::Medusa;
    cfg.spec.medusa_choices = choices;
    p = std::make_unique<MedusaProposer>(tiny_heads(dir, 3), choices);
  }
  return std::make_unique<Engine>(CpuModel::load(dir, LoadFormat::Dummy, kSeed), cfg, nullptr, std::move(p));
}

std::vector<std::vector<int32_t>> prompts() {
  std::vector<std::vector<int32_t>> ps;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 5 + 3 * i; ++j) p.push_back(int32_t(3 + (i * 31 + j * 17) % 90));
    ps.push_back(p);
  }
  return ps;
}

}  // namespace

TEST(Medusa, EngineGreedyIdenticalBatchOneAndMixedWithPreemption) {
  const fs::path dir = tiny_dir();
  const auto ps = prompts();
  const int max_tokens = 40;
  std::vector<std::vector<int32_t>> ref;
  {
    auto e = engine(dir, false, 256, 512);
    for (auto& p : ps) ref.push_back(collect(*e->submit(greedy_request(p, max_tokens))).tokens);
  }
  for (const auto& choices : std::vector<std::vector<std::vector<int>>>{{}, {{0}, {0, 0}, {1}, {0, 0, 0}, {0, 1}}}) {
    auto e = engine(dir, true, 256, 512, choices);
    for (size_t i = 0; i < ps.size(); ++i) {
      Collected c = collect(*e->submit(greedy_request(ps[i], max_tokens)));
      ASSERT_NE(c.finish, FinishReason::Error) << c.error;
      EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i;
    }
    EngineStats s = wait_idle(*e);
    EXPECT_EQ(s.kv_blocks_used, 0);
    EXPECT_GT(s.spec_sequences, 0);
    EXPECT_GT(s.spec_accepted_tokens, 0) << "heads initialized from lm_head accept on a cycling tiny model";
    EXPECT_LT(s.steps, s.generated_tokens);
  }
  // Mixed: all at once in 12 blocks of 8 (preemption), some opting out, 80-token steps.
  int64_t preemptions = 0;
  for (int attempt = 0; attempt < 4 && preemptions == 0; ++attempt) {
    auto e = engine(dir, true, 12, 80);
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (size_t i = 0; i < ps.size(); ++i) {
      GenerateRequest r = greedy_request(ps[i], max_tokens);
      r.speculative = i % 3 != 1;
      hs.push_back(e->submit(r));
    }
    for (size_t i = 0; i < hs.size(); ++i) {
      Collected c = collect(*hs[i]);
      ASSERT_NE(c.finish, FinishReason::Error) << c.error;
      EXPECT_EQ(c.tokens, ref[i]) << "prompt " << i;
    }
    EngineStats s = wait_idle(*e);
    EXPECT_EQ(s.kv_blocks_used, 0);
    EXPECT_GT(s.spec_sequences, 0);
    preemptions = s.preemptions;
  }
  EXPECT_GT(preemptions, 0);
}

TEST(Medusa, EngineSeededSamplingIdentical) {
  const fs::path dir = tiny_dir();
  const auto ps = prompts();
  auto plain = engine(dir, false, 128, 512);
  auto spec = engine(dir, true, 128, 512);
  for (size_t i = 0; i < ps.size(); ++i) {
    GenerateRequest r = greedy_request(ps[i], 32);
    r.sampling.temperature = 0.7f;
    r.sampling.top_k = 8;
    r.sampling.repetition_penalty = 1.05f;
    r.sampling.seed = 100 + i;
    Collected want = collect(*plain->submit(r)), got = collect(*spec->submit(r));
    ASSERT_NE(got.finish, FinishReason::Error) << got.error;
    EXPECT_EQ(got.tokens, want.tokens) << "prompt " << i;
  }
  EngineStats s = wait_idle(*spec);
  EXPECT_GT(s.spec_sequences, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
}

TEST(Medusa, TypicalAcceptPath) {
  // Root -> 0 -> 2 -> 4, root -> 1 -> 3; node 5 under 1.
  const std::vector<int32_t> par = {-1, -1, 0, 1, 2, 1};
  std::vector<float> prob = {0.5f, 0.4f, 0.3f, 0.6f, 0.01f, 0.7f};
  std::vector<float> ent(7, 0.0f);  // alpha * exp(0) = alpha
  std::vector<int> path;
  typical_accept_path(par, prob, ent, 0.09, 0.3, path);
  // Threshold min(0.09, 0.3) = 0.09: node 4 fails; depth 2 ties between 0->2 (0.15) and 1->3 (0.24), 1->5 (0.28).
  EXPECT_EQ(path, (std::vector<int>{1, 5}));
  prob[4] = 0.1f;
  typical_accept_path(par, prob, ent, 0.09, 0.3, path);
  EXPECT_EQ(path, (std::vector<int>{0, 2, 4})) << "the deepest wins";
  // A high-entropy row lowers its bar: alpha * exp(-H).
  std::vector<float> p2 = {0.05f, 0.02f, 0.3f, 0.6f, 0.1f, 0.7f};
  typical_accept_path(par, p2, ent, 0.09, 0.3, path);
  EXPECT_TRUE(path.empty());
  ent[0] = 3.0f;  // root row: 0.3 * e^-3 = 0.0149
  typical_accept_path(par, p2, ent, 0.09, 0.3, path);
  EXPECT_EQ(path, (std::vector<int>{0, 2, 4})) << "node 0 (0.05) and node 1 (0.02) pass, 0's subtree is deeper";
  typical_accept_path(par, p2, ent, 1.0, 1e9, path);
  EXPECT_TRUE(path.empty()) << "threshold 1: nothing is accepted";
  EXPECT_THROW(typical_accept_path(par, p2, std::vector<float>(6), 0.09, 0.3, path), Error);
}

TEST(Medusa, EngineTypicalAcceptance) {
  const fs::path dir = tiny_dir();
  const auto ps = prompts();
  auto request = [&](size_t i) {
    GenerateRequest r = greedy_request(ps[i], 32);
    r.sampling.temperature = 0.8f;
    r.sampling.top_k = 4;
    r.sampling.seed = 300 + i;
    r.sampling.ignore_eos = true;
    return r;
  };
  auto plain = engine(dir, false, 128, 512);
  auto exact = engine(dir, true, 128, 512);
  auto none = engine(dir, true, 128, 512, {}, true, 1.0, 100.0);  // the bar is never met
  auto lenient = engine(dir, true, 128, 512, {}, true, 0.0, 0.3);  // every token with p > 0 passes
  for (size_t i = 0; i < ps.size(); ++i) {
    const Collected want = collect(*plain->submit(request(i)));
    const Collected e = collect(*exact->submit(request(i)));
    const Collected n = collect(*none->submit(request(i)));
    const Collected l = collect(*lenient->submit(request(i)));
    ASSERT_EQ(e.error, "");
    ASSERT_EQ(n.error, "");
    ASSERT_EQ(l.error, "");
    EXPECT_EQ(e.tokens, want.tokens) << "exact by default";
    EXPECT_EQ(n.tokens, want.tokens) << "nothing accepted: each step's token is the root row's sample";
    EXPECT_EQ(l.tokens.size(), want.tokens.size());
    // Greedy requests stay exact with typical acceptance on.
    EXPECT_EQ(collect(*lenient->submit(greedy_request(ps[i], 32))).tokens,
              collect(*plain->submit(greedy_request(ps[i], 32))).tokens);
  }
  const EngineStats se = wait_idle(*exact), sn = wait_idle(*none), sl = wait_idle(*lenient);
  // (The never-met bar may still accept where max_tokens leaves room for one node only: a one-node
  // tree runs as a chain, verified exactly; the tokens equal the plain run's either way.)
  EXPECT_LT(sn.spec_accepted_tokens, 5);
  EXPECT_GT(sl.spec_accepted_tokens, se.spec_accepted_tokens) << "typical acceptance accepts more";
  EXPECT_EQ(sl.kv_blocks_used, 0);
  EXPECT_EQ(sn.kv_blocks_used, 0);
  std::fprintf(stderr, "tiny model, sampled: exact %lld accepted, lenient typical %lld\n",
               (long long)se.spec_accepted_tokens, (long long)sl.spec_accepted_tokens);
  // Only tree proposers take it; its parameters are validated.
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 32;
  cfg.spec.method = SpecMethod::Ngram;
  cfg.spec.typical_acceptance = true;
  EXPECT_THROW(Engine(CpuModel::load(dir, LoadFormat::Dummy, kSeed), cfg, nullptr), Error);
  EXPECT_THROW(engine(dir, true, 32, 512, {}, true, 1.5, 0.3), Error);
}

namespace {

// The CPU backend without its hidden-state sink: a backend that verifies trees but cannot return
// hidden states (the CUDA backend today).
class NoHidden : public Model {
 public:
  explicit NoHidden(std::unique_ptr<CpuModel> m) : m_(std::move(m)) {}
  const ModelConfig& config() const override { return m_->config(); }
  const char* backend_name() const override { return "no-hidden"; }
  void init_kv_cache(int n, int b) override { m_->init_kv_cache(n, b); }
  int kv_block_size() const override { return m_->kv_block_size(); }
  int kv_num_blocks() const override { return m_->kv_num_blocks(); }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override { m_->forward(b, logits); }
  bool supports_tree() const override { return true; }
  void compact_kv(const std::vector<int32_t>& t, const std::vector<int32_t>& s, const std::vector<int32_t>& d) override {
    m_->compact_kv(t, s, d);
  }

 private:
  std::unique_ptr<CpuModel> m_;
};

}  // namespace

TEST(Medusa, BackendWithoutHiddenStatesRefusesMedusa) {
  const fs::path dir = tiny_dir();
  EngineConfig cfg;
  cfg.kv_block_size = 8;
  cfg.kv_num_blocks = 32;
  cfg.spec.method = SpecMethod::Medusa;
  try {
    Engine e(std::make_unique<NoHidden>(CpuModel::load(dir, LoadFormat::Dummy, kSeed)), cfg, nullptr,
             std::make_unique<MedusaProposer>(tiny_heads(dir, 2)));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden states"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no-hidden"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Engine(CpuModel::load(dir, LoadFormat::Dummy, kSeed), cfg, nullptr), Error)
      << "--speculative medusa without its proposer";
}
