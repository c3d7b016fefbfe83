// ignis_gpu_bench: device copy bandwidth, batch-1 decode of the Llama-3.1-8B shape (dummy bf16
// weights) as tokens/s and GB/s vs the copy bandwidth, and a batched 128-in/128-out offline run
// driven directly on CudaModel (no scheduler). Prints "key value" lines for scripts/gpu-check.sh.
//   ignis_gpu_bench [--layers N] [--decode-steps N] [--requests N] [--batch N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda/bandwidth.h"
#include "cuda/cuda_model.h"
#include "kernels/cuda_check.h"

using namespace ignis;
using Clk = std::chrono::steady_clock;

static ModelConfig llama31_8b(int layers) {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_layers = layers;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 500000.0f;
  c.rope_scaling.type = RopeScaling::Type::Llama3;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.original_max_position_embeddings = 8192;
  c.dtype = DType::BF16;
  return c;
}

static double secs(Clk::time_point a, Clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int main(int argc, char** argv) {
  int layers = 32, steps = 256, requests = 512, batch = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--layers")) layers = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--decode-steps")) steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--requests")) requests = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
  }
  try {
    const double bw = cuda::measure_copy_bandwidth_gbs();
    std::printf("copy_bandwidth_gbs %.1f\n", bw);
    std::fflush(stdout);
    ModelConfig cfg = llama31_8b(layers);
    auto t0 = Clk::now();
    WeightStore ws = make_dummy_weights(cfg, 0);
    cuda::CudaModelOptions o;
    o.attention = kernels::attention_impl_from_env();  // IGNIS_ATTENTION for A/B runs (compare_8b.py --variant)
    o.gemv = !(std::getenv("IGNIS_GEMV") && std::string(std::getenv("IGNIS_GEMV")) == "0");
    o.max_model_len = 4096;
    o.max_batch_size = batch;
    o.max_num_tokens = 8192;
    cuda::CudaModel m(cfg, ws, o);
    std::printf("load_seconds %.1f\n", secs(t0, Clk::now()));
    const int bs = 32, bps = (std::max(136 + steps, 256) + bs) / bs + 1;  // blocks per sequence
    const int blocks = std::min(m.kv_blocks_for_fraction(0.9, bs), batch * bps);
    IGNIS_CHECK(blocks >= batch * bps, "not enough KV memory: {} blocks for {} x {}", blocks, batch, bps);
    m.init_kv_cache(blocks, bs);
    auto seq = [&](int s, int cached, int n) {
      BatchSeq q;
      q.num_cached = cached;
      q.num_tokens = n;
      for (int b = 0; b < (cached + n + bs - 1) / bs; ++b) q.block_table.push_back(s * bps + b);
      return q;
    };
    // batch-1 decode after a 128-token prompt
    {
      ForwardBatch p;
      p.seqs.push_back(seq(0, 0, 128));
      for (int i = 0; i < 128; ++i) p.tokens.push_back((i * 7919) % cfg.vocab_size);
      std::vector<int32_t> tok;
      m.forward_greedy(p, tok, nullptr);
      int pos = 128;
      auto step = [&] {
        ForwardBatch d;
        d.seqs.push_back(seq(0, pos, 1));
        d.tokens = {tok[0]};
        m.forward_greedy(d, tok, nullptr);
        ++pos;
      };
      for (int i = 0; i < 8; ++i) step();  // warm-up + graph capture
      auto a = Clk::now();
      for (int i = 0; i < steps; ++i) step();
      const double t = secs(a, Clk::now());
      const double tps = steps / t;
      // bytes per step: all weights once + the K/V read (average context)
      const double kv = double(cfg.kv_bytes_per_token(DType::BF16)) * (128 + 8 + steps / 2.0);
      const double gbs = (double(m.weight_bytes()) + kv) * tps / 1e9;
      std::printf("decode_b1_tokens_per_s %.1f\ndecode_b1_gbs %.1f\ndecode_b1_fraction_of_copy_bw %.3f\n", tps, gbs,
                  gbs / bw);
      std::fflush(stdout);
    }
    // offline throughput: requests x (128 prompt, 128 generated), `batch` sequences at a time
    if (requests > 0) {
      m.init_kv_cache(blocks, bs);
      auto a = Clk::now();
      long generated = 0;
      for (int r0 = 0; r0 < requests; r0 += batch) {
        const int n = std::min(batch, requests - r0);
        ForwardBatch p;
        for (int s = 0; s < n; ++s) {
          p.seqs.push_back(seq(s, 0, 128));
          for (int i = 0; i < 128; ++i) p.tokens.push_back((r0 + s * 31 + i * 7) % cfg.vocab_size);
        }
        std::vector<int32_t> tok;
        m.forward_greedy(p, tok, nullptr);
        generated += n;
        for (int k = 1; k < 128; ++k) {
          ForwardBatch d;
          for (int s = 0; s < n; ++s) {
            d.seqs.push_back(seq(s, 128 + k - 1, 1));
            d.tokens.push_back(tok[s]);
          }
          m.forward_greedy(d, tok, nullptr);
          generated += n;
        }
      }
      const double t = secs(a, Clk::now());
      std::printf("offline_128_128_requests %d\noffline_output_tokens_per_s %.0f\n", requests, generated / t);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
