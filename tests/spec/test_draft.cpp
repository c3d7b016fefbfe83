// DraftProposer over a tiny CPU Llama (seeded dummy weights): its proposals equal the draft's own
// greedy continuation computed alone, after catch-up, partial and full acceptance (rollback of its
// KV), prefix sharing through the target's block tables (valid blocks reused, by generation),
// and never two writes of one KV slot in a forward; sampled proposals come with q.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "kv/kv_cache_manager.h"
#include "model/cpu_model.h"
#include "sampling/sampler.h"
#include "spec/draft.h"

using namespace ignis;
namespace fs = std::filesystem;

namespace {

constexpr int kB = 4;  // block size

fs::path tiny_dir() {
  fs::path dir = fs::temp_directory_path() / ("ignis_spec_draft_" + std::to_string(::getpid()));
  fs::create_directories(dir);
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

// Counts the tokens of every forward and checks that no KV slot is written twice in one.
class Checked : public Model {
 public:
  explicit Checked(std::unique_ptr<CpuModel> m) : m_(std::move(m)) {}
  const ModelConfig& config() const override { return m_->config(); }
  const char* backend_name() const override { return "cpu"; }
  void init_kv_cache(int n, int b) override { m_->init_kv_cache(n, b); }
  int kv_block_size() const override { return m_->kv_block_size(); }
  int kv_num_blocks() const override { return m_->kv_num_blocks(); }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    std::set<int64_t> slots;
    for (const BatchSeq& s : b.seqs)
      for (int i = 0; i < s.num_tokens; ++i) {
        const int pos = s.num_cached + i;
        const int64_t slot = int64_t(s.block_table[size_t(pos / kB)]) * kB + pos % kB;
        if (!slots.insert(slot).second) ADD_FAILURE() << "KV slot " << slot << " written twice in one forward";
      }
    tokens += int64_t(b.tokens.size());
    ++forwards;
    m_->forward(b, logits);
  }
  int64_t tokens = 0, forwards = 0;

 private:
  std::unique_ptr<CpuModel> m_;
};

// The draft's greedy continuation of `t`, computed alone on a fresh copy of the model.
std::vector<int32_t> reference(const fs::path& dir, std::vector<int32_t> t, int k) {
  auto m = CpuModel::load(dir, LoadFormat::Dummy, 3);
  m->init_kv_cache(128, kB);
  ForwardBatch b;
  BatchSeq s;
  for (int i = 0; i < 128; ++i) s.block_table.push_back(i);
  s.num_tokens = int(t.size());
  b.tokens = t;
  b.seqs = {s};
  std::vector<int32_t> out;
  std::vector<float> logits;
  const int V = m->config().vocab_size;
  for (int i = 0; i < k; ++i) {
    m->forward(b, logits);
    int32_t best = 0;
    for (int v = 1; v < V; ++v)
      if (logits[size_t(v)] > logits[size_t(best)]) best = v;
    out.push_back(best);
    b.seqs[0].num_cached += b.seqs[0].num_tokens;
    b.seqs[0].num_tokens = 1;
    b.tokens = {best};
  }
  return out;
}

std::vector<int32_t> prompt(int n, int salt) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(3 + (i * 13 + salt * 7) % 90);
  return t;
}

struct Fixture {
  fs::path dir = tiny_dir();
  KvCacheManager kv;
  Checked* model = nullptr;
  std::unique_ptr<DraftProposer> dp;
  SamplingParams greedy;
  explicit Fixture(int blocks = 48) : kv(make_kv(blocks)) {
    greedy.temperature = 0;
    auto m = std::make_unique<Checked>(CpuModel::load(dir, LoadFormat::Dummy, 3));
    model = m.get();
    dp = std::make_unique<DraftProposer>(std::move(m));
    dp->init(model->config(), blocks, kB);
  }
  static KvCacheConfig make_kv(int blocks) {
    KvCacheConfig c;
    c.num_blocks = blocks;
    c.block_size = kB;
    return c;
  }
  SpecSeq seq(uint64_t id, const std::vector<int32_t>& t, int num_prompt, int k) {
    EXPECT_TRUE(kv.append_slots(id, int(t.size()) + k));
    SpecSeq s;
    s.id = id;
    s.tokens = t;
    s.num_prompt = num_prompt;
    s.num_computed = int(t.size()) - 1;
    s.block_table = kv.block_table(id);
    s.k = k;
    s.params = &greedy;
    return s;
  }
  // The target accepted `j` of `d` and then produced `next`: tokens, KV rollback, commit.
  void verified(uint64_t id, std::vector<int32_t>& t, const std::vector<int32_t>& d, int j, int32_t next) {
    t.insert(t.end(), d.begin(), d.begin() + j);
    kv.truncate(id, int(t.size()));
    kv.commit(id, t, int(t.size()));
    dp->on_verified(id, int(t.size()), kv);
    t.push_back(next);
  }
};

}  // namespace

