// ignis_attention_bench: the paged attention kernel alone on the Llama-3.1-8B shape (bf16,
// 32 heads / 8 KV heads, head_dim 128, block size 32, random cache), for the three implementations
// (simple, mma, wgmma): one 2048-token prefill from scratch and a batch-256 decode step at a given
// context. Prints "key value" lines: ms per call and TFLOP/s (FLOPs = 4 * sum over query rows of keys
// attended * head_dim), and the largest difference of the mma and wgmma outputs from the simple one;
// first the dense bf16 GEMM rate measured in the same run (cuBLASLt 8192^3), and each prefill rate as a
// percentage of it.
// Then the FP8 KV cache (random e4m3 codes, scales 1/448) beside bf16: the prefill (TFLOP/s, % of the
// GEMM rate) and decode steps of batch 1 at 32k context and batch 256 at 2k (the mma decode kernel): ms,
// GB/s of KV cache read (every key's K and V row once per kv head: ctx * 8 heads * 128 * 2 * element
// size per sequence) and that as a % of the copy bandwidth measured in the same run (a 2 GiB
// device-to-device cudaMemcpy, counted as bytes read + bytes written per second).
//   ignis_attention_bench [--prefill-tokens N] [--decode-batch N] [--decode-ctx N] [--iters N] [--uncounted 1]
//                         [--fp8 0]   (0: skip the FP8 rows)
// (--uncounted 1: the launches do not say how many decode tiles they hold, so a wgmma prefill launch is
// followed by the decode kernel even without decode tiles, as before that count existed)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
#include "cuda/gemm.h"
#include "kernels/attention.h"
#include "kernels/cuda_check.h"
#include "bench_util.h"

using namespace ignis;

