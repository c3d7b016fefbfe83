// CpuModel properties that need no Hugging Face reference: agreement with a naive dense
// forward (explicit causal / sliding-window mask, GQA), batching, chunking, decode, paging.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "core/error.h"
#include "model/cpu_model.h"
#include "tiny_checkpoint.h"

namespace ignis {
namespace {

using test::naive_logits;
using test::random_tokens;
using test::rel_err;
using test::tiny_config;
using test::tiny_weights;

constexpr int kBlock = 4;  // small blocks so sequences span many of them

std::vector<int32_t> iota_blocks(int first, int count) {
  std::vector<int32_t> b(count);
  std::iota(b.begin(), b.end(), first);
  return b;
}

// Feeds `toks` of one sequence in chunks of the given sizes (all_logits); returns the logits of
// every position, (toks.size(), vocab).
std::vector<float> run_chunks(CpuModel& m, const std::vector<int32_t>& toks, const std::vector<int>& chunks,
                              const std::vector<int32_t>& table) {
  std::vector<float> all, out;
  int done = 0;
  for (int c : chunks) {
    ForwardBatch b;
    b.tokens.assign(toks.begin() + done, toks.begin() + done + c);
    b.seqs.push_back({done, c, table, true});
    m.forward(b, out);
    EXPECT_EQ(out.size(), size_t(c) * m.config().vocab_size);
    all.insert(all.end(), out.begin(), out.end());
    done += c;
  }
  EXPECT_EQ(done, int(toks.size()));
  return all;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, int vocab, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t r = 0; r * vocab < got.size(); ++r) {
    double e = rel_err(got.data() + r * vocab, want.data() + r * vocab, vocab);
    ASSERT_LE(e, tol) << what << ": row " << r;
  }
}

struct Case {
  Arch arch;
  int kv_heads;
  int window;
  bool tied;
  bool o_bias;
};

class CpuModelVsNaive : public ::testing::TestWithParam<Case> {};

TEST_P(CpuModelVsNaive, OneShotChunkedAndDecodeMatchNaiveDenseForward) {
  const Case cs = GetParam();
  ModelConfig cfg = tiny_config(cs.arch, cs.kv_heads, cs.window);
  cfg.tie_word_embeddings = cs.tied;
  if (cs.o_bias) cfg.attention_bias = cfg.o_proj_bias = true;
  WeightStore ws = tiny_weights(cfg, 7);
  auto toks = random_tokens(23, cfg.vocab_size, 11);
  auto want = naive_logits(cfg, ws, toks);

  CpuModel m(cfg, ws);
  m.init_kv_cache(32, kBlock);
  auto table = iota_blocks(0, 8);
  expect_close(run_chunks(m, toks, {23}, table), want, cfg.vocab_size, 2e-5, "one-shot prefill");
  expect_close(run_chunks(m, toks, {7, 5, 1, 10}, table), want, cfg.vocab_size, 2e-5, "chunked prefill");
  expect_close(run_chunks(m, toks, std::vector<int>(23, 1), table), want, cfg.vocab_size, 2e-5, "token by token");
}

INSTANTIATE_TEST_SUITE_P(Variants, CpuModelVsNaive,
                         ::testing::Values(Case{Arch::Llama, 4, 0, false, false},   // MHA
                                           Case{Arch::Llama, 2, 0, false, false},   // GQA 2:1
                                           Case{Arch::Llama, 1, 0, true, true},     // MQA, tied, o_proj bias
                                           Case{Arch::Mistral, 2, 5, false, false}, // window 5 < 23 tokens
                                           Case{Arch::Mistral, 1, 1, false, false}, // window 1: self only
                                           Case{Arch::Qwen2, 2, 0, true, false}),  // qkv bias, tied
                         [](const ::testing::TestParamInfo<Case>& i) {
                           const Case& c = i.param;
                           return std::string(arch_name(c.arch)) + "_kv" + std::to_string(c.kv_heads) + "_win" +
                                  std::to_string(c.window) + (c.tied ? "_tied" : "") + (c.o_bias ? "_obias" : "");
                         });

TEST(CpuModel, FlatBatchOfSequencesAtDifferentPositionsEqualsRunningThemSeparately) {
  ModelConfig cfg = tiny_config(Arch::Mistral, 2, 6);
  WeightStore ws = tiny_weights(cfg, 3);
  const std::vector<int> lens = {13, 9, 17};
  const std::vector<int> prefix = {5, 0, 11};  // cached before the batched step
  std::vector<std::vector<int32_t>> toks;
  for (int s = 0; s < 3; ++s) toks.push_back(random_tokens(lens[s], cfg.vocab_size, 100 + s));

  // Separately, one model per sequence.
  std::vector<std::vector<float>> sep;
  for (int s = 0; s < 3; ++s) {
    CpuModel m(cfg, ws);
    m.init_kv_cache(8, kBlock);
    sep.push_back(run_chunks(m, toks[s], {lens[s]}, iota_blocks(0, 8)));
  }

  // Together: prefixes first (as one batch), then the rest of all three in one flat batch.
  CpuModel m(cfg, ws);
  m.init_kv_cache(24, kBlock);
  std::vector<std::vector<int32_t>> tables = {iota_blocks(0, 8), iota_blocks(8, 8), iota_blocks(16, 8)};
  std::vector<float> out;
  ForwardBatch pre;
  for (int s = 0; s < 3; ++s) {
    if (prefix[s] == 0) continue;
    pre.tokens.insert(pre.tokens.end(), toks[s].begin(), toks[s].begin() + prefix[s]);
    pre.seqs.push_back({0, prefix[s], tables[s], false});
  }
  m.forward(pre, out);
  ForwardBatch b;
  for (int s = 0; s < 3; ++s) {
    b.tokens.insert(b.tokens.end(), toks[s].begin() + prefix[s], toks[s].end());
    b.seqs.push_back({prefix[s], lens[s] - prefix[s], tables[s], s != 1});  // seq 1: last row only
  }
  m.forward(b, out);
  const int V = cfg.vocab_size;
  ASSERT_EQ(out.size(), size_t(b.num_logit_rows()) * V);
  size_t r = 0;
  for (int s = 0; s < 3; ++s) {
    int first = s == 1 ? lens[s] - 1 : prefix[s];
    for (int p = first; p < lens[s]; ++p, ++r)
      ASSERT_LE(rel_err(out.data() + r * V, sep[s].data() + size_t(p) * V, V), 1e-6) << "seq " << s << " pos " << p;
  }
  EXPECT_EQ(r * V, out.size());
}

TEST(CpuModel, ShuffledNonContiguousBlockTablesGiveTheSameLogits) {
  ModelConfig cfg = tiny_config(Arch::Llama, 2);
  WeightStore ws = tiny_weights(cfg, 5);
  auto toks = random_tokens(21, cfg.vocab_size, 9);
  CpuModel a(cfg, ws), b(cfg, ws);
  a.init_kv_cache(6, kBlock);
  b.init_kv_cache(40, kBlock);
  std::vector<int32_t> shuffled = {37, 2, 19, 30, 8, 11};
  auto la = run_chunks(a, toks, {9, 12}, iota_blocks(0, 6));
  auto lb = run_chunks(b, toks, {9, 12}, shuffled);
  expect_close(lb, la, cfg.vocab_size, 1e-6, "shuffled blocks");
  // The K cache of b really lives in the shuffled blocks: position 4 (block 1) -> physical block 2.
  const int row = cfg.kv_size();
  for (int i = 0; i < row; ++i)
    ASSERT_EQ(b.k_cache(0)[(size_t(2) * kBlock + 0) * row + i], a.k_cache(0)[(size_t(1) * kBlock + 0) * row + i]);
}

TEST(CpuModel, SlidingWindowNeedsNoBlocksOutsideTheWindow) {
  ModelConfig cfg = tiny_config(Arch::Mistral, 2, 5);
  WeightStore ws = tiny_weights(cfg, 8);
  auto toks = random_tokens(30, cfg.vocab_size, 4);
  auto want = naive_logits(cfg, ws, toks);
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  std::vector<int32_t> table = iota_blocks(0, 8);
  std::vector<float> out;
  for (int p = 0; p < 30; ++p) {
    // Release (mark -1) every block wholly before the window of the token at p.
    int lo = std::max(0, p - cfg.sliding_window + 1);
    for (int blk = 0; blk < lo / kBlock; ++blk) table[blk] = -1;
    ForwardBatch b;
    b.tokens = {toks[p]};
    b.seqs.push_back({p, 1, table, false});
    m.forward(b, out);
    ASSERT_LE(rel_err(out.data(), want.data() + size_t(p) * cfg.vocab_size, cfg.vocab_size), 2e-5) << "pos " << p;
  }
}

TEST(CpuModel, SlidingWindowActuallyMasksOldTokens) {
  // Tokens older than the window must not influence the logits: changing them changes nothing.
  ModelConfig cfg = tiny_config(Arch::Mistral, 2, 4);
  cfg.num_layers = 1;  // with more layers information flows further back through earlier positions
  WeightStore ws = tiny_weights(cfg, 12);
  auto a = random_tokens(12, cfg.vocab_size, 1);
  auto b = a;
  b[0] = (b[0] + 1) % cfg.vocab_size;
  b[5] = (b[5] + 7) % cfg.vocab_size;  // pos 11 sees 8..11 only
  CpuModel m(cfg, ws);
  m.init_kv_cache(8, kBlock);
  auto la = run_chunks(m, a, {12}, iota_blocks(0, 3));
  auto lb = run_chunks(m, b, {12}, iota_blocks(0, 3));
  const int V = cfg.vocab_size;
  EXPECT_EQ(std::vector<float>(la.end() - V, la.end()), std::vector<float>(lb.end() - V, lb.end()));
  EXPECT_GT(rel_err(la.data() + 5 * V, lb.data() + 5 * V, V), 1e-3);  // but position 5 did change
}

TEST(CpuModel, Bf16WeightsEqualFp32CopiesOfTheRoundedValues) {
  ModelConfig cfg = tiny_config(Arch::Qwen2, 2);
  WeightStore bf = tiny_weights(cfg, 21, DType::BF16);
  WeightStore fp;  // the same values widened to F32 by the test itself
  std::vector<std::vector<float>> bufs;
  for (auto& [name, t] : bf.all()) {
    std::vector<uint8_t> buf(t.nbytes * 2);
    for (size_t i = 0; i < t.nbytes / 2; ++i) {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(t.data) + 2 * i, 2);
      float f = bf16_to_f32(h);
      std::memcpy(buf.data() + 4 * i, &f, 4);
    }
    TensorRef r = t;
    r.dtype = DType::F32;
    r.data = buf.data();
    r.nbytes = buf.size();
    fp.keep_alive(std::move(buf));
    fp.add(r);
  }
  auto toks = random_tokens(10, cfg.vocab_size, 2);
  CpuModel a(cfg, bf), b(cfg, fp);
  a.init_kv_cache(4, kBlock);
  b.init_kv_cache(4, kBlock);
  EXPECT_EQ(run_chunks(a, toks, {10}, iota_blocks(0, 3)), run_chunks(b, toks, {10}, iota_blocks(0, 3)));
}

