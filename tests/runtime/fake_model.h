// A deterministic fake Model for runtime tests that genuinely uses the paged KV cache.
// Each layer stores a per-token value derived from (token, position, previous layer's
// value) into its own block pool at the block-table slot; the logits of a token are a
// hash of ALL values read back through the block table for positions 0..pos (only the
// window for sliding-window configs). A wrong block table, a missing or stale prefix
// block, or a write into a shared block changes the output.
#pragma once
#include <algorithm>
#include <atomic>
#include <functional>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "model/model.h"

namespace ignis::testing {

class FakeModel : public Model {
 public:
  struct Limits {  // budgets asserted on every forward
    int max_batch_size = 1 << 30;
    int max_num_tokens = 1 << 30;
  };

  explicit FakeModel(int vocab = 64, int layers = 2, int max_pos = 4096, int sliding_window = 0) {
    cfg_.architecture = "FakeForCausalLM";
    cfg_.vocab_size = vocab;
    cfg_.hidden_size = 8;
    cfg_.num_layers = layers;
    cfg_.num_heads = 1;
    cfg_.num_kv_heads = 1;
    cfg_.head_dim = 8;
    cfg_.intermediate_size = 8;
    cfg_.max_position_embeddings = max_pos;
    cfg_.sliding_window = sliding_window;
    cfg_.dtype = DType::F32;
  }

  const ModelConfig& config() const override { return cfg_; }
  ModelConfig& mutable_config() { return cfg_; }
  const char* backend_name() const override { return "fake"; }
  int kv_block_size() const override { return block_size_; }
  int kv_num_blocks() const override { return num_blocks_; }

  void init_kv_cache(int num_blocks, int block_size) override {
    num_blocks_ = num_blocks;
    block_size_ = block_size;
    pool_.assign(size_t(cfg_.num_layers), std::vector<uint64_t>(size_t(num_blocks) * block_size, kPoison));
  }

  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    if (on_forward) on_forward(b);
    std::lock_guard lk(mu_);
    if (int(b.seqs.size()) > limits.max_batch_size || int(b.tokens.size()) > limits.max_num_tokens) {
      ++budget_violations;
      throw std::runtime_error("fake model: batch over budget");
    }
    if (fail_on_token >= 0)
      for (int32_t t : b.tokens)
        if (t == fail_on_token) throw std::runtime_error("fake model: injected failure");
    ++steps;
    max_seen_tokens = std::max<int64_t>(max_seen_tokens, int64_t(b.tokens.size()));
    max_seen_seqs = std::max<int64_t>(max_seen_seqs, int64_t(b.seqs.size()));
    const int V = cfg_.vocab_size;
    logits.assign(size_t(b.num_logit_rows()) * V, 0.0f);
    std::set<int64_t> written;  // a slot written twice in one step = shared or aliased block
    size_t tok_off = 0, row = 0;
    for (const BatchSeq& s : b.seqs) {
      for (int i = 0; i < s.num_tokens; ++i) {
        const int pos = s.num_cached + i;
        const int32_t tok = b.tokens[tok_off + size_t(i)];
        if (tok < 0 || tok >= V) throw std::runtime_error("fake model: token out of range");
        const int64_t slot = slot_of(s, pos);
        if (!written.insert(slot).second) throw std::runtime_error("fake model: KV slot written twice in one step");
        uint64_t v = mix(uint64_t(tok) * 0x100000001b3ull + uint64_t(pos));
        for (int l = 0; l < cfg_.num_layers; ++l) {
          v = mix(v + uint64_t(l) * 0x9e3779b97f4a7c15ull);
          pool_[size_t(l)][size_t(slot)] = v;
        }
        ++computed_tokens;
        if (s.all_logits || i == s.num_tokens - 1) {
          write_logits(s, pos, logits.data() + row * size_t(V));
          ++row;
        }
      }
      tok_off += size_t(s.num_tokens);
    }
  }

  // Test knobs and counters.
  Limits limits;
  int32_t fail_on_token = -1;
  std::function<void(const ForwardBatch&)> on_forward;  // called first (e.g. to block the engine)
  std::atomic<int64_t> steps{0}, computed_tokens{0}, budget_violations{0};
  int64_t max_seen_tokens = 0, max_seen_seqs = 0;

 private:
  static constexpr uint64_t kPoison = 0xdeadbeefdeadbeefull;
  static uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
  }
  int64_t slot_of(const BatchSeq& s, int pos) const {
    const int blk = pos / block_size_;
    if (blk >= int(s.block_table.size())) throw std::runtime_error("fake model: block table too short");
    const int32_t id = s.block_table[size_t(blk)];
    if (id < 0 || id >= num_blocks_) throw std::runtime_error("fake model: bad or released block in use");
    return int64_t(id) * block_size_ + pos % block_size_;
  }
  void write_logits(const BatchSeq& s, int pos, float* out) const {
    int first = 0;
    if (cfg_.sliding_window > 0) first = std::max(0, pos - cfg_.sliding_window + 1);
    uint64_t h = 0x12345;
    for (int p = first; p <= pos; ++p) {
      const int64_t slot = slot_of(s, p);
      for (int l = 0; l < cfg_.num_layers; ++l) {
        uint64_t v = pool_[size_t(l)][size_t(slot)];
        if (v == kPoison) throw std::runtime_error("fake model: read of never-written KV");
        h = mix(h ^ v);
      }
    }
    for (int t = 0; t < cfg_.vocab_size; ++t)
      out[t] = float(mix(h ^ uint64_t(t)) >> 40) / float(1 << 24);  // [0, 1), 24-bit exact
  }

  ModelConfig cfg_;
  int num_blocks_ = 0, block_size_ = 0;
  std::vector<std::vector<uint64_t>> pool_;  // per layer: (num_blocks * block_size) values
  std::mutex mu_;
};

}  // namespace ignis::testing
