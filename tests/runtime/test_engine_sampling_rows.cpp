// The engine's sampling contract with the model (Model::forward_sample): one row per sequence,
// the request's own RNG draws u in step order (none for greedy), penalties see the prompt and the
// tokens generated so far, mid-prompt chunks get a discarded row, and a row that cannot be
// sampled fails only its own request. A model that samples by itself (as a device backend does)
// must give the same output as the host reference path.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "engine_test_util.h"
#include "model/cpu_model.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

// CpuModel that samples every row itself with sample_token_u on a copy of the logits (standing in
// for a device sampler), records what the engine passed, and can fail one chosen token id.
class RecordingModel : public Model {
 public:
  explicit RecordingModel(std::unique_ptr<CpuModel> m) : m_(std::move(m)) {}
  const ModelConfig& config() const override { return m_->config(); }
  const char* backend_name() const override { return "cpu+recording"; }
  void init_kv_cache(int n, int b) override { m_->init_kv_cache(n, b); }
  int kv_block_size() const override { return m_->kv_block_size(); }
  int kv_num_blocks() const override { return m_->kv_num_blocks(); }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    host_calls++;
    m_->forward(b, logits);
  }
  void forward_sample(const ForwardBatch& b, const std::vector<RowSampling>& rows, std::vector<RowSample>& out,
                      const BeforeSample& before_sample) override {
    device_calls++;
    std::vector<float> logits;
    m_->forward(b, logits);
    if (before_sample) before_sample();
    ASSERT_EQ(rows.size(), size_t(b.num_logit_rows()));
    const int V = config().vocab_size;
    out.assign(rows.size(), RowSample{});
    std::lock_guard lk(mu);
    for (size_t r = 0; r < rows.size(); ++r) {
      const RowSampling& x = rows[r];
      if (!x.params) {
        discarded_rows++;
        continue;
      }
      Seen& s = seen[x.prompt_ids[x.n_prompt - 1] * 1000 + int(x.n_prompt)];
      s.us.push_back(x.u);
      s.outputs.emplace_back(x.output_ids, x.output_ids + x.n_output);
      if (fail_after >= 0 && int(x.n_output) == fail_after && x.params->max_tokens == 7) {
        out[r].error = "injected";
        continue;
      }
      out[r].result = sample_token_u(logits.data() + r * size_t(V), V, *x.params, x.u, x.prompt_ids, x.n_prompt,
                                     x.output_ids, x.n_output, x.allowed_mask);
    }
  }
  struct Seen {
    std::vector<double> us;
    std::vector<std::vector<int32_t>> outputs;
  };
  std::mutex mu;
  std::map<int, Seen> seen;  // by (last prompt id * 1000 + prompt length)
  int fail_after = -1;
  std::atomic<int> host_calls{0}, device_calls{0}, discarded_rows{0};

 private:
  std::unique_ptr<CpuModel> m_;
};

fs::path tiny_dir() {
  fs::path dir = fs::temp_directory_path() / ("ignis_engine_greedy_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "vocab_size": 80, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
  "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2})";
  return dir;
}

std::vector<TokenLogprob> run(Engine& e, GenerateRequest r, std::vector<int32_t>* out) {
  auto h = e.submit(std::move(r));
  std::vector<TokenLogprob> lps;
  StreamChunk c;
  while (h->next(&c)) {
    out->insert(out->end(), c.tokens.begin(), c.tokens.end());
    lps.insert(lps.end(), c.logprobs.begin(), c.logprobs.end());
    if (c.finish != FinishReason::None) break;
  }
  return lps;
}

}  // namespace