namespace {

constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 32;

struct Seq {
  int num_cached, num_tokens;
};

struct Result {
  double ms = 0, tflops = 0, kv_bytes = 0;  // kv_bytes: the cache bytes one call reads (each key once per kv head)
  std::vector<float> out;
};

// Random e4m3 codes (no NaN), a 4M-byte pattern repeated.
void fill_e4m3(cuda::DeviceBuffer& b, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> pat(size_t(1) << 22);
  for (auto& x : pat) {
    do x = uint8_t(rng() & 0xff);
    while ((x & 0x7f) == 0x7f);
  }
  for (size_t off = 0; off < b.bytes(); off += pat.size()) {
    const size_t k = std::min(pat.size(), b.bytes() - off);
    IGNIS_CUDA_CHECK(cudaMemcpy(b.as<uint8_t>() + off, pat.data(), k, cudaMemcpyHostToDevice));
  }
}

bool count_small_tiles = true;  // --uncounted: PagedAttentionArgs::num_small_tiles left at -1 (A/B)

Result run(kernels::AttentionImpl impl, const std::vector<Seq>& seqs, int iters, int num_sms, bool fp8 = false) {
  const int G = kHeads / kKvHeads;
  const DType kv_dtype = fp8 ? DType::F8_E4M3 : DType::BF16;
  const int tq = kernels::attention_tile_tokens(impl, G, kHeadDim, DType::BF16, kv_dtype);
  int W = 1, T = 0, blocks = 0;
  for (auto& s : seqs) {
    W = std::max(W, (s.num_cached + s.num_tokens + kBlock - 1) / kBlock);
    T += s.num_tokens;
  }
  std::vector<int32_t> bt(seqs.size() * W, -1), pos(T);
  std::vector<kernels::AttentionTile> tiles;
  int tok = 0, max_keys = 1;
  double flops = 0, kv_bytes = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const Seq& s = seqs[i];
    kv_bytes += double(s.num_cached + s.num_tokens) * kKvHeads * kHeadDim * 2 * (fp8 ? 1 : 2);
    const int nblk = (s.num_cached + s.num_tokens + kBlock - 1) / kBlock;
    for (int b = 0; b < nblk; ++b) bt[i * W + b] = blocks++;
    for (int t = 0; t < s.num_tokens; ++t) {
      pos[tok + t] = s.num_cached + t;
      flops += 4.0 * kHeads * (s.num_cached + t + 1) * kHeadDim;
    }
    for (int t0 = 0; t0 < s.num_tokens; t0 += tq) {
      tiles.push_back({int32_t(i), tok + t0, std::min(tq, s.num_tokens - t0), 0});
      max_keys = std::max(max_keys, s.num_cached + std::min(s.num_tokens, t0 + tq));
    }
    tok += s.num_tokens;
  }
  const size_t cache_bytes = size_t(blocks) * kBlock * kKvHeads * kHeadDim * (fp8 ? 1 : 2);
  cuda::DeviceBuffer kc(cache_bytes, "bench k cache"), vc(cache_bytes, "bench v cache");
  cuda::DeviceBuffer q(size_t(T) * kHeads * kHeadDim * 2, "bench q"), out(size_t(T) * kHeads * kHeadDim * 2, "bench out");
  if (fp8) {
    fill_e4m3(kc, 1);
    fill_e4m3(vc, 2);
  } else {
    bench::fill_bf16(kc, 1.0f, 1);
    bench::fill_bf16(vc, 1.0f, 2);
  }
  bench::fill_bf16(q, 2.0f, 3);
  cuda::DeviceBuffer dbt(bt.size() * 4, "bench bt"), dpos(pos.size() * 4, "bench pos"),
      dtiles(tiles.size() * sizeof(kernels::AttentionTile), "bench tiles");
  IGNIS_CUDA_CHECK(cudaMemcpy(dbt.get(), bt.data(), bt.size() * 4, cudaMemcpyHostToDevice));
  IGNIS_CUDA_CHECK(cudaMemcpy(dpos.get(), pos.data(), pos.size() * 4, cudaMemcpyHostToDevice));
  IGNIS_CUDA_CHECK(cudaMemcpy(dtiles.get(), tiles.data(), dtiles.bytes(), cudaMemcpyHostToDevice));
  const int splits = kernels::attention_num_splits(int(tiles.size()), kKvHeads, max_keys, num_sms);
  cuda::DeviceBuffer ws(std::max<size_t>(1, kernels::attention_workspace_floats(T, kHeads, kHeadDim, splits)) * 4,
                        "bench workspace");
  kernels::PagedAttentionArgs a;
  a.dtype = DType::BF16;
  a.impl = impl;
  a.kv_dtype = kv_dtype;
  if (fp8) a.k_scale = a.v_scale = 1.0f / 448.0f;  // values in [-1, 1], as the bf16 cache
  a.q = q.get();
  a.q_stride = kHeads * kHeadDim;
  a.k_cache = kc.get();
  a.v_cache = vc.get();
  a.block_tables = dbt.as<int32_t>();
  a.bt_stride = W;
  a.positions = dpos.as<int32_t>();
  a.tiles = dtiles.as<kernels::AttentionTile>();
  a.num_tiles = int(tiles.size());
  a.num_tokens = T;
  a.num_heads = kHeads;
  a.num_kv_heads = kKvHeads;
  a.head_dim = kHeadDim;
  a.block_size = kBlock;
  a.scale = 1.0f / std::sqrt(float(kHeadDim));
  a.num_splits = splits;
  if (count_small_tiles)
    a.num_small_tiles = int(std::count_if(tiles.begin(), tiles.end(),
                                          [&](const kernels::AttentionTile& t) { return kernels::attention_decode_tile(t, G); }));
  a.workspace = ws.as<float>();
  a.out = out.get();
  a.out_stride = kHeads * kHeadDim;
  for (int i = 0; i < 3; ++i) kernels::paged_attention(a, nullptr);
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  Result r;
  r.ms = bench::time_ms(iters, [&] { kernels::paged_attention(a, nullptr); });
  r.tflops = flops / (r.ms * 1e-3) / 1e12;
  r.kv_bytes = kv_bytes;
  std::vector<uint16_t> raw(size_t(T) * kHeads * kHeadDim);
  IGNIS_CUDA_CHECK(cudaMemcpy(raw.data(), out.get(), raw.size() * 2, cudaMemcpyDeviceToHost));
  r.out.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) r.out[i] = bf16_to_f32(raw[i]);
  std::printf("#   %s%s: %zu tiles of <= %d tokens, %d splits\n", kernels::attention_impl_name(impl),
              fp8 ? " (fp8 kv)" : "", tiles.size(), tq, splits);
  return r;
}

double max_abs_diff(const std::vector<float>& x, const std::vector<float>& y) {
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = std::fabs(double(x[i]) - y[i]);
    m = std::isfinite(d) ? std::max(m, d) : INFINITY;
  }
  return m;
}

double compare_gemm_tflops = 0;  // set by main before the comparisons

void compare(const char* name, const std::vector<Seq>& seqs, int iters, int num_sms) {
  Result s = run(kernels::AttentionImpl::Simple, seqs, iters, num_sms);
  Result m = run(kernels::AttentionImpl::Mma, seqs, iters, num_sms);
  Result w = run(kernels::AttentionImpl::Wgmma, seqs, iters, num_sms);
  std::printf("%s_simple_ms %.4f\n%s_simple_tflops %.2f\n", name, s.ms, name, s.tflops);
  std::printf("%s_mma_ms %.4f\n%s_mma_tflops %.2f\n", name, m.ms, name, m.tflops);
  std::printf("%s_wgmma_ms %.4f\n%s_wgmma_tflops %.2f\n", name, w.ms, name, w.tflops);
  std::printf("%s_speedup_mma %.2f\n%s_speedup_wgmma %.2f\n", name, s.ms / m.ms, name, s.ms / w.ms);
  std::printf("%s_max_abs_diff_mma %.5f\n%s_max_abs_diff_wgmma %.5f\n", name, max_abs_diff(s.out, m.out), name,
              max_abs_diff(s.out, w.out));
  if (compare_gemm_tflops > 0)
    std::printf("%s_wgmma_pct_of_gemm %.1f\n%s_mma_pct_of_gemm %.1f\n", name, 100.0 * w.tflops / compare_gemm_tflops,
                name, 100.0 * m.tflops / compare_gemm_tflops);
  std::fflush(stdout);
}