TEST(DraftProposer, ProposalsEqualTheDraftAloneThroughRollbackAndCatchUp) {
  Fixture f;
  std::vector<int32_t> t = prompt(10, 0);
  f.kv.allocate(1, t, 0);
  ASSERT_TRUE(f.kv.append_slots(1, 10));
  f.kv.commit(1, t, 10);
  t.push_back(40);  // the first generated token (its KV not yet computed)
  std::vector<Proposal> out;
  for (int round = 0; round < 6; ++round) {
    const int k = 1 + round % 3;
    SpecSeq s = f.seq(1, t, 10, k);
    f.dp->propose(std::span<const SpecSeq>(&s, 1), f.kv, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].tokens, reference(f.dir, t, k)) << "round " << round;
    EXPECT_TRUE(out[0].dists.empty());
    EXPECT_EQ(f.dp->draft_computed(1), int(t.size()) + k - 1);
    // Alternate: some accepted (the rest garbage in the draft's KV), all accepted, none accepted.
    const int j = round % 3 == 0 ? k : round % 3 == 1 ? 1 : 0;
    const int32_t next = int32_t(3 + (out[0].tokens.back() + 5 + round) % 90);
    f.verified(1, t, out[0].tokens, j, next);
    // Its KV stays valid up to the last accepted proposal; after a full acceptance the last
    // proposal was never fed to it (one more token to catch up next time).
    EXPECT_EQ(f.dp->draft_computed(1), int(t.size()) - (j == k ? 2 : 1));
  }
  EXPECT_EQ(f.dp->last_rounds(), 3);
}

TEST(DraftProposer, ReusesValidBlocksThroughThePrefixCacheAndNeverWritesASlotTwice) {
  Fixture f;
  std::vector<int32_t> a = prompt(13, 1);
  f.kv.allocate(1, a, 0);
  ASSERT_TRUE(f.kv.append_slots(1, 13));
  f.kv.commit(1, a, 13);
  a.push_back(50);
  std::vector<Proposal> out;
  SpecSeq s = f.seq(1, a, 13, 2);
  f.dp->propose(std::span<const SpecSeq>(&s, 1), f.kv, out);
  f.verified(1, a, out[0].tokens, 2, 60);  // 16 tokens computed: 4 full blocks, valid in the draft

  // B shares A's first 3 blocks through the prefix cache: the draft starts after them.
  std::vector<int32_t> b(a.begin(), a.begin() + 13);
  ASSERT_EQ(f.kv.allocate(2, b, 0), 12);
  ASSERT_TRUE(f.kv.append_slots(2, 13));
  f.kv.commit(2, b, 13);
  b.push_back(70);
  const int64_t before = f.model->tokens;
  SpecSeq sb = f.seq(2, b, 13, 3);
  f.dp->propose(std::span<const SpecSeq>(&sb, 1), f.kv, out);
  EXPECT_EQ(out[0].tokens, reference(f.dir, b, 3));
  EXPECT_EQ(f.model->tokens - before, 14 - 12 + 2) << "catch-up from the shared valid blocks, then 2 rounds";

  // C and D share a prefix the draft never computed (E's blocks: E was only prefilled by the
  // target): in one call only C writes those blocks; D gets no proposal and catches up next time.
  std::vector<int32_t> e = prompt(9, 2);
  f.kv.allocate(5, e, 0);
  ASSERT_TRUE(f.kv.append_slots(5, 9));
  f.kv.commit(5, e, 9);
  std::vector<int32_t> c = e, d = e;
  ASSERT_EQ(f.kv.allocate(3, c, 0), 8);
  ASSERT_EQ(f.kv.allocate(4, d, 0), 8);
  for (uint64_t id : {3u, 4u}) ASSERT_TRUE(f.kv.append_slots(id, 9));
  c.push_back(11);
  d.push_back(12);
  std::vector<SpecSeq> cd = {f.seq(3, c, 9, 2), f.seq(4, d, 9, 2)};
  f.dp->propose(cd, f.kv, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tokens, reference(f.dir, c, 2));
  EXPECT_TRUE(out[1].tokens.empty());
  f.verified(3, c, out[0].tokens, 0, 13);  // C's first 2 blocks (8 tokens) are now valid
  cd = {f.seq(4, d, 9, 2)};
  const int64_t before_d = f.model->tokens;
  f.dp->propose(cd, f.kv, out);
  EXPECT_EQ(out[0].tokens, reference(f.dir, d, 2));
  EXPECT_EQ(f.model->tokens - before_d, 10 - 8 + 1);
}

