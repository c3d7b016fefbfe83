// The engine's device-greedy path: when every row of a step is plain greedy (no penalties, no
// top-n logprobs) and the backend samples on the device, the engine calls forward_greedy()
// instead of copying logits to the host; outputs and logprobs must equal the host sampler's.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine_test_util.h"
#include "model/cpu_model.h"

using namespace ignis;
using namespace ignis::testing;
namespace fs = std::filesystem;

namespace {

// CpuModel plus a "device" greedy path computed independently (argmax, lowest id on ties;
// raw log-softmax), counting which path the engine took.
class GreedyCountingModel : public Model {
 public:
  explicit GreedyCountingModel(std::unique_ptr<CpuModel> m) : m_(std::move(m)) {}
  const ModelConfig& config() const override { return m_->config(); }
  const char* backend_name() const override { return "cpu+greedy"; }
  void init_kv_cache(int n, int b) override { m_->init_kv_cache(n, b); }
  int kv_block_size() const override { return m_->kv_block_size(); }
  int kv_num_blocks() const override { return m_->kv_num_blocks(); }
  void forward(const ForwardBatch& b, std::vector<float>& logits) override {
    host_calls++;
    m_->forward(b, logits);
  }
  bool supports_device_greedy() const override { return true; }
  void forward_greedy(const ForwardBatch& b, std::vector<int32_t>& toks, std::vector<float>& lps) override {
    device_calls++;
    std::vector<float> logits;
    m_->forward(b, logits);
    const int V = config().vocab_size, rows = b.num_logit_rows();
    toks.assign(size_t(rows), 0);
    lps.assign(size_t(rows), 0.f);
    for (int r = 0; r < rows; ++r) {
      const float* x = logits.data() + size_t(r) * size_t(V);
      int best = 0;
      double mx = x[0], sum = 0;
      for (int v = 1; v < V; ++v)
        if (x[v] > x[best]) best = v;
      mx = x[best];
      for (int v = 0; v < V; ++v) sum += std::exp(double(x[v]) - mx);
      toks[size_t(r)] = best;
      lps[size_t(r)] = float(-std::log(sum));
    }
  }
  std::atomic<int> host_calls{0}, device_calls{0};

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

TEST(EngineDeviceGreedy, GreedyStepsUseDevicePathAndMatchHostSampler) {
  fs::path dir = tiny_dir();
  EngineConfig ec;
  ec.kv_block_size = 8;
  ec.kv_num_blocks = 64;
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13}, {1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 30}, {1, 60}};
  std::vector<std::vector<int32_t>> host_out(prompts.size()), dev_out(prompts.size());
  std::vector<std::vector<TokenLogprob>> host_lp(prompts.size()), dev_lp(prompts.size());
  {
    Engine host(CpuModel::load(dir, LoadFormat::Dummy, 3), ec);
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto r = greedy_request(prompts[i], 12);
      r.sampling.ignore_eos = true;
      r.sampling.logprobs = 0;
      host_lp[i] = run(host, r, &host_out[i]);
    }
  }
  auto model = std::make_unique<GreedyCountingModel>(CpuModel::load(dir, LoadFormat::Dummy, 3));
  GreedyCountingModel* m = model.get();
  {
    Engine dev(std::move(model), ec);
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto r = greedy_request(prompts[i], 12);
      r.sampling.ignore_eos = true;
      r.sampling.logprobs = 0;
      dev_lp[i] = run(dev, r, &dev_out[i]);
    }
    EXPECT_GT(m->device_calls.load(), 0);
    EXPECT_EQ(m->host_calls.load(), 0) << "plain greedy rows must not copy logits to the host";
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(dev_out[i], host_out[i]) << "prompt " << i;
      ASSERT_EQ(dev_lp[i].size(), host_lp[i].size());
      for (size_t k = 0; k < dev_lp[i].size(); ++k) EXPECT_NEAR(dev_lp[i][k].logprob, host_lp[i][k].logprob, 1e-4);
    }
    // A row that needs the host sampler (penalty, top-n logprobs or temperature) takes the host path.
    int before = m->host_calls.load();
    auto r = greedy_request(prompts[0], 4);
    r.sampling.repetition_penalty = 1.3f;
    std::vector<int32_t> out;
    run(dev, r, &out);
    EXPECT_GT(m->host_calls.load(), before);
    before = m->host_calls.load();
    r = greedy_request(prompts[1], 4);
    r.sampling.logprobs = 3;
    out.clear();
    auto lps = run(dev, r, &out);
    EXPECT_GT(m->host_calls.load(), before);
    ASSERT_FALSE(lps.empty());
    EXPECT_EQ(lps[0].top.size(), 3u);
  }
  fs::remove_all(dir);
}