TEST(CpuModel, BadInputsThrowErrorsNotCrashes) {
  ModelConfig cfg = tiny_config(Arch::Llama, 2);
  WeightStore ws = tiny_weights(cfg, 1);
  CpuModel m(cfg, ws);
  std::vector<float> out;
  ForwardBatch ok;
  ok.tokens = {1, 2, 3};
  ok.seqs.push_back({0, 3, {0}, false});
  EXPECT_THROW(m.forward(ok, out), Error);  // no KV cache yet
  m.init_kv_cache(4, kBlock);
  m.forward(ok, out);
  EXPECT_EQ(out.size(), size_t(cfg.vocab_size));

  auto expect_error = [&](ForwardBatch b, const char* what) {
    EXPECT_THROW(m.forward(b, out), Error) << what;
  };
  ForwardBatch b = ok;
  b.tokens[1] = cfg.vocab_size;
  expect_error(b, "token id out of range");
  b = ok;
  b.tokens[1] = -1;
  expect_error(b, "negative token id");
  b = ok;
  b.seqs[0].num_cached = 2;  // positions 2..4 need block 1
  expect_error(b, "block table too short");
  b = ok;
  b.seqs[0].block_table = {4};
  expect_error(b, "block id outside the pool");
  b = ok;
  b.seqs[0].block_table = {-1};
  expect_error(b, "released block that is needed");
  b = ok;
  b.tokens.push_back(5);
  expect_error(b, "token count mismatch");
  b = ok;
  b.seqs[0].num_tokens = 0;
  b.tokens.clear();
  expect_error(b, "empty sequence");
  b = ok;
  b.seqs[0].num_cached = -3;
  expect_error(b, "negative num_cached");

  // Missing / misshapen weights name the tensor.
  WeightStore bad;
  for (auto& [name, t] : ws.all())
    if (name != "model.layers.1.mlp.up_proj.weight") bad.add(t);
  try {
    CpuModel x(cfg, bad);
    FAIL() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << e.what();
  }
  ModelConfig wide = cfg;
  wide.intermediate_size += 1;
  try {
    CpuModel x(wide, ws);
    FAIL() << "wrong shape accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gate_proj"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ignis