// Device-to-device copy bandwidth now (2 GiB cudaMemcpy), bytes read + written per second, GB/s.
double copy_gbps(int iters) {
  const size_t n = size_t(2) << 30;
  cuda::DeviceBuffer x(n, "copy src"), y(n, "copy dst");
  IGNIS_CUDA_CHECK(cudaMemset(x.get(), 1, n));
  for (int i = 0; i < 2; ++i) IGNIS_CUDA_CHECK(cudaMemcpyAsync(y.get(), x.get(), n, cudaMemcpyDeviceToDevice, nullptr));
  const double ms = bench::time_ms(iters, [&] {
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(y.get(), x.get(), n, cudaMemcpyDeviceToDevice, nullptr));
  });
  return 2.0 * double(n) / (ms * 1e-3) / 1e9;
}

// FP8 KV rows: the prefill (mma, wgmma; the simple kernel over the same codes as the reference of the
// max-diff lines) and the two decode shapes, each beside the bf16 cache.
void compare_fp8(int prefill, int iters, int num_sms, double copy) {
  using kernels::AttentionImpl;
  {
    Result s = run(AttentionImpl::Simple, {{0, prefill}}, iters, num_sms, true);
    Result m = run(AttentionImpl::Mma, {{0, prefill}}, iters, num_sms, true);
    Result w = run(AttentionImpl::Wgmma, {{0, prefill}}, iters, num_sms, true);
    std::printf("prefill_fp8kv_mma_ms %.4f\nprefill_fp8kv_mma_tflops %.2f\n", m.ms, m.tflops);
    std::printf("prefill_fp8kv_wgmma_ms %.4f\nprefill_fp8kv_wgmma_tflops %.2f\n", w.ms, w.tflops);
    std::printf("prefill_fp8kv_max_abs_diff_mma %.5f\nprefill_fp8kv_max_abs_diff_wgmma %.5f\n",
                max_abs_diff(s.out, m.out), max_abs_diff(s.out, w.out));
    if (compare_gemm_tflops > 0)
      std::printf("prefill_fp8kv_wgmma_pct_of_gemm %.1f\nprefill_fp8kv_mma_pct_of_gemm %.1f\n",
                  100.0 * w.tflops / compare_gemm_tflops, 100.0 * m.tflops / compare_gemm_tflops);
  }
  struct Shape {
    const char* name;
    int batch, ctx;
  };
  for (const Shape& sh : {Shape{"decode_b1_ctx32k", 1, 32768}, Shape{"decode_b256_ctx2k", 256, 2048}}) {
    const std::vector<Seq> seqs(size_t(sh.batch), Seq{sh.ctx - 1, 1});
    for (bool fp8 : {false, true}) {
      Result m = run(AttentionImpl::Mma, seqs, iters, num_sms, fp8);
      const double gbps = m.kv_bytes / (m.ms * 1e-3) / 1e9;
      const char* kv = fp8 ? "fp8kv" : "bf16kv";
      std::printf("%s_%s_ms %.4f\n%s_%s_gbps %.1f\n%s_%s_pct_of_copy %.1f\n", sh.name, kv, m.ms, sh.name, kv, gbps,
                  sh.name, kv, 100.0 * gbps / copy);
      if (fp8) {
        Result s = run(AttentionImpl::Simple, seqs, 3, num_sms, true);
        std::printf("%s_fp8kv_max_abs_diff_mma %.5f\n", sh.name, max_abs_diff(s.out, m.out));
      }
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int prefill = 2048, batch = 256, ctx = 256, iters = 20;
  bool fp8 = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--prefill-tokens")) prefill = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--decode-batch")) batch = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--decode-ctx")) ctx = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--iters")) iters = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--uncounted")) count_small_tiles = std::atoi(argv[i + 1]) == 0;
    else if (!std::strcmp(argv[i], "--fp8")) fp8 = std::atoi(argv[i + 1]) != 0;
  }
  try {
    if (cuda::device_count() == 0) {
      std::fprintf(stderr, "error: no CUDA device\n");
      return 1;
    }
    int sms = 0;
    IGNIS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    std::printf("# prefill %d tokens; decode batch %d at context %d (the new token included)\n", prefill, batch, ctx);
    compare_gemm_tflops = bench::gemm_tflops(iters);
    std::printf("gemm_bf16_tflops %.1f\n", compare_gemm_tflops);
    compare("prefill", {{0, prefill}}, iters, sms);
    compare("decode", std::vector<Seq>(size_t(batch), Seq{ctx - 1, 1}), iters, sms);
    if (fp8) {
      const double copy = copy_gbps(iters);
      std::printf("copy_gbps %.1f\n", copy);
      compare_fp8(prefill, iters, sms, copy);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