TEST(EngineSamplingRows, OwnSamplerMatchesHostPathAndGetsTheRightInputs) {
  fs::path dir = tiny_dir();
  EngineConfig ec;
  ec.kv_block_size = 8;
  ec.kv_num_blocks = 64;
  ec.max_num_tokens = 8;  // the 11-token prompt is prefilled in two chunks
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13}, {1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 30}, {1, 60}};
  auto make = [&](size_t i) {
    GenerateRequest r = greedy_request(prompts[i], 12);
    r.sampling.ignore_eos = true;
    r.sampling.logprobs = 2;
    if (i == 0) {  // seeded sampling with every filter and penalty
      r.sampling.temperature = 0.9f;
      r.sampling.top_k = 20;
      r.sampling.top_p = 0.9f;
      r.sampling.min_p = 0.02f;
      r.sampling.repetition_penalty = 1.2f;
      r.sampling.frequency_penalty = 0.3f;
      r.sampling.presence_penalty = 0.1f;
      r.sampling.seed = 77;
    } else if (i == 1) {
      r.sampling.temperature = 1.3f;
      r.sampling.seed = 5;
    }
    return r;
  };
  std::vector<std::vector<int32_t>> host_out(prompts.size()), dev_out(prompts.size());
  std::vector<std::vector<TokenLogprob>> host_lp(prompts.size()), dev_lp(prompts.size());
  {
    Engine host(CpuModel::load(dir, LoadFormat::Dummy, 3), ec);
    for (size_t i = 0; i < prompts.size(); ++i) host_lp[i] = run(host, make(i), &host_out[i]);
  }
  auto model = std::make_unique<RecordingModel>(CpuModel::load(dir, LoadFormat::Dummy, 3));
  RecordingModel* m = model.get();
  {
    Engine dev(std::move(model), ec);
    for (size_t i = 0; i < prompts.size(); ++i) dev_lp[i] = run(dev, make(i), &dev_out[i]);
    EXPECT_GT(m->device_calls.load(), 0);
    EXPECT_EQ(m->host_calls.load(), 0) << "the engine must let the model sample";
    EXPECT_GT(m->discarded_rows.load(), 0) << "the chunked prompt's first chunk has a discarded row";
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(dev_out[i], host_out[i]) << "prompt " << i;
      ASSERT_EQ(dev_lp[i].size(), host_lp[i].size());
      for (size_t k = 0; k < dev_lp[i].size(); ++k) {
        EXPECT_NEAR(dev_lp[i][k].logprob, host_lp[i][k].logprob, 1e-5);
        EXPECT_EQ(dev_lp[i][k].top.size(), 2u);
      }
    }
    // u: the request's RequestRng draws, one per token, none for greedy; outputs: the tokens so far.
    for (size_t i = 0; i < prompts.size(); ++i) {
      const auto& s = m->seen.at(prompts[i].back() * 1000 + int(prompts[i].size()));
      ASSERT_EQ(s.us.size(), 12u);
      const auto sp = make(i).sampling;
      RequestRng rng(sp.seed.value_or(0));
      for (size_t k = 0; k < 12; ++k) {
        if (sp.greedy())
          EXPECT_EQ(s.us[k], 0.0);
        else
          EXPECT_EQ(s.us[k], rng.uniform()) << "prompt " << i << " token " << k;
        EXPECT_EQ(s.outputs[k], std::vector<int32_t>(dev_out[i].begin(), dev_out[i].begin() + long(k)));
      }
    }
    // A row that fails sampling ends its own request with an error; a request in the same steps goes on.
    m->fail_after = 3;
    GenerateRequest bad = make(2);
    bad.sampling.max_tokens = 7;
    GenerateRequest good = make(2);
    good.prompt_ids = {1, 61};
    auto hb = dev.submit(bad);
    auto hg = dev.submit(good);
    StreamChunk c;
    std::vector<int32_t> bad_toks, good_toks;
    FinishReason bad_end = FinishReason::None, good_end = FinishReason::None;
    std::string err;
    while (hb->next(&c)) {
      bad_toks.insert(bad_toks.end(), c.tokens.begin(), c.tokens.end());
      if (c.finish != FinishReason::None) {
        bad_end = c.finish;
        err = c.error;
        break;
      }
    }
    while (hg->next(&c)) {
      good_toks.insert(good_toks.end(), c.tokens.begin(), c.tokens.end());
      if (c.finish != FinishReason::None) {
        good_end = c.finish;
        break;
      }
    }
    EXPECT_EQ(bad_end, FinishReason::Error);
    EXPECT_NE(err.find("injected"), std::string::npos) << err;
    EXPECT_EQ(bad_toks.size(), 3u);
    EXPECT_EQ(good_end, FinishReason::Length);
    EXPECT_EQ(good_toks.size(), 12u);
  }
  fs::remove_all(dir);
}