TEST(DraftProposer, DoesNotTrustABlockHandedOutAgain) {
  Fixture f(3);  // 3 blocks: later requests evict A's cached ones
  std::vector<int32_t> a = prompt(9, 3);
  f.kv.allocate(1, a, 0);
  ASSERT_TRUE(f.kv.append_slots(1, 9));
  f.kv.commit(1, a, 9);
  a.push_back(21);
  std::vector<Proposal> out;
  SpecSeq s = f.seq(1, a, 9, 2);
  const int32_t a1 = f.kv.block_table(1)[1];
  f.dp->propose(std::span<const SpecSeq>(&s, 1), f.kv, out);
  f.verified(1, a, out[0].tokens, 2, 22);  // A's first two blocks are valid in the draft
  f.dp->on_finished(1);
  f.kv.free(1);  // all three cached; the LRU evicts the tail block first, then block 1, then 0
  std::vector<int32_t> x = {80, 81, 82, 83};
  f.kv.allocate(2, x, 0);
  ASSERT_TRUE(f.kv.append_slots(2, 4));
  // C gets A's blocks 1 and 0, with new content: the draft must not take them as valid.
  std::vector<int32_t> c = prompt(6, 4);
  f.kv.allocate(3, c, 0);
  ASSERT_TRUE(f.kv.append_slots(3, 6));
  ASSERT_EQ(f.kv.block_table(3)[0], a1);
  c.push_back(30);
  const int64_t before = f.model->tokens;
  SpecSeq sc = f.seq(3, c, 6, 1);
  f.dp->propose(std::span<const SpecSeq>(&sc, 1), f.kv, out);
  EXPECT_EQ(out[0].tokens, reference(f.dir, c, 1));
  EXPECT_EQ(f.model->tokens - before, 7) << "every position recomputed";
}

TEST(DraftProposer, SampledProposalsComeWithTheirDistribution) {
  Fixture f;
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 20;
  std::vector<int32_t> t = prompt(6, 5);
  f.kv.allocate(1, t, 0);
  ASSERT_TRUE(f.kv.append_slots(1, 6));
  t.push_back(9);
  SpecSeq s = f.seq(1, t, 6, 3);
  s.params = &p;
  const double u[3] = {0.1, 0.5, 0.9};
  s.u = u;
  std::vector<Proposal> out;
  f.dp->propose(std::span<const SpecSeq>(&s, 1), f.kv, out);
  ASSERT_EQ(out[0].tokens.size(), 3u);
  ASSERT_EQ(out[0].dists.size(), 3u);
  ASSERT_EQ(out[0].probs.size(), 3u);
  const int V = f.model->config().vocab_size;
  for (int i = 0; i < 3; ++i) {
    const float* q = out[0].dists[size_t(i)];
    double sum = 0, cum = 0;
    int nonzero = 0, tok = -1;
    for (int v = 0; v < V; ++v) sum += q[v], nonzero += q[v] > 0;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(nonzero, 20);  // top-k applied to q
    for (int v = 0; v < V && tok < 0; ++v)
      if (q[v] > 0 && u[i] * sum < (cum += q[v])) tok = v;
    EXPECT_EQ(out[0].tokens[size_t(i)], tok) << "proposal " << i << " is the inverse CDF of q at its uniform";
    EXPECT_EQ(out[0].probs[size_t(i)], q[out[0].tokens[size_t(i)]]);
  }
}

TEST(DraftProposer, RejectsADraftThatCannotServeTheTarget) {
  Fixture f;
  ModelConfig other = f.model->config();
  other.vocab_size += 1;
  EXPECT_THROW(f.dp->init(other, 8, kB), Error);
  ModelConfig sw = f.model->config();
  sw.sliding_window = 16;
  EXPECT_THROW(f.dp->init(sw, 8, kB), Error);
  EXPECT_THROW(DraftProposer(nullptr), Error);
}
